/* brokerd: the Kafka-compatible broker. See README.md and
 * docs/architecture.md. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "server/broker.h"
#include "server/config.h"
#include "server/datadir.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: brokerd -c FILE        run the broker with config FILE\n"
            "       brokerd format -c FILE --cluster-id ID "
            "[--ignore-formatted]\n"
            "                              [--no-initial-controllers]\n"
            "                              write meta.properties into the "
            "log.dirs of FILE\n"
            "                              (needed before the first start of "
            "a node of a\n"
            "                              multi-voter quorum or a "
            "broker-only node)\n"
            "       brokerd random-uuid    print a new cluster id\n"
            "       brokerd --check-config FILE\n"
            "                              check FILE and exit (0 if valid)\n"
            "       brokerd --config-doc   print the settings reference "
            "(Markdown)\n"
            "       brokerd --version      print the version\n"
            "       brokerd --help         this text\n"
            "\n"
            "FILE holds Kafka-style key=value properties; see "
            "docs/configuration.md.\n");
}

static int load(struct bk_config *cfg, const char *path)
{
    char err[512];
    int rv = bk_config_init(cfg);
    if (rv != 0) {
        fprintf(stderr, "brokerd: out of memory\n");
        return rv;
    }
    rv = bk_config_load(cfg, path, err, sizeof(err));
    if (rv == 0) {
        rv = bk_config_finish(cfg, err, sizeof(err));
    }
    if (rv != 0) {
        fprintf(stderr, "brokerd: %s\n", err);
        bk_config_free(cfg);
    }
    return rv;
}

/* `brokerd format`, with the options of Kafka's `kafka-storage.sh format`
 * (long and short names). Exit status 0, 1 on failure, 2 on bad usage. */
static int format_cmd(int argc, char **argv)
{
    const char *conf = NULL, *cluster_id = NULL;
    bool ignore = false, join = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has_arg = i + 1 < argc;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has_arg) {
            conf = argv[++i];
        } else if ((strcmp(a, "-t") == 0 || strcmp(a, "--cluster-id") == 0) &&
                   has_arg) {
            cluster_id = argv[++i];
        } else if (strcmp(a, "-g") == 0 ||
                   strcmp(a, "--ignore-formatted") == 0) {
            ignore = true;
        } else if (strcmp(a, "-N") == 0 ||
                   strcmp(a, "--no-initial-controllers") == 0) {
            join = true;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (conf == NULL || cluster_id == NULL) {
        usage(stderr);
        return 2;
    }
    struct bk_config cfg;
    if (load(&cfg, conf) != 0) {
        return 1;
    }
    char err[2048];
    bool formatted;
    int rv = bk_datadir_format(&cfg, cluster_id, ignore, join, &formatted, err,
                               sizeof(err));
    if (rv != 0) {
        fprintf(stderr, "brokerd: %s\n", err);
    } else if (formatted) {
        printf("Formatted %s with cluster id %s (node.id %lld)\n", cfg.log_dirs,
               cluster_id, (long long)cfg.node_id);
    } else {
        printf("%s is already formatted with cluster id %s; left as it is\n",
               cfg.log_dirs, cluster_id);
    }
    bk_config_free(&cfg);
    return rv == 0 ? 0 : 1;
}

static int random_uuid_cmd(void)
{
    char id[32];
    if (bk_random_uuid_string(id, sizeof(id)) != 0) {
        fprintf(stderr, "brokerd: cannot read random bytes\n");
        return 1;
    }
    printf("%s\n", id);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("brokerd %s\n", BK_VERSION);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--config-doc") == 0) {
        bk_config_write_doc(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "random-uuid") == 0) {
        return random_uuid_cmd();
    }
    if (argc >= 2 && strcmp(argv[1], "format") == 0) {
        return format_cmd(argc, argv);
    }
    struct bk_config cfg;
    if (argc == 3 && strcmp(argv[1], "--check-config") == 0) {
        if (load(&cfg, argv[2]) != 0) {
            return 1;
        }
        printf("%s: ok\n", argv[2]);
        bk_config_free(&cfg);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "-c") == 0) {
        if (load(&cfg, argv[2]) != 0) {
            return 1;
        }
        enum bk_diag_level lvl;
        if (bk_diag_parse_level(cfg.logger_level, &lvl) == 0) {
            bk_diag_set_level(lvl);
        }
        enum bk_diag_format fmt;
        if (bk_diag_parse_format(cfg.log_format, &fmt) == 0) {
            bk_diag_set_format(fmt);
        }
        int code = bk_broker_run(&cfg);
        bk_config_free(&cfg);
        return code;
    }
    usage(stderr);
    return 2;
}
