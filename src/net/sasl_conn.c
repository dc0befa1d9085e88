/* What the net layer keeps of a connection's SASL authentication: whether
 * it is still due (which bounds frames before it, as Kafka's
 * SaslServerAuthenticator does with sasl.server.max.receive.size), the
 * principal once authenticated, and the upper layer's own state. The
 * SaslHandshake/SaslAuthenticate state machine is src/api/sasl.c. */
#include <string.h>

#include "common/heap.h"
#include "net/net_int.h"

void bk_conn_auth_init(struct bk_conn_auth *a, const struct bk_conn_origin *o)
{
    memset(a, 0, sizeof(*a));
    a->required = o->sasl;
    a->max_receive = o->sasl_max_receive;
    a->config = o->sasl_config;
}

void bk_conn_auth_free(struct bk_conn_auth *a)
{
    if (a->state_free != NULL) {
        a->state_free(a->state);
    }
    bk_free(a->principal);
    memset(a, 0, sizeof(*a));
}

size_t bk_conn_auth_max_frame(const struct bk_conn_auth *a, size_t normal)
{
    if (a->required && a->principal == NULL && a->max_receive < normal) {
        return a->max_receive;
    }
    return normal;
}

const void *bk_conn_sasl_config(const struct bk_conn *c)
{
    const struct bk_conn_auth *a = bk_conn_auth_of_const(c);
    return a->required ? a->config : NULL;
}

bool bk_conn_auth_pending(const struct bk_conn *c)
{
    const struct bk_conn_auth *a = bk_conn_auth_of_const(c);
    return a->required && a->principal == NULL;
}

int bk_conn_set_principal(struct bk_conn *c, const char *principal)
{
    struct bk_conn_auth *a = bk_conn_auth_of(c);
    if (a->principal != NULL && strcmp(a->principal, principal) == 0) {
        return 0; /* re-authenticated: handlers may hold the old text */
    }
    char *copy = bk_strdup(principal);
    if (copy == NULL) {
        return BK_ENOMEM;
    }
    bk_free(a->principal);
    a->principal = copy;
    return 0;
}

void bk_conn_close_after_answers(struct bk_conn *c)
{
    bk_conn_auth_of(c)->close_after_write = true;
}

void *bk_conn_auth_state(const struct bk_conn *c)
{
    return bk_conn_auth_of_const(c)->state;
}

void bk_conn_set_auth_state(struct bk_conn *c,
                            void *state,
                            void (*free_fn)(void *state))
{
    struct bk_conn_auth *a = bk_conn_auth_of(c);
    if (a->state_free != NULL && a->state != state) {
        a->state_free(a->state);
    }
    a->state = state;
    a->state_free = free_fn;
}
