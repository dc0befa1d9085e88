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
#include <unistd.h>

#include "common/err.h"
#include "server/config.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/bk-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int load_text(struct bk_config *c,
                     const char *text,
                     char *err,
                     size_t errlen)
{
    assert_int_equal(bk_config_init(c), 0);
    char *path = write_tmp(text);
    int rv = bk_config_load(c, path, err, errlen);
    if (rv == 0) {
        rv = bk_config_finish(c, err, errlen);
    }
    unlink(path);
    return rv;
}

static void test_defaults(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c, "", err, sizeof(err)), 0);
    assert_int_equal(c.node_id, 1);
    assert_string_equal(c.log_dirs, "./data");
    assert_int_equal(c.socket_request_max_bytes, 104857600);
    assert_int_equal(c.nlisteners, 1);
    assert_string_equal(c.listener[0].host, "127.0.0.1");
    assert_int_equal(c.listener[0].port, 9092);
    assert_int_equal(c.nadvertised, 1);
    bk_config_free(&c);
}

static void test_parse_kafka_properties(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    const char *text =
        "# comment\n"
        "! also a comment\n"
        "\n"
        "  node.id = 7  \n"
        "listeners=PLAINTEXT://0.0.0.0:19092,"
        "INTERNAL://[::1]:19093\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL\n"
        "advertised.listeners:PLAINTEXT://broker7.example:19092\n"
        "log.dirs=/var/lib/brokerd\n"
        "auto.create.topics.enable=false\n"
        "broker.rack=us-east-1a\n";
    assert_int_equal(load_text(&c, text, err, sizeof(err)), 0);
    assert_int_equal(c.node_id, 7);
    assert_int_equal(c.nlisteners, 2);
    assert_string_equal(c.listener[1].host, "::1");
    assert_int_equal(c.listener[1].port, 19093);
    assert_int_equal(c.listener[1].protocol, BK_SEC_SSL);
    assert_string_equal(c.advertised[0].host, "broker7.example");
    /* Not in advertised.listeners: advertised as it listens. */
    assert_int_equal(c.nadvertised, 2);
    assert_string_equal(c.advertised[1].name, "INTERNAL");
    assert_int_equal(c.advertised[1].port, 19093);
    assert_false(c.auto_create_topics_enable);
    assert_string_equal(c.broker_rack, "us-east-1a");
    bk_config_free(&c);
}

static void expect_error(const char *text, const char *needle)
{
    struct bk_config c;
    char err[256] = "";
    int rv = load_text(&c, text, err, sizeof(err));
    assert_int_equal(rv, BK_ECONFIG);
    if (strstr(err, needle) == NULL) {
        fail_msg("error '%s' does not mention '%s'", err, needle);
    }
    assert_null(strchr(err, '\n'));
    bk_config_free(&c);
}

static void test_errors_name_key_and_reason(void **state)
{
    (void)state;
    expect_error("bogus.key=1\n", "unknown configuration key 'bogus.key'");
    expect_error("node.id=x\n", "node.id: 'x' is not an integer");
    expect_error("node.id=99999999999\n", "node.id");
    expect_error("num.shards=-1\n", "outside");
    expect_error("auto.create.topics.enable=yes\n", "not true or false");
    expect_error("listeners=127.0.0.1:9092\n", "NAME://host:port");
    expect_error("listeners=PLAINTEXT://h:99999\n", "not a port");
    /* SASL listeners are accepted, but brokers talk PLAINTEXT. */
    expect_error("listeners=SASL_SSL://h:1\n", "over PLAINTEXT only");
    expect_error("listeners=EXTERNAL://h:1\n",
                 "'EXTERNAL' has no security protocol");
    expect_error("listeners=PLAINTEXT://h:1,plaintext://h:2\n", "used twice");
    expect_error("listener.security.protocol.map=A:TLS\nlisteners=A://h:1\n",
                 "'TLS' is not PLAINTEXT, SSL");
    expect_error("advertised.listeners=SSL://h:1\n",
                 "advertised.listeners: 'SSL' is not the name of a listener");
    expect_error(
        "listeners=SSL://h:1\n",
        "controller.listener.names: listener 'SSL' in listeners uses SSL");
    expect_error(
        "listeners=PLAINTEXT://h:1,SSL://h:2\n"
        "inter.broker.listener.name=SSL\n",
        "inter.broker.listener.name: listener 'SSL' in listeners");
    expect_error("advertised.listeners=PLAINTEXT://h:0\n", "port 0");
    expect_error("log.dirs=/a,/b\n", "one directory");
    expect_error("logger.level=chatty\n", "logger.level");
    expect_error("group.consumer.migration.policy=sideways\n",
                 "group.consumer.migration.policy: 'sideways' is not one of");
    expect_error("node.id\n", ":1: expected key=value");
    expect_error("admin.listeners=PLAINTEXT://127.0.0.1:9644\n",
                 "admin.listeners: expected one http://host:port");
    expect_error("admin.listeners=http://a:1,http://b:2\n",
                 "admin.listeners: the name 'HTTP' is used twice");
    expect_error("admin.listeners=http://a\n", "has no port");
}

