#!/usr/bin/env python3
"""Tests of scripts/gen_codec.py on a synthetic schema.

The real Kafka schema does not use every feature the generator supports
(e.g. a struct that becomes nullable in a later version, a keyword as a
field name), so this test writes a small schema that does, generates the
codec into a temporary tree, compiles it with a driver, and checks defaults,
exact bytes and round trips. Usage: test_gen_codec.py REPO_ROOT [CC]
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", "..",
                                    ".."))
CC = sys.argv[2] if len(sys.argv) > 2 else "cc"
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_codec  # noqa: E402

REQUEST = """// Licence header, as in Kafka's files.
// "quoted" text and a // nested marker in a comment
{
  "apiKey": 0,
  "type": "request",
  "listeners": ["broker"],
  "name": "SyntheticRequest",
  "validVersions": "0-3",
  "flexibleVersions": "2+",
  "fields": [
    { "name": "ClientId", "type": "string", "versions": "0+",
      "nullableVersions": "0+", "flexibleVersions": "none", "default": "null",
      "about": "see http://example.com // not a comment" },
    { "name": "Default", "type": "int32", "versions": "0+",
      "default": "0x7fffffff" },
    { "name": "Min", "type": "int32", "versions": "1+",
      "default": "-2147483648" },
    { "name": "Big", "type": "int64", "versions": "0+", "default": -1 },
    { "name": "Flag", "type": "bool", "versions": "0-2", "default": "true" },
    { "name": "Port", "type": "uint16", "versions": "0+" },
    { "name": "Ratio", "type": "float64", "versions": "0+", "default": "1.5" },
    { "name": "Id", "type": "uuid", "versions": "1+" },
    { "name": "Small", "type": "int8", "versions": "0+", "default": "3" },
    { "name": "Data", "type": "bytes", "versions": "0+",
      "nullableVersions": "1+" },
    { "name": "Recs", "type": "records", "versions": "0+",
      "nullableVersions": "0+" },
    { "name": "Opt", "type": "Inner", "versions": "0+",
      "nullableVersions": "1+", "default": "null", "fields": [
      { "name": "A", "type": "int32", "versions": "0+" },
      { "name": "S", "type": "string", "versions": "0+" }
    ]},
    { "name": "Nums", "type": "[]int32", "versions": "0+",
      "nullableVersions": "2+" },
    { "name": "Names", "type": "[]string", "versions": "0+" },
    { "name": "Ids", "type": "[]uuid", "versions": "3+" },
    { "name": "Items", "type": "[]Item", "versions": "0+", "fields": [
      { "name": "Key", "type": "string", "versions": "0+", "mapKey": true },
      { "name": "Sub", "type": "[]Common", "versions": "1+" },
      { "name": "T", "type": "int64", "versions": "2+",
        "taggedVersions": "2+", "tag": 0 }
    ]},
    { "name": "TagStr", "type": "string", "versions": "2+",
      "taggedVersions": "2+", "tag": 0, "nullableVersions": "2+",
      "default": "null" },
    { "name": "TagArr", "type": "[]Common", "versions": "3+",
      "taggedVersions": "3+", "tag": 1 },
    { "name": "TagStruct", "type": "Common", "versions": "2+",
      "taggedVersions": "2+", "tag": 2 }
  ],
  "commonStructs": [
    { "name": "Common", "versions": "0+", "fields": [
      { "name": "X", "type": "int16", "versions": "0+", "default": "-1" },
      { "name": "Y", "type": "string", "versions": "0+", "default": "" }
    ]}
  ]
}
"""

RESPONSE = """{
  "apiKey": 0,
  "type": "response",
  "name": "SyntheticResponse",
  "validVersions": "0-3",
  "flexibleVersions": "2+",
  "fields": [
    { "name": "ErrorCode", "type": "int16", "versions": "0+" }
  ]
}
"""

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/err.h"
#include "protocol/gen/all.h"
#include "unit/protocol/gen_fill.h"

#define CHECK(c)                                                  \
    do {                                                          \
        if (!(c)) {                                               \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                              \
        }                                                         \
    } while (0)

static size_t enc(const struct bk_msg_synthetic_request *m, int16_t v,
                  uint8_t *buf, size_t cap)
{
    struct bk_wr wr;
    bk_wr_init(&wr, buf, cap);
    CHECK(bk_msg_synthetic_request_encode(m, &wr, v) == 0);
    CHECK(wr.len == bk_msg_synthetic_request_size(m, v));
    return wr.len;
}

int main(void)
{
    struct bk_msg_synthetic_request m;
    bk_msg_synthetic_request_init(&m);
    CHECK(m.client_id.len == -1);
    CHECK(m.default_ == 0x7fffffff);
    CHECK(m.min == INT32_MIN);
    CHECK(m.big == -1);
    CHECK(m.flag);
    CHECK(m.ratio == 1.5);
    CHECK(m.small == 3);
    CHECK(m.data.len == 0);
    CHECK(m.recs.len == -1);
    CHECK(m.opt == NULL);
    CHECK(m.nums_count == 0 && m.items_count == 0);
    CHECK(m.tag_str.len == -1);
    CHECK(m.tag_struct.x == -1 && m.tag_struct.y.len == 0);

    uint8_t buf[256];
    /* v0: no marker for the struct that is nullable only from v1, so a
     * null goes out as the default struct. */
    static const uint8_t v0[] = {
        0xff, 0xff,                                     /* client_id */
        0x7f, 0xff, 0xff, 0xff,                         /* default */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* big */
        0x01,                                           /* flag */
        0x00, 0x00,                                     /* port */
        0x3f, 0xf8, 0, 0, 0, 0, 0, 0,                   /* ratio */
        0x03,                                           /* small */
        0, 0, 0, 0,                                     /* data */
        0xff, 0xff, 0xff, 0xff,                         /* recs */
        0, 0, 0, 0, 0, 0,                               /* opt {a, s} */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,             /* 3 arrays */
    };
    size_t n = enc(&m, 0, buf, sizeof(buf));
    CHECK(n == sizeof(v0) && memcmp(buf, v0, n) == 0);

    /* v2: flexible, but client_id keeps its INT16 length; the struct now
     * has a marker; default tagged fields are not written. */
    n = enc(&m, 2, buf, sizeof(buf));
    /* client_id, default, min, big, flag, port, ratio, uuid, small */
    size_t off = 2 + 4 + 4 + 8 + 1 + 2 + 8 + 16 + 1;
    CHECK(buf[0] == 0xff && buf[1] == 0xff);
    CHECK(buf[off] == 0x01);     /* data: empty, compact */
    CHECK(buf[off + 1] == 0x00); /* recs: null, compact */
    CHECK(buf[off + 2] == 0xff); /* opt: null marker */
    CHECK(buf[off + 3] == 0x01); /* nums: empty compact array */
    CHECK(buf[off + 4] == 0x01); /* names */
    CHECK(buf[off + 5] == 0x01); /* items */
    CHECK(buf[off + 6] == 0x00); /* no tagged fields */
    CHECK(n == off + 7);

    /* A non-default tagged struct and string are written, in tag order. */
    m.tag_struct.x = 5;
    m.tag_str = bk_str_c("hi");
    n = enc(&m, 2, buf, sizeof(buf));
    static const uint8_t tags[] = { 0x02, 0x00, 0x03, 0x03, 'h', 'i',
                                    0x02, 0x04, 0x00, 0x05, 0x01, 0x00 };
    CHECK(n == off + 6 + sizeof(tags));
    CHECK(memcmp(buf + off + 6, tags, sizeof(tags)) == 0);
    struct bk_arena a;
    bk_arena_init(&a, 1024, 0);
    struct bk_rd rd;
    bk_rd_init(&rd, buf, n);
    struct bk_msg_synthetic_request back;
    CHECK(bk_msg_synthetic_request_decode(&back, &rd, 2, &a) == 0);
    CHECK(rd.pos == n);
    CHECK(back.tag_struct.x == 5 && bk_str_eq_c(back.tag_str, "hi"));
    CHECK(back.opt == NULL);

    /* Round trip of everything at every version. */
    for (size_t i = 0; i < bk_fill_entries_count; i++) {
        const struct bk_fill_entry *e = &bk_fill_entries[i];
        for (int16_t v = e->min_version; v <= e->max_version; v++) {
            for (uint64_t seed = 1; seed < 200; seed++) {
                uint64_t rng = seed;
                void *x = bk_arena_alloc(&a, e->struct_size);
                void *y = bk_arena_alloc(&a, e->struct_size);
                e->fill(x, v, &a, &rng);
                size_t n1 = e->size(x, v);
                uint8_t *b1 = malloc(n1 + 1), *b2 = malloc(n1 + 1);
                struct bk_wr wr;
                bk_wr_init(&wr, b1, n1);
                CHECK(e->encode(x, &wr, v) == 0 && wr.len == n1);
                bk_rd_init(&rd, b1, n1);
                CHECK(e->decode(y, &rd, v, &a) == 0 && rd.pos == n1);
                CHECK(e->size(y, v) == n1);
                bk_wr_init(&wr, b2, n1);
                CHECK(e->encode(y, &wr, v) == 0);
                CHECK(memcmp(b1, b2, n1) == 0);
                free(b1);
                free(b2);
            }
        }
    }
    bk_arena_destroy(&a);
    return 0;
}
"""


