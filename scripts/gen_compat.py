#!/usr/bin/env python3
"""Write the API table of docs/compatibility.md: every Kafka API, the
versions Kafka 4.1 supports, the versions brokerd advertises.

Usage:
    scripts/gen_compat.py            rewrite the table in docs/compatibility.md
    scripts/gen_compat.py --check    exit 1 if the committed table is stale
    scripts/gen_compat.py --derive-kafka KAFKA_CLIENTS_JAR
                                     rewrite scripts/kafka_apis.tsv

Kafka's side comes from scripts/kafka_apis.tsv, derived once from the
message definitions inside Kafka 4.1's kafka-clients jar (the JSON files
under common/message/), so that the check needs neither ../shared nor a
Kafka installation. brokerd's side is read from its dispatch table
(src/api/dispatch.c), which is what ApiVersions answers from (api_versions.c);
tests/integration/test_compat_table.py checks the table against a running
brokerd's ApiVersions answer, so a parse mistake here cannot go unseen.
Python 3 standard library only.
"""

import json
import os
import re
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAFKA_TSV = os.path.join(ROOT, "scripts", "kafka_apis.tsv")
DISPATCH = os.path.join(ROOT, "src", "api", "dispatch.c")
API_H = os.path.join(ROOT, "src", "protocol", "gen", "api.h")
DOC = os.path.join(ROOT, "docs", "compatibility.md")
BEGIN = "<!-- api-table begin: written by scripts/gen_compat.py -->"
END = "<!-- api-table end -->"

# Kafka 4.1's ApiVersions answer differs from the JSON's stable range here
# (seen on a single-node KRaft Kafka 4.1.1's broker listener).
KAFKA_ADVERTISED = {
    0: ("0-13", "v0-2 refused, KAFKA-18659"),
}

# Why an API is missing from brokerd, or how it differs. Keys Kafka serves
# only on its controller listener are marked from the JSON's listeners.
NOTES = {
    17: "security: issue 15",
    22: "transactional ids answered UNSUPPORTED_VERSION (see Transactions)",
    24: "transactions: issue 14",
    25: "transactions: issue 14",
    26: "transactions: issue 14",
    27: "transactions: issue 14",
    28: "transactions: issue 14",
    29: "ACLs: issue 15",
    30: "ACLs: issue 15",
    31: "ACLs: issue 15",
    34: "no issue yet",
    35: "replication: issue 13",
    36: "security: issue 15",
    38: "delegation tokens: no issue yet",
    39: "delegation tokens: no issue yet",
    40: "delegation tokens: no issue yet",
    41: "delegation tokens: no issue yet",
    43: "forwarded to the active controller; preferred and unclean (no "
        "ELR: KIP-966 is not here)",
    45: "replication: issue 13",
    46: "replication: issue 13",
    48: "quotas: issue 15",
    49: "quotas: issue 15",
    50: "SCRAM: issue 15",
    51: "SCRAM: issue 15",
    56: "served (v0-3) to brokerd's partition leaders, not advertised: "
        "issue 13",
    55: "forwarded to the active controller; offsets count metadata "
        "records, directory ids are zero",
    57: "feature versions: issue 19",
    61: "transactions: issue 14",
    62: "cluster: issue 12",
    63: "cluster: issue 12",
    64: "no issue yet",
    65: "transactions: issue 14",
    66: "transactions: issue 14",
    67: "cluster: issue 12",
    71: "client metrics (KIP-714): issue 19; Kafka advertises it only "
        "with a metrics plugin",
    72: "client metrics (KIP-714): issue 19; Kafka advertises it only "
        "with a metrics plugin",
    74: "client metrics resources: issue 19",
    76: "share groups (KIP-932): no issue yet",
    77: "share groups (KIP-932): no issue yet",
    78: "share groups (KIP-932): no issue yet",
    79: "share groups (KIP-932): no issue yet",
    80: "no issue yet",
    81: "no issue yet",
    83: "share groups (KIP-932): no issue yet",
    84: "share groups (KIP-932): no issue yet",
    85: "share groups (KIP-932): no issue yet",
    86: "share groups (KIP-932): no issue yet",
    87: "share groups (KIP-932): no issue yet",
    88: "Kafka Streams groups (KIP-1071), unstable in 4.1",
    89: "Kafka Streams groups (KIP-1071), unstable in 4.1",
    90: "share groups (KIP-932): no issue yet",
    91: "share groups (KIP-932): no issue yet",
    92: "share groups (KIP-932): no issue yet",
}


def strip_comments(text):
    # Kafka's message JSON carries // comments, which json does not accept.
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def stable_range(valid, unstable):
    """validVersions minus the newest version when it is marked unstable
    (latestVersionUnstable: not advertised by a released broker)."""
    if valid == "none":
        return "removed"
    lo, _, hi = valid.partition("-")
    hi = hi or lo
    if unstable:
        hi = str(int(hi) - 1)
        if int(hi) < int(lo):
            return "unstable"
    return lo if lo == hi else "%s-%s" % (lo, hi)


