/* brokerctl quorum add-controller ID HOST:PORT | remove-controller ID:
 * one change of the metadata quorum's voters at a time (issue 12).
 *
 * HOST:PORT is the new controller's raft address, the one its own
 * controller.quorum.voters names for it; it must have been formatted with
 * --no-initial-controllers and be running. The request goes to any node,
 * which forwards it to the active controller; the answer comes once the
 * change is made (for an addition: once the new voter has caught up). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "protocol/gen/add_raft_voter.h"
#include "protocol/gen/api.h"
#include "protocol/gen/remove_raft_voter.h"

static int parse_id(const char *s, int32_t *id)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > INT32_MAX) {
        return bk_cli_fail("'%s' is not a node id", s);
    }
    *id = (int32_t)v;
    return 0;
}

static int add_controller(struct bk_client *c, int32_t id, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == addr || end == NULL || *end != '\0' ||
        port <= 0 || port > 65535) {
        return bk_cli_fail("'%s' is not HOST:PORT (the raft address)", addr);
    }
    struct bk_msg_add_raft_voter_request_listener l = {
        .name = bk_str_c("RAFT"),
        .host = { addr, (int32_t)(colon - addr) },
        .port = (uint16_t)port,
    };
    struct bk_msg_add_raft_voter_request req;
    bk_msg_add_raft_voter_request_init(&req);
    req.timeout_ms = 30000;
    req.voter_id = id;
    req.listeners = &l;
    req.listeners_count = 1;
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_msg_add_raft_voter_response resp;
    int rv = bk_client_call(c, BK_API_ADD_RAFT_VOTER, 0, &req, &resp, &arena);
    if (rv != 0) {
        rv = bk_cli_fail("%s", c->errmsg);
    } else if (resp.error_code != 0) {
        rv = bk_cli_kerr(NULL, resp.error_code, resp.error_message);
    } else {
        printf("Node %d (%s) is a voter of the metadata quorum.\n", id, addr);
    }
    bk_arena_destroy(&arena);
    return rv;
}

static int remove_controller(struct bk_client *c, int32_t id)
{
    struct bk_msg_remove_raft_voter_request req;
    bk_msg_remove_raft_voter_request_init(&req);
    req.voter_id = id;
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_msg_remove_raft_voter_response resp;
    int rv =
        bk_client_call(c, BK_API_REMOVE_RAFT_VOTER, 0, &req, &resp, &arena);
    if (rv != 0) {
        rv = bk_cli_fail("%s", c->errmsg);
    } else if (resp.error_code != 0) {
        rv = bk_cli_kerr(NULL, resp.error_code, resp.error_message);
    } else {
        printf("Node %d left the metadata quorum.\n", id);
    }
    bk_arena_destroy(&arena);
    return rv;
}

int bk_cmd_quorum(const struct bk_cli *cli, int argc, char **argv)
{
    bool add = argc == 3 && strcmp(argv[0], "add-controller") == 0;
    bool remove = argc == 2 && strcmp(argv[0], "remove-controller") == 0;
    if (!add && !remove) {
        bk_cli_fail(
            "usage: brokerctl quorum add-controller ID HOST:PORT | "
            "remove-controller ID");
        return 2;
    }
    int32_t id = -1;
    if (parse_id(argv[1], &id) != 0) {
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    int rv = add ? add_controller(&c, id, argv[2]) : remove_controller(&c, id);
    bk_client_close(&c);
    return rv;
}
