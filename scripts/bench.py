#!/usr/bin/env python3
"""brokerd against Apache Kafka, side by side, same machine, same load.

Run through scripts/bench (see `scripts/bench --help` and docs/benchmarks.md).
Standard library only. What it does, in order:

1. installs what is missing: Apache Kafka 4.x and its tools from Maven
   Central (bench/kafka/pom.xml, copied into .deps/kafka/lib), and builds
   brokerd (build/release) unless --brokerd names a binary;
2. starts each broker fresh on its own free 127.0.0.1 port and data
   directory under one temporary folder (Kafka: a single-node KRaft
   directory formatted by Kafka's StorageTool, combined mode), measuring
   the time to the first answered request and the idle RSS;
3. runs every workload against both brokers alternately (A B A B ...),
   with the same load generator and the same client settings;
4. prints a table of medians and brokerd/Kafka ratios, writes
   bench-out/<stamp>/results.json, and (for --quick and the full run)
   rewrites its section of docs/benchmarks.md;
5. stops every process it started and removes the temporary folder: on
   success, on error, on Ctrl-C and on SIGTERM.

A failing brokerd workload is reported as "unsupported (error: see [n])",
note [n] quoting the broker's error, never as a number. See SMOKE RULE in check().
"""
import argparse
import base64
import datetime
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POM_DIR = os.path.join(ROOT, "bench", "kafka")
DEPS = os.path.join(ROOT, ".deps", "kafka")
LIB = os.path.join(DEPS, "lib")
TOOL_JAR = os.path.join(LIB, "brokerd-bench-0.1.0.jar")
DOC = os.path.join(ROOT, "docs", "benchmarks.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024.0 * 1024.0
GIB = 1024.0 * MIB

# Kafka's own JVM settings, as bin/kafka-server-start.sh and
# bin/kafka-run-class.sh set them.
KAFKA_JVM = ["-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC",
             "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
             "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15",
             "-Djava.awt.headless=true"]
TOOL_JVM = ["-Xmx1G", "-server", "-XX:+UseG1GC", "-Djava.awt.headless=true"]

# Loads per mode. Sizes are per run; reps is how many times each broker
# runs each workload (A B A B ...).
MODES = {
    "smoke": dict(reps=1, startups=1, settle=1.0,
                  produce={1024: 20_000, 100: 60_000},
                  produce_durable={1024: 5_000, 100: 20_000}, backlog=20_000, consume_reps=1,
                  e2e_rate=200, e2e_seconds=2.0, e2e_warmup=0.5,
                  run_timeout=30),
    "quick": dict(reps=2, startups=2, settle=3.0,
                  produce={1024: 100_000, 100: 300_000},
                  produce_durable={1024: 15_000, 100: 100_000}, backlog=300_000, consume_reps=3,
                  e2e_rate=1000, e2e_seconds=6.0, e2e_warmup=2.0,
                  run_timeout=120),
    "full": dict(reps=3, startups=3, settle=5.0,
                 produce={1024: 400_000, 100: 1_500_000},
                 produce_durable={1024: 50_000, 100: 300_000}, backlog=1_000_000, consume_reps=5,
                 e2e_rate=1000, e2e_seconds=15.0, e2e_warmup=5.0,
                 run_timeout=240),
}

# Project targets (brief / issue 7), shown beside the ratios.
TARGETS = {"produce": ">= 2", "consume": ">= 2", "e2e_p99": "<= 0.2",
           "rss_idle": "<= 0.1", "rss_peak": "<= 0.1", "startup": "<= 0.02"}

_children = []          # every process we started, for cleanup
_children_lock = threading.Lock()


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def _on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


# --- processes -------------------------------------------------------------

def spawn(argv, out_path, env=None):
    """Starts argv in its own process group (so a terminal's Ctrl-C reaches
    only us, and we stop the children in order), output to out_path."""
    out = open(out_path, "ab")
    try:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             env=env, cwd=ROOT)
    finally:
        out.close()
    with _children_lock:
        _children.append(p)
    return p


def stop_proc(p, timeout=30.0):
    """SIGTERM to the process group, then SIGKILL after timeout."""
    if p is None:
        return None
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)
    with _children_lock:
        if p in _children:
            _children.remove(p)
    return p.returncode


def stop_all():
    with _children_lock:
        procs = list(_children)
    for p in reversed(procs):
        try:
            stop_proc(p, timeout=15.0)
        except Exception as e:  # keep stopping the others
            log("could not stop pid %d: %s" % (p.pid, e))


def run_tool(argv, out_path, timeout):
    """Runs a load-generator JVM to completion; returns (rc, output)."""
    p = spawn(argv, out_path)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_proc(p, timeout=5.0)
        rc = None
    with _children_lock:
        if p in _children:
            _children.remove(p)
    with open(out_path, "r", errors="replace") as f:
        out = f.read()
    return rc, out


class ToolServer:
    """The load generator: one JVM running `brokerd.bench.Tool serve`, fed
    one command a line. Restarted if a command hangs past its timeout."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.proc = None
        self.lines = None

    def _start(self):
        import queue
        self.proc = subprocess.Popen(tool_argv("brokerd.bench.Tool", "serve"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=ROOT, text=True, bufsize=1)
        with _children_lock:
            _children.append(self.proc)
        self.lines = queue.Queue()
        proc, lines = self.proc, self.lines

        def pump():
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)
        threading.Thread(target=pump, daemon=True).start()

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            stop_proc(self.proc, timeout=10.0)
            self.proc = None

    def call(self, argv, log_path, timeout):
        """Runs one command; returns (rc, output): rc 0 ok, 1 error, None timeout."""
        import queue
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        out = []
        rc = 0
        try:
            self.proc.stdin.write("\t".join(argv) + "\n")
            self.proc.stdin.flush()
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise queue.Empty
                line = self.lines.get(timeout=left)
                if line is None:
                    out.append("ERROR load generator exited (code %s)\n" % self.proc.wait())
                    self.proc = None
                    rc = 1
                    break
                if line.rstrip("\n") == "@@DONE":
                    break
                out.append(line)
        except queue.Empty:
            out.append("ERROR timed out after %d s\n" % timeout)
            self.stop()
            rc = None
        except (BrokenPipeError, OSError) as e:
            out.append("ERROR load generator: %s\n" % e)
            self.stop()
            rc = 1
        text = "".join(out)
        if rc == 0 and any(line.startswith("ERROR ") for line in out):
            rc = 1
        with open(log_path, "w") as f:
            f.write("$ " + " ".join(argv) + "\n" + text)
        return rc, text


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
        fields = data[data.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


class RssSampler:
    """Samples a process's RSS every 50 ms while a workload runs."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            r = proc_rss_kib(self.pid)
            if r:
                self.peak = max(self.peak, r)
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


