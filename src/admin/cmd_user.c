/* brokerctl user create|delete|list: SCRAM credentials (issue 15), with
 * AlterUserScramCredentials and DescribeUserScramCredentials, as
 * kafka-configs.sh --entity-type users does.
 *
 * create salts and hashes here, as Kafka's clients do: a random 32-byte
 * salt and SaltedPassword = PBKDF2(password, salt, iterations); the broker
 * never sees the password. The password comes from --password or, without
 * it, from the first line of standard input (so that it stays out of the
 * process list and shell history). */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "admin/cli_json.h"
#include "protocol/gen/alter_user_scram_credentials.h"
#include "protocol/gen/api.h"
#include "protocol/gen/describe_user_scram_credentials.h"
#include "protocol/kerr.h"
#include "security/scram.h"

#define SALT_LEN 32

typedef struct
    bk_msg_alter_user_scram_credentials_request_scram_credential_deletion
        deletion;
typedef struct
    bk_msg_alter_user_scram_credentials_request_scram_credential_upsertion
        upsertion;

static const char usage_text[] =
    "usage: brokerctl user create NAME [--mechanism SCRAM-SHA-256|"
    "SCRAM-SHA-512] [--iterations N] [--password P] | user delete NAME "
    "[--mechanism M] | user list";

struct opts {
    const char *name;
    enum bk_scram_mech mech; /* BK_SCRAM_UNKNOWN: not given */
    long iterations;
    const char *password;
};

static int parse(int argc, char **argv, struct opts *o)
{
    o->iterations = 4096; /* kafka-configs.sh's default */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] != NULL ? argv[i] : "";
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--mechanism") == 0 && v != NULL) {
            o->mech = bk_scram_mech_parse(v, strlen(v));
            if (o->mech == BK_SCRAM_UNKNOWN) {
                return bk_cli_fail(
                    "'%s' is not SCRAM-SHA-256 or "
                    "SCRAM-SHA-512",
                    v);
            }
            i++;
        } else if (strcmp(a, "--iterations") == 0 && v != NULL) {
            char *end;
            o->iterations = strtol(v, &end, 10);
            if (*v == '\0' || *end != '\0') {
                return bk_cli_fail("'%s' is not a number", v);
            }
            i++;
        } else if (strcmp(a, "--password") == 0 && v != NULL) {
            o->password = v;
            i++;
        } else if (a[0] != '-' && o->name == NULL) {
            o->name = a;
        } else {
            return bk_cli_fail("%s", usage_text);
        }
    }
    if (o->name == NULL) {
        return bk_cli_fail("%s", usage_text);
    }
    return 0;
}

/* Sends an AlterUserScramCredentials and reports its one result. */
static int alter(struct bk_client *c,
                 struct bk_msg_alter_user_scram_credentials_request *req,
                 const char *done)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    struct bk_msg_alter_user_scram_credentials_response resp;
    int rv = bk_client_call(c, BK_API_ALTER_USER_SCRAM_CREDENTIALS, 0, req,
                            &resp, &arena);
    if (rv != 0) {
        rv = bk_cli_fail("%s", c->errmsg);
    } else {
        for (int32_t i = 0; i < resp.results_count && rv == 0; i++) {
            if (resp.results[i].error_code != 0) {
                rv = bk_cli_kerr(NULL, resp.results[i].error_code,
                                 resp.results[i].error_message);
            }
        }
        if (rv == 0) {
            printf("%s\n", done);
        }
    }
    bk_arena_destroy(&arena);
    return rv;
}

static int create(struct bk_client *c, struct opts *o)
{
    char line[1024];
    const char *pw = o->password;
    if (pw == NULL) {
        if (fgets(line, sizeof(line), stdin) == NULL) {
            return bk_cli_fail(
                "no password (--password, or one line on "
                "standard input)");
        }
        line[strcspn(line, "\r\n")] = '\0';
        pw = line;
    }
    if (o->mech == BK_SCRAM_UNKNOWN) {
        o->mech = BK_SCRAM_SHA_256;
    }
    if (o->iterations < 1 || o->iterations > INT32_MAX) {
        return bk_cli_fail("--iterations: out of range");
    }
    uint8_t salt[SALT_LEN], salted[BK_SCRAM_MAX_KEY];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        bk_scram_salted_password(o->mech, pw, strlen(pw), salt, sizeof(salt),
                                 (int32_t)o->iterations, salted) != 0) {
        OPENSSL_cleanse(line, sizeof(line));
        return bk_cli_fail("cannot hash the password");
    }
    OPENSSL_cleanse(line, sizeof(line));
    upsertion u = {
        .name = bk_str_c(o->name),
        .mechanism = (int8_t)o->mech,
        .iterations = (int32_t)o->iterations,
        .salt = { salt, sizeof(salt) },
        .salted_password = { salted, (int32_t)bk_scram_key_len(o->mech) },
    };
    struct bk_msg_alter_user_scram_credentials_request req;
    bk_msg_alter_user_scram_credentials_request_init(&req);
    req.deletions_count = 0;
    req.upsertions = &u;
    req.upsertions_count = 1;
    char done[512];
    snprintf(done, sizeof(done),
             "User %s has a %s credential (%ld "
             "iterations).",
             o->name, bk_scram_mech_name(o->mech), o->iterations);
    int rv = alter(c, &req, done);
    OPENSSL_cleanse(salted, sizeof(salted));
    return rv;
}

