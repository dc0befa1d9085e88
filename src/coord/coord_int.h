/* Internals shared by the files of src/coord/ (not for other folders). */
#ifndef BK_COORD_COORD_INT_H
#define BK_COORD_COORD_INT_H

#include "coord/coord.h"

/* An append to `partition` failed: the change that made it may already be
 * in memory (users apply changes before they are written). */
void bk_coord_mark_stale(struct bk_coord *c, int32_t partition);

/* Drops every stale partition from memory (ops->unload), so that its next
 * use reads it back from the log. */
void bk_coord_unload_stale(struct bk_coord *c);

/* Whether `partition` went stale since the last settle. */
bool bk_coord_is_stale(const struct bk_coord *c, int32_t partition);

#endif /* BK_COORD_COORD_INT_H */