static void test_admin_listener(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c, "log.dirs=/tmp/x\n", err, sizeof(err)), 0);
    assert_false(c.admin_on); /* off by default */
    bk_config_free(&c);
    assert_int_equal(load_text(&c,
                               "log.dirs=/tmp/x\n"
                               "admin.listeners=http://[::1]:9644\n",
                               err, sizeof(err)),
                     0);
    assert_true(c.admin_on);
    assert_string_equal(c.admin.host, "::1");
    assert_int_equal(c.admin.port, 9644);
    bk_config_free(&c);
}

/* replica.selector.class (KIP-392): empty or Kafka's rack-aware selector;
 * any other class cannot be loaded, as in Kafka. */
static void test_replica_selector(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c, "log.dirs=/tmp/x\n", err, sizeof(err)), 0);
    assert_string_equal(c.replica_selector_class, "");
    bk_config_free(&c);
    assert_int_equal(
        load_text(&c,
                  "log.dirs=/tmp/x\n"
                  "replica.selector.class=" BK_RACK_AWARE_SELECTOR "\n",
                  err, sizeof(err)),
        0);
    bk_config_free(&c);
    assert_int_equal(load_text(&c,
                               "log.dirs=/tmp/x\n"
                               "replica.selector.class=com.example.Nearest\n",
                               err, sizeof(err)),
                     BK_ECONFIG);
    assert_non_null(strstr(err, "replica.selector.class"));
    bk_config_free(&c);
}

static void test_doc_lists_every_key(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bk_config_write_doc(f);
    assert_int_equal(fclose(f), 0);
    const char *keys[] = {
        "node.id",   "listeners",      "advertised.listeners",
        "log.dirs",  "num.partitions", "socket.request.max.bytes",
        "num.shards"
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char needle[80];
        snprintf(needle, sizeof(needle), "## `%s`", keys[i]);
        assert_non_null(strstr(buf, needle));
    }
    free(buf);
}

/* Every row's default is within its bounds (bk_config_init parses each
 * default through the row's own checks) and the types are Kafka's. */
struct seen {
    int n;
    int queued_type, rf_type, voters_type, retention_type;
};

static void note(const struct bk_config_entry *e, void *data)
{
    struct seen *s = data;
    s->n++;
    assert_string_equal(e->value, e->dflt);
    assert_non_null(e->doc);
    if (strcmp(e->name, "queued.max.request.bytes") == 0) {
        s->queued_type = e->type;
    } else if (strcmp(e->name, "offsets.topic.replication.factor") == 0) {
        s->rf_type = e->type;
    } else if (strcmp(e->name, "controller.quorum.voters") == 0) {
        s->voters_type = e->type;
    } else if (strcmp(e->name, "log.retention.hours") == 0) {
        s->retention_type = e->type;
    }
}

static void test_defaults_valid_and_typed(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c, "", err, sizeof(err)), 0);
    struct seen s = { 0 };
    bk_config_each(&c, note, &s);
    assert_true(s.n > 40);
    assert_int_equal(s.queued_type, BK_MD_CFG_LONG);
    assert_int_equal(s.rf_type, BK_MD_CFG_SHORT);
    assert_int_equal(s.voters_type, BK_MD_CFG_LIST);
    assert_int_equal(s.retention_type, BK_MD_CFG_INT);
    /* With no topic defaults set, topics get Kafka's. */
    struct bk_topic_settings kafka;
    bk_topic_settings_default(&kafka);
    assert_memory_equal(&c.topic_defaults, &kafka, sizeof(kafka));
    bk_config_free(&c);
}

