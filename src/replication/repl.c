/* The replication layer's life on one shard (replication.h). */
#include <string.h>

#include "partition/replica.h"
#include "replication/repl_int.h"

bool bk_repl_hosts(const struct bk_md_partition *mp, int32_t node)
{
    for (int32_t i = 0; i < mp->n_replicas; i++) {
        if (mp->replicas[i] == node) {
            return true;
        }
    }
    return false;
}

void bk_repl_init(struct bk_repl *r,
                  uv_loop_t *loop,
                  struct bk_rmgr *rmgr,
                  const struct bk_repl_config *cfg,
                  bk_repl_ctl_send_fn ctl_send,
                  void *ctl)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->rmgr = rmgr;
    r->cfg = *cfg;
    r->ctl_send = ctl_send;
    r->ctl = ctl;
    rmgr->parts.on_isr_change = bk_repl_isr_changed;
    rmgr->parts.on_isr_change_data = r;
}

void bk_repl_apply(struct bk_repl *r, struct bk_md_image *img)
{
    if (r->closing) {
        return;
    }
    bk_md_image_ref(img);
    bk_md_image_release(r->img);
    r->img = img;
    bk_repl_fetchers_apply(r, img);
}

void bk_repl_close(struct bk_repl *r)
{
    r->closing = true;
    /* Follower syncs still queued call back into their fetchers: let them
     * finish first, so that the fetchers can go at once. */
    bk_part_table_barrier(&r->rmgr->parts);
    bk_repl_fetchers_close(r);
    r->rmgr->parts.on_isr_change = NULL;
    bk_md_image_release(r->img);
    r->img = NULL;
}