/* Describes users (NULL: all) into resp (arena); prints failures. */
static int describe(
    struct bk_client *c,
    const char *user,
    struct bk_arena *arena,
    struct bk_msg_describe_user_scram_credentials_response *resp)
{
    struct bk_msg_describe_user_scram_credentials_request_user_name u = {
        .name = bk_str_c(user)
    };
    struct bk_msg_describe_user_scram_credentials_request req;
    bk_msg_describe_user_scram_credentials_request_init(&req);
    req.users = user != NULL ? &u : NULL;
    req.users_count = user != NULL ? 1 : -1;
    int rv = bk_client_call(c, BK_API_DESCRIBE_USER_SCRAM_CREDENTIALS, 0, &req,
                            resp, arena);
    if (rv != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp->error_code != 0) {
        return bk_cli_kerr(NULL, resp->error_code, resp->error_message);
    }
    return 0;
}

static int delete_user(struct bk_client *c, const struct opts *o)
{
    deletion d[2];
    int32_t n = 0;
    struct bk_arena arena;
    bk_arena_init(&arena, 1024, 0);
    if (o->mech != BK_SCRAM_UNKNOWN) {
        d[n++] = (deletion){ bk_str_c(o->name), (int8_t)o->mech };
    } else {
        /* Every mechanism the user has. */
        struct bk_msg_describe_user_scram_credentials_response resp;
        int rv = describe(c, o->name, &arena, &resp);
        if (rv == 0 && resp.results_count == 1 &&
            resp.results[0].error_code != 0) {
            rv = bk_cli_kerr(NULL, resp.results[0].error_code,
                             resp.results[0].error_message);
        }
        if (rv != 0) {
            bk_arena_destroy(&arena);
            return rv;
        }
        for (int32_t i = 0; resp.results_count == 1 &&
                            i < resp.results[0].credential_infos_count && n < 2;
             i++) {
            d[n++] = (deletion){
                bk_str_c(o->name),
                resp.results[0].credential_infos[i].mechanism,
            };
        }
    }
    struct bk_msg_alter_user_scram_credentials_request req;
    bk_msg_alter_user_scram_credentials_request_init(&req);
    req.deletions = d;
    req.deletions_count = n;
    req.upsertions_count = 0;
    char done[512];
    snprintf(done, sizeof(done), "Deleted the SCRAM credentials of %s.",
             o->name);
    int rv = alter(c, &req, done);
    bk_arena_destroy(&arena);
    return rv;
}

static int list(const struct bk_cli *cli, struct bk_client *c)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 0);
    struct bk_msg_describe_user_scram_credentials_response resp;
    int rv = describe(c, NULL, &arena, &resp);
    json_t *json = rv == 0 && cli->json ? json_array() : NULL;
    if (rv == 0 && json == NULL) {
        printf("%-32s %-14s %s\n", "USER", "MECHANISM", "ITERATIONS");
    }
    for (int32_t i = 0; rv == 0 && i < resp.results_count; i++) {
        const struct
            bk_msg_describe_user_scram_credentials_response_describe_user_scram_credentials_result
                *r = &resp.results[i];
        for (int32_t j = 0; j < r->credential_infos_count; j++) {
            const char *m = bk_scram_mech_name(
                (enum bk_scram_mech)r->credential_infos[j].mechanism);
            int32_t it = r->credential_infos[j].iterations;
            if (json != NULL) {
                bk_cli_json_push(
                    json, json_pack("{s:o, s:s, s:i}", "user",
                                    bk_cli_json_str(r->user.ptr, r->user.len),
                                    "mechanism", m != NULL ? m : "UNKNOWN",
                                    "iterations", it));
            } else {
                printf("%-32.*s %-14s %d\n", r->user.len, r->user.ptr,
                       m != NULL ? m : "UNKNOWN", it);
            }
        }
    }
    if (json != NULL) {
        rv = bk_cli_json_print(stdout, json);
    }
    bk_arena_destroy(&arena);
    return rv;
}

int bk_cmd_user(const struct bk_cli *cli, int argc, char **argv)
{
    struct opts o = { 0 };
    const char *sub = argc > 0 ? argv[0] : "";
    bool is_list = strcmp(sub, "list") == 0 && argc == 1;
    bool is_create = strcmp(sub, "create") == 0;
    bool is_delete = strcmp(sub, "delete") == 0;
    if (!is_list && !is_create && !is_delete) {
        bk_cli_fail("%s", usage_text);
        return 2;
    }
    if (!is_list && parse(argc - 1, argv + 1, &o) != 0) {
        return 2;
    }
    struct bk_client c;
    if (bk_cli_connect(cli, &c) != 0) {
        return 1;
    }
    int rv = is_list     ? list(cli, &c)
             : is_create ? create(&c, &o)
                         : delete_user(&c, &o);
    bk_client_close(&c);
    return rv;
}