/* Broker-wide topic defaults: parsed, checked by the topic config's rule
 * with a clear message, and resolved into typed topic settings. */
static void test_topic_defaults(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c,
                               "log.retention.hours=24\n"
                               "log.cleanup.policy=compact,delete\n"
                               "compression.type=zstd\n"
                               "message.max.bytes=2000000\n",
                               err, sizeof(err)),
                     0);
    assert_int_equal(c.log_retention_hours, 24);
    assert_int_equal(c.topic_defaults.retention_ms, 86400000);
    assert_int_equal(c.topic_defaults.cleanup_policy,
                     BK_TOPIC_CLEANUP_COMPACT | BK_TOPIC_CLEANUP_DELETE);
    assert_int_equal(c.topic_defaults.compression_type,
                     BK_TOPIC_COMPRESSION_ZSTD);
    assert_int_equal(c.topic_defaults.max_message_bytes, 2000000);
    char buf[32];
    assert_string_equal(
        bk_config_lookup("log.retention.hours", &c, buf, sizeof(buf)), "24");
    assert_null(bk_config_lookup("retention.ms", &c, buf, sizeof(buf)));
    bk_config_free(&c);

    assert_int_equal(
        load_text(&c, "compression.type=brotli\n", err, sizeof(err)),
        BK_ECONFIG);
    assert_non_null(strstr(err, ":1: compression.type: Invalid value brotli"));
    assert_non_null(strstr(err, "String must be one of"));
    bk_config_free(&c);
    assert_int_equal(
        load_text(&c, "log.segment.bytes=1000\n", err, sizeof(err)),
        BK_ECONFIG);
    assert_non_null(strstr(err, "log.segment.bytes: 1000 is outside"));
    bk_config_free(&c);
    assert_int_equal(
        load_text(&c, "log.retention.hours=-5\n", err, sizeof(err)),
        BK_ECONFIG);
    assert_non_null(strstr(err, "log.retention.hours: -5 is outside [-1,"));
    bk_config_free(&c);
    assert_int_equal(
        load_text(&c, "queued.max.request.bytes=-2\n", err, sizeof(err)),
        BK_ECONFIG);
    assert_non_null(strstr(err, "queued.max.request.bytes: -2 is outside"));
    bk_config_free(&c);
}

static void test_doc_lists_topic_configs(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    bk_config_write_doc(f);
    assert_int_equal(fclose(f), 0);
    size_t n;
    const struct bk_md_cfg_def *t = bk_md_topic_cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "### `%s`", t[i].name);
        assert_non_null(strstr(buf, needle));
    }
    assert_non_null(strstr(buf,
                           "| `retention.ms` | long | `604800000` | "
                           "[-1, ...] | `log.retention.hours` | yes |"));
    free(buf);
}

/* The cluster settings of issue 12: defaults keep a single node combined,
 * the parsed forms land in the derived fields, and each cross-field rule
 * fails with one line naming its settings. */