# --- Kafka protocol: ApiVersions v0, enough to probe readiness -------------

def api_versions(port, timeout=1.0):
    """Sends ApiVersions v0; returns {api_key: (min, max)} or raises."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        cid = b"brokerd-bench"
        body = struct.pack(">hhih", 18, 0, 1, len(cid)) + cid
        s.sendall(struct.pack(">i", len(body)) + body)
        buf = b""
        while len(buf) < 4:
            chunk = s.recv(4 - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        (size,) = struct.unpack(">i", buf)
        frame = b""
        while len(frame) < size:
            chunk = s.recv(size - len(frame))
            if not chunk:
                raise ConnectionError("closed")
            frame += chunk
    corr, err, n = struct.unpack_from(">ihi", frame, 0)
    if corr != 1 or err != 0:
        raise ConnectionError("ApiVersions error %d" % err)
    keys = {}
    pos = 10
    for _ in range(n):
        k, lo, hi = struct.unpack_from(">hhh", frame, pos)
        pos += 6
        keys[k] = (lo, hi)
    return keys


def wait_ready(port, proc, timeout):
    """Polls until an ApiVersions request is answered; returns the keys."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with code %s during start-up" % proc.returncode)
        try:
            return api_versions(port, timeout=1.0)
        except (OSError, ConnectionError, struct.error):
            time.sleep(0.005)
    raise RuntimeError("no answer to ApiVersions within %.0f s" % timeout)


# --- brokers ---------------------------------------------------------------

def java_cp():
    return os.path.join(LIB, "*")


