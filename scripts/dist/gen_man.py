#!/usr/bin/env python3
"""Writes the man pages brokerd.8 and brokerctl.1 from the programs
themselves, so they cannot drift from the code: brokerd.8 from
`brokerd --help` and `brokerd --config-doc` (the settings table of
src/server/config.c), brokerctl.1 from `brokerctl --help`.

    dist/gen_man.py BROKERD BROKERCTL OUTDIR
"""
import os
import re
import subprocess
import sys


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          text=True).stdout


def esc(text):
    """Text for roff: backslashes doubled, a leading dot or quote kept
    from being read as a request, Markdown's `code` as bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]*)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*([^*]+)\*", r"\\fI\1\\fR", text)
    if text[:1] in (".", "'"):
        text = "\\&" + text
    return text


def verbatim(lines):
    out = [".nf"]
    for l in lines:
        out.append(esc(l) if l.strip() else "")
    out.append(".fi")
    return out


def config_sections(md):
    """(title, intro, [(name, facts, doc)]) per '## ' part of the
    settings reference: facts from its table, doc from its ### section."""
    parts = []
    for part in re.split(r"^## ", md, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        intro = body.strip().split("\n\n")[0]
        head = None
        facts = {}
        for line in body.splitlines():
            if not line.startswith("| "):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if head is None:
                head = cells
            elif not set(line) <= set("|- "):
                facts[cells[0].strip("`")] = list(zip(head[1:], cells[1:]))
        entries = []
        for m in re.finditer(r"^### `([^`]+)`\n\n(.*?)(?=^### |\Z)", body,
                             flags=re.M | re.S):
            entries.append((m.group(1), facts.get(m.group(1), []),
                            m.group(2).strip()))
        parts.append((title.strip(), intro, entries))
    return parts


def brokerd_page(brokerd, version):
    out = ['.TH BROKERD 8 "" "brokerd %s" "System Administration"' % version,
           ".SH NAME", "brokerd \\- a Kafka\\-compatible event broker",
           ".SH SYNOPSIS"]
    out += verbatim(run(brokerd, "--help").rstrip().splitlines())
    out += [".SH DESCRIPTION",
            "brokerd speaks the Apache Kafka wire protocol, so Kafka "
            "clients and tools work with it unchanged. It reads Kafka\\-style "
            "\\fIkey\\fR=\\fIvalue\\fR properties from the file given with "
            "\\fB\\-c\\fR; an unknown key or a bad value stops start\\-up.",
            ".PP",
            "Run by systemd (\\fBbrokerd.service\\fR, Type=notify) it sends "
            "READY=1 to \\fB$NOTIFY_SOCKET\\fR once it serves and "
            "STOPPING=1 when it begins to shut down.",
            ".SH SIGNALS", ".TP", ".B SIGTERM, SIGINT",
            "Controlled shutdown: leaderships move away, requests in flight "
            "are answered, the logs are closed cleanly. A second signal "
            "exits at once."]
    md = run(brokerd, "--config-doc")
    for title, intro, entries in config_sections(md):
        out += [".SH " + esc(title.upper()), esc(intro)]
        for name, facts, doc in entries:
            out += [".TP", ".B " + esc(name)]
            shown = ["%s: %s" % (k, v) for k, v in facts if v]
            if shown:
                out += [esc("; ".join(shown)), ".br"]
            out.append(esc(doc.replace("\n", " ")))
    out += [".SH FILES", ".TP", ".I /etc/brokerd/brokerd.conf",
            "the configuration the service starts with", ".TP",
            ".I /var/lib/brokerd", "the data directory (\\fBlog.dirs\\fR)",
            ".SH SEE ALSO", "\\fBbrokerctl\\fR(1)"]
    return "\n".join(out) + "\n"


def brokerctl_page(brokerctl, version):
    help_text = run(brokerctl, "--help").rstrip().splitlines()
    out = ['.TH BROKERCTL 1 "" "brokerd %s" "User Commands"' % version,
           ".SH NAME", "brokerctl \\- administer and use a brokerd or Kafka "
           "cluster", ".SH SYNOPSIS"]
    out += verbatim(help_text[:1])
    out += [".SH DESCRIPTION",
            "brokerctl talks the Kafka protocol to the broker given with "
            "\\fB\\-b\\fR and prints tables, or JSON with \\fB\\-\\-json\\fR."]
    section = None
    for line in help_text[1:]:
        if line.endswith(":") and not line.startswith(" "):
            section = line[:-1].upper()
            out += [".SH " + esc(section)]
            continue
        if not line.strip():
            continue
        # Commands and options: a name column, then its description;
        # continuation lines are indented past the name column.
        m = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
        if m and not line.startswith("    "):
            out += [".TP", ".B " + esc(m.group(1))]
            if m.group(2):
                out.append(esc(m.group(2)))
        else:
            out.append(esc(line.strip()))
    out += [".SH EXIT STATUS", "0 on success, non\\-zero on an error, "
            "which is printed on standard error.",
            ".SH SEE ALSO", "\\fBbrokerd\\fR(8)"]
    return "\n".join(out) + "\n"


def main():
    brokerd, brokerctl, outdir = sys.argv[1:4]
    version = run(brokerd, "--version").split()[-1]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "brokerd.8"), "w") as f:
        f.write(brokerd_page(brokerd, version))
    with open(os.path.join(outdir, "brokerctl.1"), "w") as f:
        f.write(brokerctl_page(brokerctl, version))


if __name__ == "__main__":
    main()