static void test_cluster_settings(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(load_text(&c, "", err, sizeof(err)), 0);
    assert_true(c.is_broker);
    assert_true(c.is_controller);
    assert_int_equal(c.nvoters, 0);
    assert_int_equal(c.broker_session_timeout_ms, 9000);
    assert_int_equal(c.broker_heartbeat_interval_ms, 2000);
    assert_int_equal(c.initial_broker_registration_timeout_ms, 60000);
    assert_int_equal(c.controller_quorum_election_timeout_ms, 1000);
    assert_false(bk_config_needs_format(&c));
    bk_config_free(&c);

    assert_int_equal(
        load_text(&c,
                  "node.id=2\n"
                  "listeners=PLAINTEXT://127.0.0.1:9092,"
                  "CONTROLLER://127.0.0.1:9093\n"
                  "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                  "CONTROLLER:PLAINTEXT\n"
                  "process.roles = controller , broker\n"
                  "controller.quorum.voters=3@h3:93, 2@[::1]:92,1@h1:91\n"
                  "controller.listener.names=controller\n"
                  "inter.broker.listener.name=PLAINTEXT\n",
                  err, sizeof(err)),
        0);
    assert_true(c.is_broker && c.is_controller);
    assert_int_equal(c.nvoters, 3);
    assert_int_equal(c.voter[1].id, 2);
    assert_string_equal(c.voter[1].host, "::1");
    assert_int_equal(c.voter[1].port, 92);
    assert_int_equal(c.controller_listener, 1);
    assert_int_equal(c.inter_broker_listener, 0);
    assert_true(bk_config_needs_format(&c));
    char text[256];
    assert_int_equal(bk_config_voters_text(&c, text, sizeof(text)), 0);
    assert_string_equal(text, "1@h1:91,2@[::1]:92,3@h3:93");
    assert_int_equal(bk_config_voters_text(&c, text, 8), BK_ERANGE);
    bk_config_free(&c);

    assert_int_equal(load_text(&c,
                               "process.roles=broker\n"
                               "controller.quorum.bootstrap.servers="
                               "c1:9092,[::1]:9093\n",
                               err, sizeof(err)),
                     0);
    assert_true(c.is_broker);
    assert_false(c.is_controller);
    assert_int_equal(c.nbootstrap, 2);
    assert_string_equal(c.bootstrap[1].host, "::1");
    assert_true(bk_config_needs_format(&c));
    bk_config_free(&c);

    assert_int_equal(
        load_text(&c, "process.roles=controller\n", err, sizeof(err)), 0);
    assert_false(c.is_broker);
    assert_true(c.is_controller);
    bk_config_free(&c);

    expect_error("process.roles=\n", "process.roles: must be");
    expect_error("process.roles=broker,zookeeper\n",
                 "process.roles: 'zookeeper' is not broker or controller");
    expect_error("process.roles=broker,broker\n", "given twice");
    expect_error("broker.heartbeat.interval.ms=9000\n",
                 "broker.heartbeat.interval.ms: 9000 must be less than "
                 "broker.session.timeout.ms (9000)");
    expect_error("node.id=4\ncontroller.quorum.voters=1@h:1,2@h:2\n",
                 "node.id 4 has the controller role");
    expect_error("process.roles=broker\ncontroller.quorum.voters=1@h:1\n",
                 "process.roles: node.id 1 is in controller.quorum.voters");
    expect_error("process.roles=broker\n",
                 "needs controller.quorum.bootstrap.servers");
    expect_error("process.roles=broker\ncontroller.quorum.voters=2@h:1\n",
                 "needs controller.quorum.bootstrap.servers");
    expect_error("controller.quorum.voters=1@h:1,1@g:2\n",
                 "node id 1 appears twice");
    expect_error("controller.quorum.voters=1@h\n", "bad entry '1@h'");
    expect_error("controller.quorum.voters=x@h:1\n", "bad entry");
    expect_error("controller.quorum.voters=1@h:1,,2@h:2\n", "bad entry ''");
    expect_error("controller.quorum.voters=1@h:70000\n", "bad entry");
    expect_error(
        "process.roles=broker\n"
        "controller.quorum.bootstrap.servers=c1\n",
        "controller.quorum.bootstrap.servers: bad entry 'c1'");
    expect_error("controller.listener.names=CONTROLLER\n",
                 "controller.listener.names: 'CONTROLLER' is not the name");
    expect_error("inter.broker.listener.name=INTERNAL\n",
                 "inter.broker.listener.name: 'INTERNAL' is not the name");
    expect_error("controller.quorum.election.timeout.ms=0\n", "outside");
}

