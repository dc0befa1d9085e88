#include "protocol/kerr.h"

#include <stddef.h>

struct kerr_row {
    int16_t code;
    bool retriable;
    const char *name;
    const char *message;
};

static const struct kerr_row rows[] = {
#define BK_KERR_ROW(name, code, retriable, msg) { code, retriable, #name, msg },
    BK_KERR_MAP(BK_KERR_ROW)
#undef BK_KERR_ROW
};

static const struct kerr_row *find(int16_t code)
{
    /* The table is sorted by code and dense from -1, so this is a direct
     * index in practice; the loop keeps it correct if gaps appear. */
    size_t i = (size_t)(int32_t)code + 1;
    if (code >= -1 && i < sizeof(rows) / sizeof(rows[0]) &&
        rows[i].code == code) {
        return &rows[i];
    }
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].code == code) {
            return &rows[i];
        }
    }
    return NULL;
}

const char *bk_kerr_name(int16_t code)
{
    const struct kerr_row *r = find(code);
    return r == NULL ? "UNKNOWN" : r->name;
}

bool bk_kerr_retriable(int16_t code)
{
    const struct kerr_row *r = find(code);
    return r != NULL && r->retriable;
}

const char *bk_kerr_message(int16_t code)
{
    const struct kerr_row *r = find(code);
    return r == NULL ? "Unknown error code." : r->message;
}
