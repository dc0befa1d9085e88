/* The web console: GET / and /console/<asset>, answered from the assets
 * compiled into the binary (console/, embed.cmake). Only the names in the
 * table are served, so no path reaches the file system (a ".." or any
 * other path is simply not found). The console itself is static: its
 * script reads /v1 and /metrics from the same origin. */
#include <microhttpd.h>
#include <string.h>

#include "common/heap.h"
#include "http/http_int.h"

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strcmp(dot, ".js") == 0) {
        return "text/javascript; charset=utf-8";
    }
    if (dot != NULL && strcmp(dot, ".css") == 0) {
        return "text/css; charset=utf-8";
    }
    return "text/html; charset=utf-8";
}

bool bk_http_console(const char *url, struct bk_http_page *page)
{
    const char *want = strcmp(url, "/") == 0 || strcmp(url, "/console") == 0 ||
                               strcmp(url, "/console/") == 0
                           ? "/console/index.html"
                           : url;
    for (size_t i = 0; i < bk_http_n_assets; i++) {
        const struct bk_http_asset *a = &bk_http_assets[i];
        if (strcmp(want, a->path) != 0) {
            continue;
        }
        page->status = MHD_HTTP_OK;
        page->type = type_of(a->path);
        page->body = bk_malloc(a->len + 1);
        page->len = page->body != NULL ? a->len : 0;
        if (page->body != NULL) {
            memcpy(page->body, a->data, a->len);
        }
        return true;
    }
    return false;
}