def derive_kafka(jar):
    rows = []
    with zipfile.ZipFile(jar) as z:
        for name in z.namelist():
            if not re.match(r"common/message/\w+Request\.json$", name):
                continue
            d = json.loads(strip_comments(z.read(name).decode()))
            rows.append((d["apiKey"], d["name"][:-len("Request")],
                         stable_range(d["validVersions"],
                                      d.get("latestVersionUnstable", False)),
                         ",".join(d.get("listeners") or ["-"])))
    rows.sort()
    with open(KAFKA_TSV, "w") as f:
        f.write("# Generated by scripts/gen_compat.py --derive-kafka from %s's\n"
                "# common/message/*Request.json: key, name, stable versions,"
                " listeners.\n" % os.path.basename(jar))
        for r in rows:
            f.write("%d\t%s\t%s\t%s\n" % r)


def read_kafka():
    rows = []
    with open(KAFKA_TSV) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, name, versions, listeners = line.rstrip("\n").split("\t")
            rows.append((int(key), name, versions, listeners.split(",")))
    return rows


def read_brokerd():
    """{key: (advertised min, lowest served, max)}, as ApiVersions answers
    (advertised_min..max_version)."""
    with open(API_H) as f:
        enum = {m.group(1): int(m.group(2)) for m in
                re.finditer(r"\b(BK_API_\w+)\s*=\s*(\d+)", f.read())}
    with open(DISPATCH) as f:
        text = f.read()
    table = text[text.index("handlers[] = {"):]
    table = table[:table.index("\n};")]
    out = {}
    row = r"\{\s*(BK_API_\w+),\s*(\d+),\s*(\d+),\s*(\d+),\s*bk_handle_\w+\s*\}"
    for m in re.finditer(row, table):
        lo, hi, adv = int(m.group(2)), int(m.group(3)), int(m.group(4))
        key = enum[m.group(1)]
        out[key] = (adv, lo, hi)
    # A row this pattern does not read would drop an API from the table.
    if not out or len(out) != len(re.findall(r"\bBK_API_\w+", table)):
        sys.exit("gen_compat.py: cannot read every row of %s" % DISPATCH)
    return out


def show_range(ours):
    adv, lo, hi = ours
    text = str(adv) if adv == hi else "%d-%d" % (adv, hi)
    if lo > adv:
        text += " (v%d-%d refused)" % (adv, lo - 1)
    return text


def range_notes(versions, ours):
    """Where brokerd's range differs from Kafka's stable one."""
    adv, _, hi = ours
    klo, _, khi = versions.partition("-")
    klo, khi = int(klo), int(khi or klo)
    notes = []
    if hi < khi:
        notes.append("not yet: v%s" % (str(khi) if khi == hi + 1
                                         else "%d-%d" % (hi + 1, khi)))
    if adv < klo:
        notes.append("v%s kept for older clients (dispatch.c)"
                     % (str(adv) if adv == klo - 1
                        else "%d-%d" % (adv, klo - 1)))
    return notes


def table():
    brokerd = read_brokerd()
    lines = ["| Key | API | Kafka 4.1 | brokerd | Notes |",
             "|---:|---|---|---|---|"]
    for key, name, versions, listeners in read_kafka():
        kafka = versions
        if key in KAFKA_ADVERTISED:
            versions, why = KAFKA_ADVERTISED[key]
            kafka = "%s (%s)" % (versions, why)
        notes = []
        if versions == "removed":
            notes.append("ZooKeeper-era, removed in Kafka 4.0")
        elif "broker" not in listeners:
            notes.append("controller-only: clients never send it")
        if key in NOTES:
            notes.append(NOTES[key])
        ours = brokerd.pop(key, None)
        if ours is not None:
            notes = range_notes(versions, ours) + notes
            ours = show_range(ours)
        else:
            ours = "-" if versions == "removed" else "not implemented"
        lines.append("| %d | %s | %s | %s | %s |" %
                     (key, name, kafka, ours, "; ".join(notes)))
    if brokerd:
        sys.exit("gen_compat.py: keys %s are not in %s"
                 % (sorted(brokerd), KAFKA_TSV))
    return "\n".join(lines) + "\n"


def render(doc):
    if BEGIN not in doc or END not in doc:
        sys.exit("gen_compat.py: %s lacks the api-table markers" % DOC)
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + "\n" + table() + END + tail


def main(argv):
    if len(argv) == 3 and argv[1] == "--derive-kafka":
        derive_kafka(argv[2])
        return 0
    with open(DOC) as f:
        doc = f.read()
    new = render(doc)
    if len(argv) == 2 and argv[1] == "--check":
        if new != doc:
            print("docs/compatibility.md: the API table is stale; run "
                  "scripts/gen_compat.py")
            return 1
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(DOC, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
