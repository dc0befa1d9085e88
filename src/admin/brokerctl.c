/* brokerctl: manage a brokerd (or any Kafka) cluster over the Kafka
 * protocol. Human-readable tables by default, --json for scripts; exit 0 on
 * success, 1 when the broker refuses or cannot be reached, 2 on bad usage. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: brokerctl [-b HOST:PORT] [--json] [--timeout-ms N] "
        "COMMAND\n"
        "\n"
        "Commands:\n"
        "  cluster info     brokers, controller, cluster id and the API\n"
        "                   versions the broker advertises\n"
        "  topic create NAME [--partitions N] [--replication-factor N]\n"
        "                   [--config K=V]...\n"
        "  topic list       topics with partition counts and topic ids\n"
        "  topic describe [NAME...]\n"
        "                   partitions, leaders, replicas, ISR, set configs\n"
        "  topic delete NAME...\n"
        "  topic alter NAME [--partitions N] [--config K=V]...\n"
        "                   [--delete-config K]...\n"
        "  config get --topic T | --broker ID | --broker-defaults [KEY...]\n"
        "  config set --topic T | --broker ID | --broker-defaults K=V...\n"
        "  config delete --topic T | --broker ID | --broker-defaults KEY...\n"
        "  produce TOPIC    send standard input, one record per line\n"
        "                   [-p PARTITION] [-K KEYSEP] [-H KEY=VALUE]\n"
        "                   [--acks all|1|0] [-z none|gzip|snappy|lz4|zstd]\n"
        "  consume TOPIC    print records [-p PARTITION]\n"
        "                   [-o beginning|end|OFFSET] [--from-time T]\n"
        "                   [-c COUNT] [-f FORMAT] [--follow]\n"
        "                   FORMAT: %%t %%p %%o %%T %%k %%v %%h %%S \\n \\t\n"
        "  group list       consumer groups [--state S]\n"
        "  group describe GROUP\n"
        "                   members, assignments, committed offset, log "
        "end and lag\n"
        "  group reset-offsets GROUP --topic T[:P,...] --to-earliest |\n"
        "                   --to-latest | --to-offset N | --to-datetime "
        "T |\n"
        "                   --shift-by N [--dry-run]\n"
        "  group delete GROUP...\n"
        "  acl add (--allow-principal P | --deny-principal P)...\n"
        "                   [--allow-host H] [--deny-host H]\n"
        "                   (--operation OP... | --producer [--idempotent]\n"
        "                   | --consumer) RESOURCE...\n"
        "                   [--resource-pattern-type T]\n"
        "                   RESOURCE: --topic T | --group G | --cluster |\n"
        "                   --transactional-id ID (as kafka-acls.sh)\n"
        "  acl list [RESOURCE...] [--principal P]\n"
        "                   [--resource-pattern-type any|match|literal|\n"
        "                   prefixed]\n"
        "  acl remove RESOURCE... [--allow-principal P]...\n"
        "                   [--operation OP]...\n"
        "  txn list         transactional ids and their state, from every\n"
        "                   broker [--state S]\n"
        "  txn describe ID  a transaction's state, producer and partitions\n"
        "  txn abort --topic T --partition P --start-offset O\n"
        "                   end the hanging transaction that starts at O\n"
        "                   (ABORT marker, as kafka-transactions.sh abort)\n"
        "  partition elect-leaders [--type preferred|unclean]\n"
        "                   [--topic T [--partition P]]\n"
        "                   move leadership to each partition's preferred\n"
        "                   replica, or (unclean) to a live replica of a\n"
        "                   leaderless partition; one line per partition\n"
        "  partition reassign --topic T --partition P\n"
        "                   (--replicas ID,ID,... | --cancel)\n"
        "                   move a partition to other brokers (or cancel\n"
        "                   the move in progress), as\n"
        "                   kafka-reassign-partitions.sh --execute\n"
        "  partition reassignments\n"
        "                   reassignments in progress: replicas, adding,\n"
        "                   removing\n"
        "  quorum add-controller ID HOST:PORT\n"
        "                   make a running controller (formatted with\n"
        "                   --no-initial-controllers) a voter; HOST:PORT is\n"
        "                   its raft address\n"
        "  quorum remove-controller ID\n"
        "                   take a voter out of the metadata quorum\n"
        "  quota set ENTITY KEY=VALUE...\n"
        "  quota remove ENTITY KEY...\n"
        "  quota list [ENTITY]\n"
        "                   client quotas (producer_byte_rate,\n"
        "                   consumer_byte_rate, request_percentage, ...);\n"
        "                   ENTITY: --user U | --user-default and/or\n"
        "                   --client-id C | --client-default, or --ip A |\n"
        "                   --ip-default\n"
        "  user create NAME [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]\n"
        "                   [--iterations N] [--password P]\n"
        "                   a SCRAM credential (the password from standard\n"
        "                   input without --password)\n"
        "  user delete NAME [--mechanism M]\n"
        "  user list        users with SCRAM credentials\n"
        "\n"
        "Options:\n"
        "  -b, --bootstrap-server HOST:PORT   broker to ask "
        "(default 127.0.0.1:9092)\n"
        "  --json                             print JSON instead of "
        "tables\n"
        "  --timeout-ms N                     give up after N ms "
        "(default 10000)\n"
        "  -h, --help                         this text\n"
        "  --version                          print the version\n");
}

int bk_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("brokerctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int bk_cli_connect(const struct bk_cli *cli, struct bk_client *c)
{
    int rv = bk_client_connect(c, cli->bootstrap, cli->timeout_ms);
    if (rv != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    bk_cli_json_init();
    struct bk_cli cli = {
        .bootstrap = "127.0.0.1:9092",
        .json = false,
        .timeout_ms = 10000,
    };
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("brokerctl %s\n", BK_VERSION);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            cli.json = true;
        } else if ((strcmp(a, "-b") == 0 ||
                    strcmp(a, "--bootstrap-server") == 0) &&
                   i + 1 < argc) {
            cli.bootstrap = argv[++i];
        } else if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v <= 0 || v > 3600000) {
                bk_cli_fail(
                    "--timeout-ms: '%s' is not a number of ms in "
                    "1..3600000",
                    argv[i]);
                return 2;
            }
            cli.timeout_ms = (int)v;
        } else {
            bk_cli_fail("unknown option '%s' (see brokerctl --help)", a);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    /* Options may also follow the command ("brokerctl cluster info
     * --json"); pick up the global ones there too. */
    int n = 0;
    char *rest[64];
    for (int j = i; j < argc; j++) {
        if (strcmp(argv[j], "--json") == 0) {
            cli.json = true;
        } else if ((strcmp(argv[j], "-b") == 0 ||
                    strcmp(argv[j], "--bootstrap-server") == 0) &&
                   j + 1 < argc) {
            cli.bootstrap = argv[++j];
        } else if (n < 64) {
            rest[n++] = argv[j];
        }
    }
    if (n == 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(rest[0], "cluster") == 0) {
        return bk_cmd_cluster(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "topic") == 0) {
        return bk_cmd_topic(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "config") == 0) {
        return bk_cmd_config(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "produce") == 0) {
        return bk_cmd_produce(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "consume") == 0) {
        return bk_cmd_consume(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "acl") == 0) {
        return bk_cmd_acl(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "group") == 0) {
        return bk_cmd_group(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "txn") == 0) {
        return bk_cmd_txn(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "partition") == 0) {
        return bk_cmd_partition(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "quorum") == 0) {
        return bk_cmd_quorum(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "quota") == 0) {
        return bk_cmd_quota(&cli, n - 1, rest + 1);
    }
    if (strcmp(rest[0], "user") == 0) {
        return bk_cmd_user(&cli, n - 1, rest + 1);
    }
    bk_cli_fail("unknown command '%s' (see brokerctl --help)", rest[0]);
    return 2;
}