class GenCodecTest(unittest.TestCase):
    def test_strip_comments(self):
        text = '{"a": "x // y", // c\n "b": "\\"//\\""}\n// end'
        self.assertEqual(json.loads(gen_codec.strip_comments(text)),
                         {"a": "x // y", "b": '"//"'})

    def test_snake(self):
        self.assertEqual(gen_codec.snake("AllowAutoTopicCreation"),
                         "allow_auto_topic_creation")
        self.assertEqual(gen_codec.snake("MetadataRequest"),
                         "metadata_request")
        self.assertEqual(gen_codec.snake("ThrottleTimeMs"), "throttle_time_ms")
        self.assertEqual(gen_codec.snake("KRaftVersionFeature"),
                         "k_raft_version_feature")
        self.assertEqual(gen_codec.field_ident("Default"), "default_")

    def test_versions(self):
        v = gen_codec.Versions("3+")
        self.assertEqual(v.cond(0, 9), "v >= 3")
        self.assertIsNone(v.cond(3, 9))
        self.assertEqual(gen_codec.Versions("0-2").cond(0, 9), "v <= 2")
        self.assertEqual(gen_codec.Versions("none").cond(0, 9), "false")
        self.assertEqual(gen_codec.Versions("10+").cond(0, 9), "false")
        self.assertEqual(gen_codec.Versions("2-4").cond(0, 9),
                         "v >= 2 && v <= 4")

    def test_synthetic_schema(self):
        with tempfile.TemporaryDirectory() as tmp:
            msgs = os.path.join(tmp, "messages")
            os.makedirs(msgs)
            with open(os.path.join(msgs, "SyntheticRequest.json"), "w") as f:
                f.write(REQUEST)
            with open(os.path.join(msgs, "SyntheticResponse.json"), "w") as f:
                f.write(RESPONSE)
            out = os.path.join(tmp, "src", "protocol", "gen")
            self.assertEqual(gen_codec.main(["gen", msgs, out]), 0)
            self.assertEqual(gen_codec.main(["gen", "--check", msgs, out]), 0)
            with open(os.path.join(out, "synthetic.c"), "a") as f:
                f.write("/* edited */\n")
            self.assertEqual(gen_codec.main(["gen", "--check", msgs, out]), 1)
            self.assertEqual(gen_codec.main(["gen", msgs, out]), 0)

            driver = os.path.join(tmp, "driver.c")
            with open(driver, "w") as f:
                f.write(DRIVER)
            srcs = [driver,
                    os.path.join(tmp, "tests", "unit", "protocol",
                                 "gen_fill.c"),
                    os.path.join(ROOT, "src", "protocol", "prim.c"),
                    os.path.join(ROOT, "src", "common", "arena.c"),
                    os.path.join(ROOT, "src", "common", "heap.c"),
                    os.path.join(ROOT, "src", "common", "err.c")]
            srcs += sorted(os.path.join(out, fn) for fn in os.listdir(out)
                           if fn.endswith(".c"))
            exe = os.path.join(tmp, "driver")
            cmd = [CC, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                   "-Werror", "-Wshadow", "-Wstrict-prototypes",
                   "-Wmissing-prototypes",
                   "-Wvla", "-Wundef", "-g", "-fsanitize=address,undefined",
                   "-fno-sanitize-recover=undefined",
                   "-I", os.path.join(tmp, "src"),
                   "-I", os.path.join(tmp, "tests"),
                   "-I", os.path.join(ROOT, "src"),
                   "-o", exe] + srcs
            subprocess.run(cmd, check=True)
            subprocess.run([exe], check=True)

    def test_add_fields(self):
        js = json.loads(gen_codec.strip_comments(REQUEST))
        names = [f["name"] for f in js["fields"]]
        gen_codec.add_fields(js, [
            ("SyntheticRequest", "", "ClientId",
             {"name": "Top", "type": "int8", "versions": "0"}),
            ("OtherRequest", "", "Nope", {"name": "X", "type": "int8"}),
        ])
        self.assertEqual([f["name"] for f in js["fields"]],
                         names[:1] + ["Top"] + names[1:])

    def test_add_fields_nested_and_errors(self):
        js = json.loads(gen_codec.strip_comments(REQUEST))
        field = {"name": "Stamp", "type": "int64", "versions": "1",
                 "default": "-1"}
        gen_codec.add_fields(js, [("SyntheticRequest", "Opt", "A", field)])
        opt = [f for f in js["fields"] if f["name"] == "Opt"][0]
        self.assertEqual([f["name"] for f in opt["fields"]],
                         ["A", "Stamp", "S"])
        # Already there, no such struct, no such field, not a struct, a
        # struct given by a common type (no inline fields).
        for path, after in (("Opt", "A"), ("Nope", "A"), ("Opt", "Nope"),
                            ("Opt/A", "A"), ("Items/Sub", "X")):
            with self.assertRaises(gen_codec.GenError):
                gen_codec.add_fields(js, [("SyntheticRequest", path, after,
                                           field)])

    def test_unsupported_feature_is_an_error(self):
        bad = json.loads(REQUEST.split("\n", 2)[2])
        bad["fields"].append({"name": "Nt", "type": "Common",
                              "versions": "2+", "taggedVersions": "2+",
                              "tag": 9, "nullableVersions": "2+"})
        with tempfile.TemporaryDirectory() as tmp:
            msgs = os.path.join(tmp, "messages")
            os.makedirs(msgs)
            with open(os.path.join(msgs, "SyntheticRequest.json"), "w") as f:
                json.dump(bad, f)
            with open(os.path.join(msgs, "SyntheticResponse.json"), "w") as f:
                f.write(RESPONSE)
            out = os.path.join(tmp, "src", "protocol", "gen")
            self.assertEqual(gen_codec.main(["gen", msgs, out]), 1)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