class Broker:
    kind = None

    def __init__(self, name, label, tmp):
        self.name = name
        self.label = label
        self.tmp = tmp
        self.proc = None
        self.port = None
        self.starts = 0
        self.keys = {}

    @property
    def bootstrap(self):
        return "127.0.0.1:%d" % self.port

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts a fresh instance; returns seconds to the first answer."""
        self.starts += 1
        self.dir = os.path.join(self.tmp, "%s-%d" % (self.name, self.starts))
        os.makedirs(self.dir)
        self.port = free_port()
        argv = self.prepare()
        t0 = time.monotonic()
        self.proc = spawn(argv, os.path.join(self.dir, "stdout.log"))
        try:
            self.keys = wait_ready(self.port, self.proc, 120.0)
        except RuntimeError as e:
            raise RuntimeError("%s: %s; last output:\n%s" % (self.label, e, self.tail()))
        return time.monotonic() - t0

    def stop(self):
        if self.proc is not None:
            stop_proc(self.proc, timeout=60.0)
            self.proc = None

    def tail(self, n=30):
        try:
            with open(os.path.join(self.dir, "stdout.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def durable_topic_config(self):
        return {}


class Kafka(Broker):
    kind = "kafka"

    def prepare(self):
        cport = free_port()
        data = os.path.join(self.dir, "data")
        conf = os.path.join(self.dir, "server.properties")
        # Kafka's config/server.properties for KRaft combined mode, reduced
        # to one node on 127.0.0.1; everything else is Kafka's default.
        with open(conf, "w") as f:
            f.write("\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                "controller.quorum.voters=1@127.0.0.1:%d" % cport,
                "listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (self.port, cport),
                "advertised.listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "log.dirs=%s" % data,
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "",
            ]))
        log4j = os.path.join(self.dir, "log4j2.properties")
        with open(log4j, "w") as f:
            f.write("\n".join([
                "status = error",
                "appender.file.type = File",
                "appender.file.name = FILE",
                "appender.file.fileName = %s" % os.path.join(self.dir, "server.log"),
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = FILE",
                "",
            ]))
        # Kafka's Uuid.randomUuid() draws again when the text starts with
        # "-": the tool's argument parser would take it for an option (1 run
        # in 64 failed "expected one argument" before this loop).
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        jvm = ["java", "-Xmx256M", "-Dlog4j2.configurationFile=" + log4j,
               "-cp", java_cp()]
        rc, out = run_tool(jvm + ["kafka.tools.StorageTool", "format", "-t", cluster_id,
                                  "-c", conf, "--ignore-formatted"],
                           os.path.join(self.dir, "format.log"), 120)
        if rc != 0:
            raise RuntimeError("kafka-storage format failed (rc %s):\n%s" % (rc, out[-3000:]))
        return (["java"] + KAFKA_JVM + ["-Dlog4j2.configurationFile=" + log4j,
                                         "-Dkafka.logs.dir=" + self.dir,
                                         "-cp", java_cp(), "kafka.Kafka", conf])

    def durable_topic_config(self):
        # Kafka does not fsync by default; flush.messages=1 makes it flush
        # the log after every appended batch, before the answer.
        return {"flush.messages": "1"}

    def tail(self, n=30):
        text = Broker.tail(self, n)
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                text += "".join(f.readlines()[-n:])
        except OSError:
            pass
        return text


class Brokerd(Broker):
    kind = "brokerd"

    def __init__(self, name, label, tmp, binary):
        Broker.__init__(self, name, label, tmp)
        self.binary = binary

    def prepare(self):
        conf = os.path.join(self.dir, "brokerd.conf")
        with open(conf, "w") as f:
            f.write("node.id=1\nlisteners=PLAINTEXT://127.0.0.1:%d\nlog.dirs=%s\n"
                    % (self.port, os.path.join(self.dir, "data")))
        return [self.binary, "-c", conf]

    # brokerd's default is already durable: fsync (grouped) before the
    # acks=all answer. Nothing to add for the durable rows.


# --- installing what is missing --------------------------------------------

def sudo(argv):
    return argv if os.geteuid() == 0 else ["sudo"] + argv


def ensure_java():
    missing = [pkg for cmd, pkg in (("java", "default-jdk-headless"), ("mvn", "maven"))
               if shutil.which(cmd) is None]
    if missing:
        log("installing %s" % " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo(["apt-get", "update", "-qq"]), check=True, env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(sudo(["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
                            + missing), check=True, env=env, stdout=subprocess.DEVNULL)


def ensure_kafka():
    """Kafka, its tools and our helpers into .deps/kafka/lib, if stale."""
    os.makedirs(DEPS, exist_ok=True)
    with open(os.path.join(DEPS, ".lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)   # concurrent runs share .deps
        newest = 0.0
        for d, _, files in os.walk(POM_DIR):
            for f in files:
                newest = max(newest, os.path.getmtime(os.path.join(d, f)))
        if os.path.exists(TOOL_JAR) and os.path.getmtime(TOOL_JAR) >= newest \
                and os.path.exists(os.path.join(DEPS, ".complete")):
            return
        ensure_java()
        log("installing Apache Kafka and its tools from Maven Central into .deps/kafka")
        if os.path.isdir(LIB):
            shutil.rmtree(LIB)
        try:
            os.remove(os.path.join(DEPS, ".complete"))
        except FileNotFoundError:
            pass
        mvn_log = os.path.join(DEPS, "mvn.log")
        with open(mvn_log, "w") as out:
            rc = subprocess.call(["mvn", "-q", "-B", "-Dstyle.color=never", "package",
                                  "-DskipTests"], cwd=POM_DIR, stdout=out,
                                 stderr=subprocess.STDOUT)
        if rc != 0 or not os.path.exists(TOOL_JAR):
            with open(mvn_log, errors="replace") as f:
                raise RuntimeError("Maven failed (rc %d):\n%s" % (rc, f.read()[-4000:]))
        open(os.path.join(DEPS, ".complete"), "w").close()


def kafka_version():
    for f in os.listdir(LIB):
        m = re.match(r"kafka_2\.13-(.+)\.jar$", f)
        if m:
            return m.group(1)
    return "?"


def ensure_brokerd(args):
    if args.brokerd:
        return os.path.abspath(args.brokerd)
    if os.environ.get("BROKERD"):
        return os.environ["BROKERD"]
    binary = os.path.join(ROOT, "build", "release", "bin", "brokerd")
    if args.no_build and os.path.exists(binary):
        return binary
    log("building brokerd (build/release)")
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "deps"), "build"], check=True)
    for argv in (["cmake", "-S", ".", "-B", "build/release", "-DCMAKE_BUILD_TYPE=Release"],
                 ["cmake", "--build", "build/release", "-j%d" % (os.cpu_count() or 2),
                  "--target", "brokerd"]):
        r = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("building brokerd failed:\n%s" % r.stdout[-4000:])
    return binary


# --- workloads ---------------------------------------------------------------

def tool_argv(*args):
    return ["java"] + TOOL_JVM + ["-Dlog4j2.configurationFile=" + os.path.join(DEPS, "tools-log4j2.properties"),
                                  "-cp", java_cp()] + list(args)


def write_tools_log4j():
    path = os.path.join(DEPS, "tools-log4j2.properties")
    with open(path, "w") as f:
        f.write("status = error\nappender.err.type = Console\nappender.err.name = STDERR\n"
                "appender.err.target = SYSTEM_ERR\nappender.err.layout.type = PatternLayout\n"
                "appender.err.layout.pattern = [%d] %p %m (%c)%n\n"
                "rootLogger.level = WARN\nrootLogger.appenderRef.err.ref = STDERR\n")


def first_error(out):
    """The first exception or ERROR line a tool printed, if any."""
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("ERROR "):
            return s[6:]
        m = re.match(r"^(?:Exception in thread \"[^\"]*\" )?((?:[a-z][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))(?::\s*(.*))?$", s)
        if m:
            return "%s: %s" % (m.group(1).rsplit(".", 1)[-1], m.group(2) or "")
    return None


PP_RE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), "
                   r"([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, "
                   r"(\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def parse_result(out):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    return None


class Bench:
    def __init__(self, args, mode, tmp, brokers, outdir):
        self.args = args
        self.mode = mode
        self.cfg = MODES[mode]
        self.tmp = tmp
        self.brokers = brokers          # [A (Kafka), B (brokerd or Kafka)]
        self.outdir = outdir
        self.runs = []                  # every single measurement
        self.blocked = {}               # broker name -> error that stops its workloads
        self.seq = 0
        self.failed = {}                # (broker, workload) -> error
        self.server = ToolServer(outdir)

    # each run: dict(workload, broker, rep, ok, error, values...)
    def record(self, workload, broker, rep, ok, error=None, **values):
        if not ok and broker.proc is not None and not broker.alive() and "exited" not in error:
            # the broker died under this run: say so, not only what the client saw
            error = "%s exited (code %s) during the run; the client got: %s" % (
                broker.label, broker.proc.returncode, error)
        r = dict(workload=workload, broker=broker.name, rep=rep, ok=ok, error=error)
        r.update(values)
        self.runs.append(r)
        status = ("ok " + ", ".join("%s=%s" % (k, _fmt_num(v)) for k, v in values.items()
                                    if k in ("rec_s", "mb_s", "p50", "p99", "p999", "seconds", "rss_mib")))\
            if ok else "FAILED: %s" % error
        log("%-34s %-8s rep %d: %s" % (workload, broker.label, rep + 1, status))
        return r

    def tool(self, broker, name, argv, timeout=None):
        self.seq += 1
        path = os.path.join(self.outdir, "runs", "%03d-%s-%s.log" % (self.seq, broker.name, name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return self.server.call(argv, path, timeout or self.cfg["run_timeout"])

    def check_alive(self, broker):
        if broker.name in self.blocked:
            return self.blocked[broker.name]
        if not broker.alive():
            err = "%s exited (code %s)" % (broker.label, broker.proc.returncode if broker.proc else "?")
            self.blocked[broker.name] = err
            return err
        return None

    # -- start-up and idle RSS
    def startups(self):
        for rep in range(self.cfg["startups"]):
            for b in self.brokers:
                b.stop()
                try:
                    secs = b.start()
                except RuntimeError as e:
                    self.record("startup", b, rep, False, error=str(e).splitlines()[0])
                    if b.kind == "kafka" or rep == self.cfg["startups"] - 1:
                        raise
                    continue
                self.record("startup", b, rep, True, seconds=secs)
                time.sleep(self.cfg["settle"])
                rss = proc_rss_kib(b.pid)
                self.record("rss_idle", b, rep, rss is not None,
                            error=None if rss else "no RSS", rss_mib=(rss or 0) / 1024.0)

    # -- topics
    def topic_specs(self, broker):
        specs = []
        for w in self.produce_workloads():
            cfg = broker.durable_topic_config() if w["durable"] else {}
            specs.append((w["topic"], w["partitions"], cfg))
        specs.append(("backlog", 12, {}))
        for w in self.e2e_workloads():
            cfg = broker.durable_topic_config() if w["durable"] else {}
            for rep in range(self.cfg["reps"]):
                specs.append(("%s-%d" % (w["topic"], rep), 1, cfg))
        return specs

    def create_topics(self):
        for b in self.brokers:
            if self.check_alive(b):
                if b.kind == "kafka":
                    raise RuntimeError(self.check_alive(b))
                continue
            specs = ["%s:%d:%s" % (t, p, ",".join("%s=%s" % kv for kv in sorted(c.items())))
                     for t, p, c in self.topic_specs(b)]
            rc, out = self.tool(b, "topics", timeout=max(60, self.cfg["run_timeout"]), argv=("topics",
                                                       "--bootstrap", b.bootstrap, *specs))
            if rc != 0:
                err = "creating topics: " + (first_error(out) or "rc %s" % rc)
                log("%s: %s" % (b.label, err))
                if b.kind == "kafka":
                    raise RuntimeError("%s: %s\n%s" % (b.label, err, out[-3000:]))
                self.blocked[b.name] = err

    # -- produce
    def produce_workloads(self):
        out = []
        for durable in (False, True):
            for size in (1024, 100):
                for acks in ("1", "all"):
                    if durable and acks != "all":
                        continue
                    for parts in (1, 12):
                        out.append(dict(
                            id="produce %s acks=%s %dp" % ("1KiB" if size == 1024 else "100B", acks, parts),
                            size=size, acks=acks, partitions=parts, durable=durable,
                            topic="p-%d-%s-%d%s" % (size, acks, parts, "-dur" if durable else "")))
        return out

    def producer_perf(self, b, topic, size, acks, records, name):
        argv = ("pp", "--topic", topic, "--num-records", str(records),
                         "--record-size", str(size), "--throughput", "-1",
                         "--producer-props", "bootstrap.servers=" + b.bootstrap,
                         "acks=" + acks, "enable.idempotence=false", "max.block.ms=20000",
                         "delivery.timeout.ms=60000")
        argv = list(argv)
        cpu0 = proc_cpu_seconds(b.pid)
        with RssSampler(b.pid) as rs:
            rc, out = self.tool(b, name, argv)
        cpu1 = proc_cpu_seconds(b.pid)
        err = first_error(out)
        m = None
        for m in PP_RE.finditer(out):
            pass
        if rc is None:
            err = "timed out after %d s" % self.cfg["run_timeout"]
        elif rc != 0 and not err:
            err = "ProducerPerformance exited with code %d" % rc
        elif not err and (m is None or int(m.group(1)) != records):
            err = "sent %s of %d records" % (m.group(1) if m else 0, records)
        if err:
            return None, err
        vals = dict(records=int(m.group(1)), rec_s=float(m.group(2)), mb_s=float(m.group(3)),
                    bytes=int(m.group(1)) * size, peak_rss_mib=rs.peak / 1024.0,
                    cpu_s=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None)
        if vals["cpu_s"] is not None:
            vals["cpu_s_per_gib"] = vals["cpu_s"] / (vals["bytes"] / GIB)
        return vals, None

    def produce(self):
        for w in self.produce_workloads():
            records = self.cfg["produce_durable" if w["durable"] else "produce"][w["size"]]
            for rep in range(self.cfg["reps"]):
                for b in self.brokers:
                    wid = w["id"] + (" durable" if w["durable"] else "")
                    # a brokerd workload that failed once is not retried
                    blocked = self.check_alive(b) or self.failed.get((b.name, wid))
                    if blocked:
                        self.record(wid, b, rep, False, error=blocked)
                        continue
                    vals, err = self.producer_perf(b, w["topic"], w["size"], w["acks"], records, "produce")
                    if err:
                        self.record(wid, b, rep, False, error=err)
                        if b.kind == "brokerd":
                            self.failed[(b.name, wid)] = err
                    else:
                        self.record(wid, b, rep, True, **vals)

    # -- consume from a warm backlog
    def consume(self):
        records = self.cfg["backlog"]
        filled = {}
        for b in self.brokers:
            blocked = self.check_alive(b)
            if blocked:
                continue
            vals, err = self.producer_perf(b, "backlog", 1024, "1", records, "backlog")
            if err:
                filled[b.name] = "filling the backlog: " + err
            log("%s: backlog of %d x 1 KiB records %s" % (b.label, records, "ready" if not err else "FAILED: " + err))
        # one unmeasured pass each first (smoke: none): otherwise A, which
        # always goes first, would meet the consumer code still cold
        warmup = [-1] if self.mode != "smoke" else []
        for rep in warmup + list(range(self.cfg["consume_reps"])):
            for b in self.brokers:
                blocked = self.check_alive(b) or filled.get(b.name)
                if blocked:
                    if rep >= 0:
                        self.record("consume", b, rep, False, error=blocked)
                    continue
                cpu0 = proc_cpu_seconds(b.pid)
                rc, out = self.tool(b, "consume", (
                    "consume", "--bootstrap", b.bootstrap,
                    "--topic", "backlog", "--partitions", "12", "--records", str(records)))
                cpu1 = proc_cpu_seconds(b.pid)
                res = parse_result(out)
                if rc != 0 or res is None:
                    err = first_error(out) or ("timed out" if rc is None else "rc %s" % rc)
                    self.record("consume", b, max(rep, 0), False, error=err)
                    continue
                if rep < 0:
                    log("%s: consumer warm-up pass done" % b.label)
                    continue
                vals = dict(rec_s=res["records_per_s"], mb_s=res["mb_per_s"], bytes=res["bytes"],
                            seconds=res["seconds"])
                if cpu0 is not None and cpu1 is not None:
                    vals["cpu_s_per_gib"] = (cpu1 - cpu0) / (res["bytes"] / GIB)
                self.record("consume", b, rep, True, **vals)

    # -- end-to-end latency at a fixed rate
    def e2e_workloads(self):
        return [dict(id="e2e", durable=False, topic="e2e"),
                dict(id="e2e durable", durable=True, topic="e2e-dur")]

    def e2e(self):
        for w in self.e2e_workloads():
            for rep in range(self.cfg["reps"]):
                for b in self.brokers:
                    blocked = self.check_alive(b)
                    if blocked:
                        self.record(w["id"], b, rep, False, error=blocked)
                        continue
                    rc, out = self.tool(b, "e2e", (
                        "e2e", "--bootstrap", b.bootstrap,
                        "--topic", "%s-%d" % (w["topic"], rep), "--rate", str(self.cfg["e2e_rate"]),
                        "--seconds", str(self.cfg["e2e_seconds"]),
                        "--warmup", str(self.cfg["e2e_warmup"]), "--size", "1024", "--acks", "all"),
                        timeout=self.cfg["run_timeout"] + self.cfg["e2e_seconds"])
                    res = parse_result(out)
                    if rc != 0 or res is None:
                        err = first_error(out) or ("timed out" if rc is None else "rc %s" % rc)
                        self.record(w["id"], b, rep, False, error=err)
                        continue
                    self.record(w["id"], b, rep, True, p50=res["p50_ms"], p99=res["p99_ms"],
                                p999=res["p999_ms"], max=res["max_ms"], count=res["count"])


# --- results -----------------------------------------------------------------

def _fmt_num(v):
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 100 else "%.0f" % v
    return str(v)


def human(v):
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def build_rows(bench):
    """One row per reported figure: medians over runs, brokerd/Kafka ratio."""
    A, B = bench.brokers
    runs = bench.runs

    def side(workload, broker, key, agg="median"):
        rs = [r for r in runs if r["workload"] == workload and r["broker"] == broker.name]
        ok = [r[key] for r in rs if r["ok"] and r.get(key) is not None]
        errs = [r["error"] for r in rs if not r["ok"]]
        if ok and not errs:
            return dict(value=(statistics.median(ok) if agg == "median" else max(ok)), values=ok)
        return dict(value=None, values=ok, error=(errs[0] if errs else "did not run"))

    rows = []

    def add(group, name, durability, unit, better, target, workload, key, fmt,
            agg="median", extra=None):
        a, b = side(workload, A, key, agg), side(workload, B, key, agg)
        for s, br in ((a, A), (b, B)):
            if s["value"] is not None:
                s["cell"] = fmt(s["value"])
                if extra:
                    s["cell"] += extra(workload, br)
        ratio = (b["value"] / a["value"]) if a["value"] and b["value"] is not None else None
        rows.append(dict(group=group, name=name, durability=durability, unit=unit, better=better,
                         target=target, workload=workload, key=key, a=a, b=b, ratio=ratio))

    def mbs(workload, br):
        s = side(workload, br, "mb_s")
        return ", %.1f MB/s" % s["value"] if s["value"] is not None else ""

    for w in bench.produce_workloads():
        wid = w["id"] + (" durable" if w["durable"] else "")
        dur = "fsync/batch" if w["durable"] else "default"
        add("produce", w["id"], dur, "rec/s", "higher", TARGETS["produce"], wid, "rec_s",
            lambda v: human(v) + " rec/s", extra=mbs)
    add("consume", "consume 1KiB 12p, warm backlog", "-", "MB/s", "higher", TARGETS["consume"],
        "consume", "mb_s", lambda v: "%.1f MB/s" % v)
    for w in bench.e2e_workloads():
        dur = "fsync/batch" if w["durable"] else "default"
        for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
            add("e2e", "e2e latency %s, 1KiB acks=all %d/s" % (label, bench.cfg["e2e_rate"]), dur,
                "ms", "lower", TARGETS["e2e_p99"] if key == "p99" else "", w["id"], key,
                lambda v: "%.2f ms" % v)
    add("memory", "RSS idle after start", "-", "MiB", "lower", TARGETS["rss_idle"], "rss_idle",
        "rss_mib", lambda v: "%.1f MiB" % v)
    # peak over every produce run, and CPU seconds per GiB over the
    # produce runs and the consume runs: pooled across workloads
    prod = [r for r in runs if r["workload"].startswith("produce")]
    for label, key, agg, fmt, target, wl in (
            ("RSS peak during produce", "peak_rss_mib", "max", lambda v: "%.1f MiB" % v,
             TARGETS["rss_peak"], prod),
            ("CPU s per GiB produced", "cpu_s_per_gib", "median", lambda v: "%.2f s" % v, "", prod),
            ("CPU s per GiB consumed", "cpu_s_per_gib", "median", lambda v: "%.2f s" % v, "",
             [r for r in runs if r["workload"] == "consume"])):
        cells = []
        for br in (A, B):
            rs = [r for r in wl if r["broker"] == br.name]
            ok = [r[key] for r in rs if r["ok"] and r.get(key) is not None]
            errs = [r["error"] for r in rs if not r["ok"]]
            if ok and not errs:
                v = max(ok) if agg == "max" else statistics.median(ok)
                cells.append(dict(value=v, values=ok, cell=fmt(v)))
            else:
                cells.append(dict(value=None, values=ok, error=errs[0] if errs else "did not run"))
        ratio = cells[1]["value"] / cells[0]["value"] if cells[0]["value"] and cells[1]["value"] is not None else None
        rows.append(dict(group="memory" if "RSS" in label else "cpu", name=label, durability="-",
                         unit="", better="lower", target=target, workload=label, key=key,
                         a=cells[0], b=cells[1], ratio=ratio))
    add("startup", "start-up to first answered request", "-", "ms", "lower", TARGETS["startup"],
        "startup", "seconds", lambda v: "%.0f ms" % (v * 1000) if v >= 0.01 else "%.1f ms" % (v * 1000))
    return rows


def cell_text(side, broker, notes, strict):
    """A number, or "unsupported (error: see [n])" (brokerd, until it
    advertises Produce and Fetch) / "FAILED (error: see [n])", with the
    error itself in note n."""
    if side["value"] is not None:
        return side["cell"]
    err = "%s: %s" % (broker.label, side.get("error") or "?")
    if err not in notes:
        notes.append(err)
    prefix = "unsupported" if broker.kind == "brokerd" and not strict else "FAILED"
    return "%s (error: see [%d])" % (prefix, notes.index(err) + 1)


def ratio_text(row):
    r = row["ratio"]
    if r is None:
        return "-"
    return "%.2f" % r if r >= 0.1 else "%.2g" % r


def table_lines(bench, rows, strict, markdown=False):
    A, B = bench.brokers
    notes = []
    head = ["workload", "durability", A.label, B.label, "%s/%s" % (B.label, A.label), "better", "target"]
    body = [[r["name"], r["durability"], cell_text(r["a"], A, notes, strict),
             cell_text(r["b"], B, notes, strict),
             ratio_text(r), r["better"], r["target"] or ""] for r in rows]
    if markdown:
        esc = lambda s: s.replace("|", "\\|")
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(esc(c) for c in line) + " |" for line in body]
        if notes:
            out.append("")
            out += ["[%d] %s  " % (i + 1, esc(n)) for i, n in enumerate(notes)]
        return out
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(len(head))]
    fmt = lambda line: "  ".join(str(c).ljust(widths[i]) for i, c in enumerate(line)).rstrip()
    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(line) for line in body]
    out += ["[%d] %s" % (i + 1, n) for i, n in enumerate(notes)]
    return out


def check(bench, rows, strict):
    """SMOKE RULE. Every workload must have run against Kafka (side A) and
    produced numbers. brokerd (side B) must produce numbers for start-up and
    idle RSS always; for every other workload it must produce numbers or be
    reported unsupported with the broker's error, until brokerd advertises
    Produce (key 0) and Fetch (key 1) in ApiVersions: from then on (strict)
    every brokerd workload must produce numbers. Speeds are never checked."""
    problems = []
    A, B = bench.brokers
    for r in rows:
        if r["a"]["value"] is None:
            problems.append("%s: %s produced no number (%s)" % (r["name"], A.label, r["a"].get("error")))
        if r["b"]["value"] is None:
            must = strict or B.kind == "kafka" or r["workload"] in ("startup", "rss_idle")
            if must or not r["b"].get("error"):
                problems.append("%s: %s produced no number (%s)" % (r["name"], B.label, r["b"].get("error")))
    expected = len(bench.produce_workloads()) + 1 + 3 * len(bench.e2e_workloads()) + 5
    if len(rows) != expected:
        problems.append("expected %d rows, got %d" % (expected, len(rows)))
    return problems


def machine():
    info = {"cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1024.0 / 1024.0, 1)
    except OSError:
        pass
    try:
        df = subprocess.run(["df", "-hT", tempfile.gettempdir()], capture_output=True, text=True).stdout
        parts = df.splitlines()[1].split()
        info["disk"] = "%s (%s), %s, %s free" % (parts[0], parts[1], parts[2], parts[4])
        dev = os.path.basename(parts[0])
        rot = "/sys/block/%s/queue/rotational" % re.sub(r"p?\d+$", "", dev)
        if os.path.exists(rot):
            with open(rot) as f:
                info["disk"] += ", reported %s" % (
                    "rotational" if f.read().strip() == "1" else "non-rotational")
    except (OSError, IndexError):
        pass
    return info


def git_commit(given_binary=None, desc=None):
    try:
        c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
        if given_binary:
            return "%s (binary given: %s; this tree was at %s)" % (
                desc or "unknown", given_binary, c)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "src", "CMakeLists.txt"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return c + (" (plus uncommitted changes under src/)" if dirty else "")
    except OSError:
        return "?"


def write_doc(bench, rows, meta):
    A, B = bench.brokers
    m = meta["machine"]
    lines = [BEGIN, "",
             "## brokerd against Apache Kafka (scripts/bench)", "",
             "Rerun it:", "", "```sh",
             "scripts/bench --quick    # about 3 minutes",
             "scripts/bench            # the full run, at most 15 minutes on 2 cores",
             "scripts/bench --smoke    # seconds; run by scripts/test, checks that every workload ran",
             "```", "",
             "### Latest table", "",
             "- date: %s" % meta["date"],
             "- command: `%s`" % meta["command"],
             "- machine: %s cores (%s), %s GiB memory; disk %s" % (
                 m.get("cores"), m.get("cpu", "?"), m.get("memory_gib", "?"), m.get("disk", "?")),
             "- brokerd commit: %s" % meta["brokerd_commit"],
             "- Kafka: %s (Maven Central, KRaft combined mode, one node)" % meta["kafka_version"],
             "- brokerd advertised Produce and Fetch: %s, so the smoke rule was %s" % (
                 "yes" if meta["strict"] else "no", "strict" if meta["strict"] else "lenient"),
             "- runs per broker and workload: %d, alternating A B A B; medians" % bench.cfg["reps"],
             "- load per run: produce %s x 1 KiB or %s x 100 B records (fsync/batch: %s and %s); "
             "consume %s x 1 KiB; e2e %d records/s for %g s, the first %g s dropped" % (
                 "{:,}".format(bench.cfg["produce"][1024]), "{:,}".format(bench.cfg["produce"][100]),
                 "{:,}".format(bench.cfg["produce_durable"][1024]),
                 "{:,}".format(bench.cfg["produce_durable"][100]), "{:,}".format(bench.cfg["backlog"]),
                 bench.cfg["e2e_rate"], bench.cfg["e2e_seconds"], bench.cfg["e2e_warmup"]),
             ""]
    lines += table_lines(bench, rows, meta["strict"], markdown=True)
    lines += ["",
              "Durability: *default* = each broker as shipped: Kafka acknowledges acks=all once the",
              "batch is in the page cache (no fsync), brokerd fsyncs before the acks=all answer.",
              "*fsync/batch* = both flush every batch before answering: Kafka with the topic config",
              "`flush.messages=1`, brokerd with its default. Ratios are brokerd/Kafka of the medians;",
              "`better` says which direction wins; `target` is the project goal, not a pass mark.",
              "A cell `unsupported (error: see [n])` (brokerd does not advertise Produce and Fetch",
              "yet) or `FAILED (error: see [n])` (it does) means the workload failed against that",
              "broker; note [n] quotes the error. It is never a number, and its ratio is `-`.",
              ""]
    lines += DOC_METHOD
    lines += [END]
    section = "\n".join(lines) + "\n"
    if os.path.exists(DOC):
        with open(DOC) as f:
            text = f.read()
    else:
        text = "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        pre = text[:text.index(BEGIN)]
        post = text[text.index(END) + len(END):]
        post = post[1:] if post.startswith("\n") else post
        text = pre + section + post
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = DOC + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, DOC)


DOC_METHOD = """### How it measures

