#include "api/ctl_channel.h"

#include <stdio.h>
#include <string.h>

#include "cluster/controller.h"
#include "common/err.h"

void bk_ctl_channel_init(struct bk_ctl_channel *ch,
                         uv_loop_t *loop,
                         struct bk_md *md)
{
    memset(ch, 0, sizeof(*ch));
    ch->loop = loop;
    ch->md = md;
    ch->target = -1;
}

int bk_ctl_channel_resolve(struct bk_ctl_channel *ch,
                           int32_t *id,
                           char *host,
                           size_t hostlen,
                           int32_t *port)
{
    int32_t leader = bk_md_leader(ch->md);
    if (leader < 0) {
        return BK_ENOTLEADER;
    }
    struct bk_md_image *img = bk_md_image_acquire(ch->md);
    const struct bk_md_controller *c = bk_md_image_controller(img, leader);
    int rv = BK_ENOTLEADER;
    if (c != NULL) {
        *id = leader;
        snprintf(host, hostlen, "%s", c->host);
        *port = c->port;
        rv = 0;
    }
    bk_md_image_release(img);
    return rv;
}

int bk_ctl_channel_send(struct bk_ctl_channel *ch,
                        const uint8_t *frame,
                        size_t len,
                        bk_kclient_cb cb,
                        void *data)
{
    int32_t id = -1, port = 0;
    char host[sizeof(ch->host)];
    int rv = bk_ctl_channel_resolve(ch, &id, host, sizeof(host), &port);
    if (rv != 0) {
        return rv;
    }
    if (ch->kc != NULL &&
        (id != ch->target || port != ch->port || strcmp(host, ch->host) != 0)) {
        bk_ctl_channel_reset(ch);
    }
    if (ch->kc == NULL) {
        struct bk_kclient_opts o = { .connect_timeout_ms = 2000,
                                     .request_timeout_ms = 10000 };
        rv = bk_kclient_new(ch->loop, host, port, &o, &ch->kc);
        if (rv != 0) {
            return rv;
        }
        ch->target = id;
        ch->port = port;
        snprintf(ch->host, sizeof(ch->host), "%s", host);
    }
    return bk_kclient_send(ch->kc, frame, len, cb, data);
}

void bk_ctl_channel_reset(struct bk_ctl_channel *ch)
{
    if (ch->kc != NULL) {
        struct bk_kclient *kc = ch->kc;
        ch->kc = NULL;
        ch->target = -1;
        bk_kclient_close(kc);
    }
}

void bk_ctl_channel_close(struct bk_ctl_channel *ch)
{
    bk_ctl_channel_reset(ch);
}
