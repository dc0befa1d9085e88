/* Authorization at each API's entry (security-notes.md §7): the call's
 * principal and host checked against the ACLs of the metadata image by the
 * configured authorizer (authz/authz.h). Without an authorizer every check
 * passes. Internal to src/api. */
#ifndef BK_API_ACCESS_H
#define BK_API_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/call.h"
#include "authz/authz.h"

/* Whether an authorizer is configured (authorizer.class.name). */
bool bk_api_authz_on(const struct bk_call *call);

/* Whether the call's principal may do op on the resource (res_type, name).
 * img (borrowed) is the image the handler works on; NULL takes the
 * current one. */
bool bk_api_may(const struct bk_call *call,
                const struct bk_md_image *img,
                int op,
                int res_type,
                struct bk_str name);

/* The same for the CLUSTER resource. */
bool bk_api_may_cluster(const struct bk_call *call,
                        const struct bk_md_image *img,
                        int op);

/* Whether the principal may do op on some resource of res_type (KIP-679's
 * "WRITE on any topic"). */
bool bk_api_may_any(const struct bk_call *call,
                    const struct bk_md_image *img,
                    int op,
                    int res_type);

/* KIP-430: the authorized-operation bit set of a resource for the call's
 * principal; without an authorizer, everything the type supports. */
int32_t bk_api_authz_ops(const struct bk_call *call,
                         const struct bk_md_image *img,
                         int res_type,
                         struct bk_str name);

/* Whether a request this node would forward to the active controller is
 * authorized in full here, where the client's principal is known (the
 * controller sees only the forwarding broker's). When it is not, the
 * request is handled on this node instead: its handler answers the
 * authorization errors, and what is left is retried by the client. */
bool bk_api_forward_authorized(const struct bk_call *call);

#endif /* BK_API_ACCESS_H */