**Load generator.** One set of Java clients drives both brokers, from the
same jars (`kafka-clients` of the Kafka version in the table), with the same
settings, so the only thing that changes between A and B is the broker:

- produce: Kafka's own `org.apache.kafka.tools.ProducerPerformance`
  (what `kafka-producer-perf-test.sh` runs), `--throughput -1`, client
  defaults (`linger.ms=5`, `batch.size=16384`, no compression) except
  `enable.idempotence=false`, so that the run measures Produce and not
  producer-id allocation (and `max.block.ms=20000`,
  `delivery.timeout.ms=60000`, so that a broker that cannot serve fails
  the run quickly);
- consume: `brokerd.bench.Tool consume` (bench/kafka), a plain
  `KafkaConsumer` with `assign()` and `seek(0)` over all partitions, no
  consumer group. Kafka's `ConsumerPerformance` always joins a group, which
  would measure the group protocol as well as Fetch;
- end-to-end latency: `brokerd.bench.Tool e2e`, a producer at a fixed rate
  (1 KiB records, acks=all, `linger.ms=0`) and a consumer in the same JVM;
  latency is the time of receipt minus the time the record was *scheduled*
  to be sent, so a stalled broker is charged for the wait (no coordinated
  omission). Kafka's `EndToEndLatency` keeps one record in flight at a
  time, so it cannot hold a fixed rate. The first seconds are dropped as
  warm-up.

