/* brokerd: the Kafka-compatible broker. See README.md and
 * docs/architecture.md. */
#include <stdio.h>
#include <string.h>

#include "common/diag.h"
#include "server/broker.h"
#include "server/config.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: brokerd -c FILE        run the broker with config FILE\n"
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
        int code = bk_broker_run(&cfg);
        bk_config_free(&cfg);
        return code;
    }
    usage(stderr);
    return 2;
}
