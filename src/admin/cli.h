/* brokerctl: shared command-line plumbing. Each command family lives in
 * its own cmd_<family>.c (cluster, and later topic, config, group, ...). */
#ifndef BK_ADMIN_CLI_H
#define BK_ADMIN_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "admin/client.h"

struct bk_cli {
    const char *bootstrap; /* -b host:port */
    bool json;             /* --json */
    int timeout_ms;        /* --timeout-ms */
};

/* Prints "brokerctl: <msg>" on one line to stderr. Returns 1 (the exit
 * code of a failed command). */
int bk_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connects to the bootstrap server; prints the failure and returns non-zero
 * on error. */
int bk_cli_connect(const struct bk_cli *cli, struct bk_client *c);

/* Writes s as a JSON string (quotes included). len < 0 writes null. */
void bk_json_str(FILE *out, const char *s, int len);

/* brokerctl cluster info */
int bk_cmd_cluster(const struct bk_cli *cli, int argc, char **argv);

#endif /* BK_ADMIN_CLI_H */