We chose Kafka's Java client and tools over a librdkafka tool of ours
because they are the reference implementation: a number measured with them
is one a Kafka user can reproduce with the stock tools, and it cannot flatter
brokerd through a client we wrote for it.

**Method.** `scripts/bench` installs Apache Kafka and its tools from Maven
Central (bench/kafka/pom.xml, into `.deps/kafka`), builds brokerd
(build/release), and starts both on free 127.0.0.1 ports with their data
under one temporary folder, Kafka in KRaft combined mode with Kafka's own
JVM settings (`-Xmx1G -Xms1G`, G1). Topics (replication factor 1) are
created through the Admin client (CreateTopics) on both, and the run waits
until Metadata shows a leader for every partition. The load generator is
one JVM (`brokerd.bench.Tool serve`) that runs every command in turn, so
both brokers meet a client whose JIT is equally warm. Each workload runs against Kafka
then brokerd, repeated (A B A B ...); a row shows the median of the runs
and the ratio of the medians. The machine is shared (2 cores, other jobs),
so single runs are noisy; medians and ratios from one run are what count.

- produce: 1 KiB and 100 B records; acks=1 and acks=all; 1 and 12
  partitions. The acks=all rows run twice, *default* and *fsync/batch*.
- consume: a backlog of 1 KiB records in 12 partitions is written first
  (this also warms both brokers up), read once unmeasured by each broker's
  consumer (so that Kafka, which goes first, does not meet a cold client),
  then read from offset 0 in each measured run (3 in --quick, 5 in the
  full run).
