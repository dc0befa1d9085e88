/* brokerctl --json: every JSON document brokerctl prints is a jansson tree
 * built by the command and printed here, so escaping, nesting and commas
 * are jansson's job, the same library the admin listener's /v1 uses. */
#ifndef BK_ADMIN_CLI_JSON_H
#define BK_ADMIN_CLI_JSON_H

#include <jansson.h>
#include <stdio.h>

/* Routes jansson's allocations through bk_heap and makes a failed one
 * print "brokerctl: out of memory" and exit 1: a one-shot command that
 * cannot build its answer has nothing better to do, and the builders
 * below then never return NULL. Call once, first thing in main. */
void bk_cli_json_init(void);

/* A JSON string holding the len bytes at s (borrowed; NUL bytes allowed),
 * or JSON null when len < 0 (a Kafka null string). Returns owned.
 *
 * JSON text must be Unicode (RFC 8259 §8.1), but Kafka strings are bytes
 * on the wire and a broker may hand back any. A byte sequence that is not
 * well-formed UTF-8 (RFC 3629) is replaced by U+FFFD, one per maximal
 * ill-formed subpart as Unicode §3.9 recommends (what Python's
 * bytes.decode("utf-8", "replace") gives); well-formed text is kept as
 * is. */
json_t *bk_cli_json_str(const char *s, int len);

/* bk_cli_json_str of a NUL-terminated string; NULL gives JSON null. */
json_t *bk_cli_json_cstr(const char *s);

/* Sets member key (len bytes, replaced as above) of object obj to v
 * (takes ownership). A key already there is replaced. */
void bk_cli_json_set(json_t *obj, const char *key, int len, json_t *v);

/* Appends v (takes ownership; must not be NULL) to array arr. */
void bk_cli_json_push(json_t *arr, json_t *v);

/* Prints doc (takes ownership; must not be NULL) to out on one line,
 * compact, members in insertion order, then a newline. Returns 0, or 1
 * after printing why not. */
int bk_cli_json_print(FILE *out, json_t *doc);

#endif /* BK_ADMIN_CLI_JSON_H */
