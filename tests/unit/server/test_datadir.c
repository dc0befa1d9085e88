/* cmocka.h needs these headers first. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/disk.h"
#include "common/err.h"
#include "server/config.h"
#include "server/datadir.h"

struct fx {
    char root[64];
    char dir[128];
    struct bk_config cfg;
};

/* A config of node 1 in the quorum voters (empty: a single node) with its
 * log.dirs under a fresh temporary folder. */
static void setup_cfg(struct fx *f, const char *voters)
{
    char err[256];
    assert_int_equal(bk_config_init(&f->cfg), 0);
    assert_int_equal(
        bk_config_set(&f->cfg, "log.dirs", f->dir, err, sizeof(err)), 0);
    assert_int_equal(bk_config_set(&f->cfg, "controller.quorum.voters", voters,
                                   err, sizeof(err)),
                     0);
    assert_int_equal(bk_config_finish(&f->cfg, err, sizeof(err)), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->root, sizeof(f->root), "/tmp/bk-datadir-test-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    bk_config_free(&f->cfg);
    bk_remove_tree(f->root);
    free(f);
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void read_meta(const struct fx *f, char *out, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/meta.properties", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, len - 1, fp);
    out[n] = '\0';
    (void)fclose(fp);
}

static void test_cluster_id_valid(void **state)
{
    (void)state;
    char id[32];
    for (int i = 0; i < 50; i++) {
        assert_int_equal(bk_random_uuid_string(id, sizeof(id)), 0);
        assert_true(bk_cluster_id_valid(id));
        assert_int_not_equal(id[0], '-');
    }
    assert_true(bk_cluster_id_valid("MkU3OEVBNTcwNTJENDM2Qg"));
    assert_false(bk_cluster_id_valid("MkU3OEVBNTcwNTJENDM2Q"));
    assert_false(bk_cluster_id_valid("MkU3OEVBNTcwNTJENDM2Qgg"));
    assert_false(bk_cluster_id_valid("MkU3OEVBNTcwNTJENDM2Q="));
    assert_false(bk_cluster_id_valid("MkU3OEVBNTcwNTJENDM+Qg"));
    assert_false(bk_cluster_id_valid(""));
}

static void test_quorum_member_needs_format(void **state)
{
    struct fx *f = *state;
    setup_cfg(f, "1@127.0.0.1:9093,2@127.0.0.1:9094");
    struct bk_datadir d;
    char err[512];
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err, "is not formatted; run \"brokerd format"));
    assert_false(exists(f->dir));

    /* An empty directory that exists is not formatted either. */
    assert_int_equal(mkdir(f->dir, 0755), 0);
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err, "is not formatted"));

    const char *id = "MkU3OEVBNTcwNTJENDM2Qg";
    bool formatted = false;
    assert_int_equal(bk_datadir_format(&f->cfg, id, false, false, &formatted,
                                       err, sizeof(err)),
                     0);
    assert_true(formatted);
    char meta[1024];
    read_meta(f, meta, sizeof(meta));
    assert_non_null(strstr(meta, "cluster.id=MkU3OEVBNTcwNTJENDM2Qg\n"));
    assert_non_null(strstr(meta, "node.id=1\n"));
    assert_non_null(strstr(
        meta, "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094\n"));

    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)), 0);
    assert_string_equal(d.cluster_id, id);
    /* Formatting a directory in use fails on its lock. */
    assert_int_equal(bk_datadir_format(&f->cfg, id, true, false, &formatted,
                                       err, sizeof(err)),
                     BK_EBUSY);
    bk_datadir_close(&d);
}

static void test_format_rules(void **state)
{
    struct fx *f = *state;
    setup_cfg(f, "2@h:2,1@h:1,3@h:3");
    const char *id = "MkU3OEVBNTcwNTJENDM2Qg";
    const char *other = "AAAAAAAAAAAAAAAAAAAAAA";
    bool formatted;
    char err[512];
    assert_int_equal(bk_datadir_format(&f->cfg, "nope", false, false,
                                       &formatted, err, sizeof(err)),
                     BK_EINVAL);
    assert_false(exists(f->dir));
    assert_int_equal(bk_datadir_format(&f->cfg, id, false, false, &formatted,
                                       err, sizeof(err)),
                     0);
    char meta[1024], again[1024];
    read_meta(f, meta, sizeof(meta));
    assert_non_null(strstr(meta, "controller.quorum.voters=1@h:1,2@h:2,3@h:3"));
    assert_int_equal(bk_datadir_format(&f->cfg, id, false, false, &formatted,
                                       err, sizeof(err)),
                     BK_EEXIST);
    assert_non_null(strstr(err, "already formatted"));
    assert_int_equal(bk_datadir_format(&f->cfg, id, true, false, &formatted,
                                       err, sizeof(err)),
                     0);
    assert_false(formatted);
    assert_int_equal(bk_datadir_format(&f->cfg, other, true, false, &formatted,
                                       err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err,
                           "formatted with cluster id " /* stored */
                           "MkU3OEVBNTcwNTJENDM2Qg, not AAAA"));
    read_meta(f, again, sizeof(again));
    assert_string_equal(meta, again);

    /* Another voter set: start-up and --ignore-formatted both refuse. */
    char msg[256];
    assert_int_equal(bk_config_set(&f->cfg, "controller.quorum.voters",
                                   "1@h:1,2@h:2,4@h:4", msg, sizeof(msg)),
                     0);
    assert_int_equal(bk_config_finish(&f->cfg, msg, sizeof(msg)), 0);
    struct bk_datadir d;
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err,
                           "controller.quorum.voters: 1@h:1,2@h:2,4@h:4 "
                           "is not the voter set 1@h:1,2@h:2,3@h:3"));
    assert_int_equal(bk_datadir_format(&f->cfg, id, true, false, &formatted,
                                       err, sizeof(err)),
                     BK_ECONFIG);
}

static void test_single_node_formats_itself(void **state)
{
    struct fx *f = *state;
    setup_cfg(f, "");
    struct bk_datadir d;
    char err[512], meta[1024];
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)), 0);
    assert_true(bk_cluster_id_valid(d.cluster_id));
    bk_datadir_close(&d);
    read_meta(f, meta, sizeof(meta));
    assert_non_null(strstr(meta, "controller.quorum.voters=\n"));
    char id[32];
    snprintf(id, sizeof(id), "%s", d.cluster_id);
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)), 0);
    assert_string_equal(d.cluster_id, id);
    bk_datadir_close(&d);
}

/* A directory formatted before the voter set was recorded opens with any
 * set, and keeps its node.id check. */
static void test_older_meta_properties(void **state)
{
    struct fx *f = *state;
    setup_cfg(f, "1@h:1,2@h:2");
    assert_int_equal(mkdir(f->dir, 0755), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/meta.properties", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("version=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\nnode.id=1\n", fp);
    (void)fclose(fp);
    struct bk_datadir d;
    char err[512];
    assert_int_equal(bk_datadir_open_config(&d, &f->cfg, err, sizeof(err)), 0);
    bk_datadir_close(&d);
    assert_int_equal(bk_datadir_open(&d, f->dir, 7, err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err, "node.id: 7 does not match node.id 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_id_valid),
        cmocka_unit_test_setup_teardown(test_quorum_member_needs_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_format_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_node_formats_itself, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_older_meta_properties, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