- end-to-end latency: p50, p99 and p99.9 at a fixed rate far below both
  brokers' limits, *default* and *fsync/batch*; medians of the per-run
  percentiles.
- memory: RSS of the broker process (`/proc/PID/status` VmRSS) a few
  seconds after its first answer (idle), and the highest RSS sampled every
  50 ms during all produce runs (peak; a maximum, not a median).
- CPU: the broker process's user+system CPU seconds (`/proc/PID/stat`)
  over a run divided by the GiB it moved; median over the produce runs,
  and over the consume runs.
- start-up: from `exec` to the first answered ApiVersions request, on a
  fresh data directory (Kafka's is formatted beforehand, not timed).
- MB is 2^20 bytes, as ProducerPerformance prints it; GiB is 2^30.

**What brokerd must serve.** The workloads use ApiVersions, Metadata,
CreateTopics, Produce and Fetch. While brokerd lacks one of them its cells
read `unsupported (error: see [n])`, note [n] quoting the error the client
got from it, and the ratio is `-`. Once brokerd advertises Produce and
Fetch, a failing brokerd workload reads `FAILED (error: see [n])`.

**The smoke rule** (`scripts/bench --smoke`, run by scripts/test through
tests/integration/test_bench_smoke.py; tiny loads, speed never checked):

1. every workload ran against Kafka and produced a number;
2. brokerd produced numbers for start-up time and idle RSS;
3. every other brokerd workload produced numbers, or was reported
   unsupported together with brokerd's error;
4. once brokerd advertises Produce (key 0) and Fetch (key 1) in
   ApiVersions, rule 3 turns strict by itself: a brokerd workload that fails
   fails the smoke test.

**Noise.** `--b-broker=kafka` (a debug option) runs Kafka on both sides,
to check the A/B machinery, medians and ratios. On this 2-core machine,
shared with builds, a `--quick` sanity run (2026-11-26, Kafka 4.1.1) gave
Kafka-B/Kafka ratios of 0.82-1.38 on most rows, with outliers of 1.68-1.96
(100 B, 12 partitions) and 3.97 (1 KiB, 1 partition, fsync/batch), and
0.43 on one fsync/batch p50. So a single `--quick` ratio within about
+-40% of 1 is noise, and even larger swings happen on the fsync rows; use
the full run (3 runs each) or several quick runs before drawing a
conclusion.

Every run writes its raw measurements (`results.json`), the load
generator's output for each run and the brokers' logs and configs to
`bench-out/<stamp>-<mode>/` (ignored by git).
""".splitlines()


def prune_smoke_outputs(keep=10):
    """scripts/test runs --smoke on every test run: keep its newest few."""
    base = os.path.join(ROOT, "bench-out")
    try:
        old = sorted(d for d in os.listdir(base) if d.endswith("-smoke"))[:-keep]
    except OSError:
        return
    for d in old:
        shutil.rmtree(os.path.join(base, d), ignore_errors=True)


def keep_logs(tmp, outdir):
    """Copies each broker instance's logs (not its data) to bench-out."""
    try:
        for inst in sorted(os.listdir(tmp)):
            src = os.path.join(tmp, inst)
            if not os.path.isdir(src):
                continue
            for f in os.listdir(src):
                if f.endswith((".log", ".conf", ".properties")):
                    dst = os.path.join(outdir, "brokers", inst)
                    os.makedirs(dst, exist_ok=True)
                    shutil.copy2(os.path.join(src, f), dst)
    except OSError as e:
        log("could not keep the broker logs: %s" % e)


# --- main --------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=(
        "brokerd against Apache Kafka on this machine, same load, side by side. "
        "Without a mode flag: the full run (at most 15 minutes on 2 cores)."))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="about 3 minutes")
    g.add_argument("--smoke", action="store_true",
                   help="seconds, tiny loads: checks that every workload ran (used by scripts/test)")
    ap.add_argument("--brokerd", help="brokerd binary to use (default: build build/release; or $BROKERD)")
    ap.add_argument("--brokerd-desc", help="what the --brokerd binary is (e.g. its commit), for the report")
    ap.add_argument("--no-build", action="store_true", help="use build/release/bin/brokerd as it is")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--b-broker", choices=("brokerd", "kafka"), default="brokerd", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help="parent folder for the temporary data (default: system temp)")
    args = ap.parse_args()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    command = " ".join(["scripts/bench"] + [shlex.quote(a) for a in sys.argv[1:]])

    # Ctrl-C included: a shell may start us with SIGINT ignored
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    t_start = time.monotonic()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    outdir = os.path.join(ROOT, "bench-out", "%s-%s" % (stamp, mode))
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="brokerd-bench-", dir=args.tmp)
    commit_at_start = git_commit(args.brokerd or os.environ.get("BROKERD"), args.brokerd_desc)
    rc = 1
    try:
        ensure_kafka()
        write_tools_log4j()
        binary = ensure_brokerd(args) if args.b_broker == "brokerd" else None
        A = Kafka("kafka", "Kafka", tmp)
        B = Brokerd("brokerd", "brokerd", tmp, binary) if binary else Kafka("kafka-b", "Kafka-B", tmp)
        bench = Bench(args, mode, tmp, [A, B], outdir)
        log("mode %s; Kafka %s; temporary data in %s" % (mode, kafka_version(), tmp))
        bench.startups()
        strict = B.kind == "kafka" or (0 in B.keys and 1 in B.keys)
        log("%s advertises %d APIs; Produce and Fetch: %s" % (
            B.label, len(B.keys), "yes (strict smoke rule)" if 0 in B.keys and 1 in B.keys else "no"))
        bench.create_topics()
        bench.consume()     # fills the backlogs first: also warms both brokers up
        bench.produce()
        bench.e2e()
        rows = build_rows(bench)
        problems = check(bench, rows, strict)
        meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                    command=command, mode=mode, machine=machine(),
                    brokerd_commit=commit_at_start,
                    kafka_version=kafka_version(), strict=strict, b_broker=args.b_broker,
                    seconds=round(time.monotonic() - t_start, 1),
                    brokerd_api_keys=sorted(B.keys))
        print()
        print("%s vs Apache Kafka %s, %s run, %s, %d cores, %s GiB%s" % (
            B.label, meta["kafka_version"], mode, meta["date"], meta["machine"].get("cores"),
            meta["machine"].get("memory_gib"),
            "; brokerd " + meta["brokerd_commit"] if B.kind == "brokerd" else " (sanity run: Kafka on both sides)"))
        for line in table_lines(bench, rows, strict):
            print(line)
        print("durability: default = as shipped (Kafka: no fsync; brokerd: fsync before ack); "
              "fsync/batch = both flush every batch (Kafka: flush.messages=1)")
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump(dict(meta=meta, runs=bench.runs, rows=rows, problems=problems), f, indent=1,
                      default=str)
        if mode != "smoke" and args.b_broker == "brokerd" and not args.no_doc:
            write_doc(bench, rows, meta)
            log("rewrote the bench section of docs/benchmarks.md")
        log("results in %s (%.0f s)" % (os.path.relpath(outdir, ROOT), time.monotonic() - t_start))
        if problems:
            print("CHECK FAILED:")
            for p in problems:
                print("  - " + p)
        else:
            print("check passed: every workload ran%s" % (
                "" if strict else "; brokerd workloads it cannot serve yet are marked unsupported"))
        rc = 1 if problems else 0
    except (KeyboardInterrupt, Interrupted) as e:
        log("interrupted (%s): stopping everything" % (e or "Ctrl-C"))
        rc = 130
    except Exception as e:
        log("error: %s" % e)
        rc = 1
    finally:
        # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all()
        keep_logs(tmp, outdir)
        shutil.rmtree(tmp, ignore_errors=True)
        if mode == "smoke":
            prune_smoke_outputs()
    return rc


if __name__ == "__main__":
    sys.exit(main())