static void test_listener_overrides(void **state)
{
    (void)state;
    struct bk_config c;
    char err[256];
    assert_int_equal(
        load_text(&c,
                  "listeners=PLAINTEXT://h:1,SSL://h:2,EXTERNAL://h:3\n"
                  "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,"
                  "SSL:SSL,EXTERNAL:SSL\n"
                  "ssl.client.auth=requested\n"
                  "listener.name.external.ssl.client.auth=required\n"
                  "listener.name.EXTERNAL.ssl.keystore.location=/a.pem\n"
                  "listener.name.external.ssl.keystore.location=/b.pem\n",
                  err, sizeof(err)),
        0);
    /* Kafka's prefix takes the name in any case; the last value wins. */
    assert_int_equal(c.noverrides, 2);
    assert_string_equal(
        bk_config_listener_str(&c, "EXTERNAL", "ssl.client.auth"), "required");
    assert_string_equal(
        bk_config_listener_str(&c, "EXTERNAL", "ssl.keystore.location"),
        "/b.pem");
    assert_string_equal(bk_config_listener_str(&c, "SSL", "ssl.client.auth"),
                        "requested");
    assert_string_equal(
        bk_config_listener_str(&c, "SSL", "ssl.enabled.protocols"),
        "TLSv1.2,TLSv1.3");
    assert_int_equal(c.listener[2].protocol, BK_SEC_SSL);
    bk_config_free(&c);

    /* SASL settings per listener, and sasl.jaas.config per mechanism
     * (Kafka's listener.name.<n>.<mechanism>.sasl.jaas.config). */
    assert_int_equal(
        load_text(&c,
                  "listeners=PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\n"
                  "sasl.jaas.config=M required user_a=\"x\";\n"
                  "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
                  "listener.name.sasl_plaintext.sasl.enabled.mechanisms="
                  "PLAIN\n"
                  "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                  "P required user_b=\"y\";\n"
                  "listener.name.sasl_plaintext.connections.max.reauth.ms="
                  "60000\n",
                  err, sizeof(err)),
        0);
    assert_string_equal(bk_config_listener_mech_str(
                            &c, "SASL_PLAINTEXT", "plain", "sasl.jaas.config"),
                        "P required user_b=\"y\";");
    assert_string_equal(
        bk_config_listener_mech_str(&c, "SASL_PLAINTEXT", "scram-sha-256",
                                    "sasl.jaas.config"),
        "M required user_a=\"x\";");
    assert_string_equal(
        bk_config_listener_str(&c, "SASL_PLAINTEXT", "sasl.enabled.mechanisms"),
        "PLAIN");
    assert_string_equal(
        bk_config_listener_str(&c, "PLAINTEXT", "sasl.enabled.mechanisms"),
        "SCRAM-SHA-512");
    assert_string_equal(
        bk_config_listener_mech_str(&c, "SASL_PLAINTEXT", "",
                                    "connections.max.reauth.ms"),
        "60000");
    /* A number not overridden is not given as text (bk_config_lookup
     * would write it into a buffer of the callee). */
    assert_null(bk_config_listener_mech_str(&c, "PLAINTEXT", "",
                                            "connections.max.reauth.ms"));
    assert_int_equal(c.listener[1].protocol, BK_SEC_SASL_PLAINTEXT);
    bk_config_free(&c);

    /* Java properties' line continuation, as Kafka's files write JAAS
     * entries; an even number of backslashes does not continue. */
    assert_int_equal(load_text(&c,
                               "sasl.jaas.config=M required \\\n"
                               "    user_a=\"x\" \\\r\n"
                               "\t user_b=\"y\";\n"
                               "# a comment\n"
                               "ssl.cipher.suites=A\\\\\n"
                               "ssl.key.password=p\\\n",
                               err, sizeof(err)),
                     0);
    assert_string_equal(c.sasl_jaas_config,
                        "M required user_a=\"x\" user_b=\"y\";");
    assert_string_equal(c.ssl_cipher_suites, "A\\\\");
    assert_string_equal(c.ssl_key_password, "p");
    bk_config_free(&c);

    expect_error("listener.name.ssl.num.partitions=3\n",
                 "per-listener settings are listener.name.<name>.ssl.*");
    expect_error("listener.name.x.gssapi.sasl.jaas.config=3\n",
                 "unknown configuration");
    expect_error("listener.name.ssl.ssl.bogus=3\n", "unknown configuration");
    expect_error("listener.name..ssl.client.auth=none\n",
                 "unknown configuration");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_kafka_properties),
        cmocka_unit_test(test_errors_name_key_and_reason),
        cmocka_unit_test(test_admin_listener),
        cmocka_unit_test(test_replica_selector),
        cmocka_unit_test(test_doc_lists_every_key),
        cmocka_unit_test(test_defaults_valid_and_typed),
        cmocka_unit_test(test_topic_defaults),
        cmocka_unit_test(test_doc_lists_topic_configs),
        cmocka_unit_test(test_cluster_settings),
        cmocka_unit_test(test_listener_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
