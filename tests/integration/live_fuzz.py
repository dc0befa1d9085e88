"""A fuzzer against a running brokerd, over real sockets on 127.0.0.1.

It mutates request frames recorded from the client libraries the tests use
(kafka-python, confluent-kafka/librdkafka and brokerctl) and sends them
over many concurrent connections: bit flips, truncation, extension with
random bytes, extreme integers, extreme varints, a foreign API key or
version in the header, bad size prefixes (negative, huge, smaller or
larger than the body), frames spliced from two requests, and partial
frames followed by a close.

Every connection reads and discards what the broker answers, and sends at
most MAX_FRAMES frames, so the fuzzer never depends on the broker bounding
what an unread connection may queue; it tests decoding and connection
handling, not backpressure.

Reproducible: session N (one connection) draws everything from
random.Random("SEED/N"), so `replay` resends exactly what session N sent.
Interleaving between connections still depends on timing.

    live_fuzz.py record [DIR]                 rewrite the seed corpus
    live_fuzz.py run --port P [--seconds S] [--seed N]
    live_fuzz.py replay --port P --seed N --session K

The seed corpus (live_fuzz_corpus/, one frame per file with its size
prefix) is recorded by `record`: it starts a brokerd (BROKERD) behind a
recording proxy that the broker advertises, and drives the clients through
it. Only 127.0.0.1 is ever contacted.
"""
import argparse
import glob
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "live_fuzz_corpus")

MAX_FRAMES = 8          # frames per connection, so answers stay bounded
SESSION_LIFE = 1.5      # seconds a connection may live at most
QUIET = 0.15            # close once everything is sent and this is quiet
MAX_FRAME_KEEP = 16384  # recorded frames larger than this are not kept
PER_KEY_VERSION = 3     # recorded frames kept per (api key, version)


# --- mutations -------------------------------------------------------------

INT16S = [0, -1, 0x7FFF, -0x8000, 1]
INT32S = [0, -1, 0x7FFFFFFF, -0x80000000, 1, 0x10000]
INT64S = [0, -1, 0x7FFFFFFFFFFFFFFF, -0x8000000000000000]
VARINTS = [b"\xff\xff\xff\xff\x0f", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
           b"\x80\x80\x80\x80\x80\x80", b"\xfe\xff\xff\xff\x07", b"\x00",
           b"\x01", b"\xff\x7f"]


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def body_of(fr):
    return bytearray(fr[4:])


def m_bitflip(r, p, corpus):
    for _ in range(r.randint(1, 8)):
        i = r.randrange(len(p))
        p[i] ^= 1 << r.randrange(8)
    return p


def m_truncate(r, p, corpus):
    return p[:r.randrange(len(p))]


def m_extend(r, p, corpus):
    n = r.choice([1, 2, 4, 16, 256, r.randint(1, 4096)])
    return p + bytearray(r.getrandbits(8) for _ in range(n))


def m_extreme_int(r, p, corpus):
    for _ in range(r.randint(1, 3)):
        kind = r.randrange(3)
        if kind == 0:
            raw = struct.pack(">h", r.choice(INT16S))
        elif kind == 1:
            raw = struct.pack(">i", r.choice(INT32S))
        else:
            raw = struct.pack(">q", r.choice(INT64S))
        i = r.randrange(len(p))
        p[i:i + len(raw)] = raw
    return p


def m_varint(r, p, corpus):
    raw = r.choice(VARINTS)
    i = r.randrange(len(p))
    p[i:i + len(raw)] = raw
    return p


def m_header(r, p, corpus):
    # Request header: api key, api version, correlation id.
    if len(p) < 8:
        return p
    which = r.randrange(3)
    if which == 0:
        key = r.choice([r.randrange(0, 80), -1, 0x7FFF, -0x8000])
        p[0:2] = struct.pack(">h", key)
    elif which == 1:
        ver = r.choice([r.randrange(0, 20), -1, 0x7FFF])
        p[2:4] = struct.pack(">h", ver)
    else:
        # Same body decoded as another version of the same API.
        (ver,) = struct.unpack_from(">h", p, 2)
        p[2:4] = struct.pack(">h", min(0x7FFF, max(0, ver + r.choice([-2, -1, 1, 2]))))
    return p


def m_splice(r, p, corpus):
    other = body_of(r.choice(corpus))
    return p[:r.randrange(len(p) + 1)] + other[r.randrange(len(other) + 1):]


def m_zero_run(r, p, corpus):
    i = r.randrange(len(p))
    n = r.randint(1, 16)
    p[i:i + n] = bytes(min(n, len(p) - i))
    return p


BODY_MUTATIONS = [m_bitflip, m_truncate, m_extend, m_extreme_int, m_varint,
                  m_header, m_splice, m_zero_run]


def mutate(r, corpus):
    """One wire chunk: a recorded frame, mutated. Returns (bytes, final),
    final meaning nothing should follow it on this connection."""
    fr = r.choice(corpus)
    roll = r.random()
    if roll < 0.10:
        return fr, False                       # as recorded
    p = body_of(fr)
    if roll < 0.85:
        for _ in range(r.choice([1, 1, 1, 2, 3])):
            p = r.choice(BODY_MUTATIONS)(r, p, corpus)
            if not p:
                p = bytearray(b"\x00")
        return frame(bytes(p)), False
    # Framing itself is wrong.
    kind = r.randrange(6)
    if kind == 0:                              # negative size
        return struct.pack(">i", r.choice([-1, -0x80000000, -4])) + p, True
    if kind == 1:                              # huge size
        return struct.pack(">i", r.choice([0x7FFFFFFF, 0x10000000,
                                           104857601])) + p, True
    if kind == 2:                              # zero size
        return struct.pack(">i", 0) + p, True
    if kind == 3:                              # smaller than the body
        return struct.pack(">i", r.randrange(1, len(p) + 1)) + p, True
    if kind == 4:                              # larger than the body
        return struct.pack(">i", len(p) + r.randint(1, 64)) + p, True
    return fr[:r.randrange(1, len(fr))], True  # partial frame, then close


def session_plan(seed, index, corpus):
    """The chunks session `index` sends, drawn from its own RNG."""
    r = random.Random("%d/%d" % (seed, index))
    chunks = []
    for _ in range(r.randint(1, MAX_FRAMES)):
        data, final = mutate(r, corpus)
        chunks.append(data)
        if final:
            break
    # Sometimes send a frame in small pieces, to split headers and sizes
    # across reads.
    if r.random() < 0.2:
        whole = b"".join(chunks)
        cuts = sorted(r.sample(range(1, len(whole)), min(4, len(whole) - 1))) \
            if len(whole) > 1 else []
        chunks, last = [], 0
        for c in cuts + [len(whole)]:
            chunks.append(whole[last:c])
            last = c
    return chunks


def load_corpus(path=CORPUS):
    frames = []
    for f in sorted(glob.glob(os.path.join(path, "*.bin"))):
        with open(f, "rb") as fh:
            data = fh.read()
        (size,) = struct.unpack_from(">i", data, 0)
        assert size == len(data) - 4, f
        frames.append(data)
    return frames


# --- the run -----------------------------------------------------------------

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Stats:
    def __init__(self):
        self.sessions = 0
        self.chunks = 0
        self.bytes_out = 0
        self.bytes_in = 0
        self.closed_by_broker = 0
        self.connect_errors = 0
        self.max_rss_kib = 0

    def line(self):
        return ("sessions=%d frames=%d out=%dKiB in=%dKiB closed_by_broker=%d "
                "connect_errors=%d max_rss=%dKiB" % (
                    self.sessions, self.chunks, self.bytes_out // 1024,
                    self.bytes_in // 1024, self.closed_by_broker,
                    self.connect_errors, self.max_rss_kib))


class Session:
    def __init__(self, index, chunks, sock, now):
        self.index = index
        self.chunks = list(chunks)
        self.pending = b""
        self.sock = sock
        self.born = now
        self.last_io = now


def run(port, seconds, seed, corpus, conns=24, pid=None, alive=None,
        log=print):
    """Fuzzes 127.0.0.1:port for `seconds`. `alive()` (optional) says if the
    broker still runs; the run stops early when it does not. Returns
    (stats, sessions in flight when it stopped early or None)."""
    sel = selectors.DefaultSelector()
    stats = Stats()
    live = {}
    next_index = 0
    start = time.monotonic()
    deadline = start + seconds
    next_sample = start

    def open_one(now):
        nonlocal next_index
        idx = next_index
        next_index += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Close with RST half the time, FIN the other half.
        if idx % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        try:
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            stats.connect_errors += 1
            s.close()
            return False
        sess = Session(idx, session_plan(seed, idx, corpus), s, now)
        live[s.fileno()] = sess
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, sess)
        stats.sessions += 1
        return True

    def close_one(sess):
        sel.unregister(sess.sock)
        del live[sess.sock.fileno()]
        sess.sock.close()

    while True:
        now = time.monotonic()
        if now >= next_sample:
            next_sample = now + 0.5
            if alive is not None and not alive():
                return stats, sorted(s.index for s in live.values())
            if pid is not None:
                stats.max_rss_kib = max(stats.max_rss_kib, rss_kib(pid))
        if now >= deadline:
            break
        while len(live) < conns and open_one(now):
            pass
        for key, ev in sel.select(timeout=0.05):
            sess = key.data
            if ev & selectors.EVENT_READ:
                try:
                    data = sess.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    stats.closed_by_broker += 1
                    close_one(sess)
                    continue
                if data:
                    stats.bytes_in += len(data)
                    sess.last_io = now
            if ev & selectors.EVENT_WRITE:
                if not sess.pending and sess.chunks:
                    sess.pending = sess.chunks.pop(0)
                    stats.chunks += 1
                if sess.pending:
                    try:
                        n = sess.sock.send(sess.pending)
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    except OSError:
                        close_one(sess)
                        continue
                    stats.bytes_out += n
                    sess.pending = sess.pending[n:]
                    sess.last_io = now
                if not sess.pending and not sess.chunks:
                    sel.modify(sess.sock, selectors.EVENT_READ, sess)
        for sess in list(live.values()):
            done = not sess.pending and not sess.chunks
            if now - sess.born > SESSION_LIFE or \
                    (done and now - sess.last_io > QUIET):
                close_one(sess)
    for sess in list(live.values()):
        close_one(sess)
    sel.close()
    return stats, None


def replay(port, seed, index, corpus):
    """Sends session `index` of `seed` again, blocking, and prints what
    came back."""
    chunks = session_plan(seed, index, corpus)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for c in chunks:
            print("send %d bytes: %s" % (len(c), c[:64].hex()))
            s.sendall(c)
            time.sleep(0.05)
        s.settimeout(2)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    print("broker closed the connection")
                    break
                print("recv %d bytes" % len(d))
        except socket.timeout:
            print("no more answers")


# --- recording the corpus -----------------------------------------------------

class Recorder:
    """A TCP proxy on 127.0.0.1 that forwards to the broker and keeps every
    client-to-broker frame."""

    def __init__(self, target_port, port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.frames = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(c, u, True),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, False),
                             daemon=True).start()

    def pump(self, src, dst, record):
        buf = b""
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
                if record:
                    buf += d
                    while len(buf) >= 4:
                        (n,) = struct.unpack_from(">i", buf, 0)
                        if len(buf) < 4 + n:
                            break
                        with self.lock:
                            self.frames.append(buf[:4 + n])
                        buf = buf[4 + n:]
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.lsock.close()


def drive_clients(bootstrap, brokerctl):
    """Produce, consume, admin and group traffic from every client."""
    from confluent_kafka import (Consumer, Producer, TopicCollection,
                                 TopicPartition)
    from confluent_kafka.admin import (AdminClient, ConfigResource,
                                       NewPartitions, NewTopic)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic

    def wait(futs):
        for f in futs.values():
            try:
                f.result(15)
            except Exception as e:  # an error answer is still a request
                print("admin:", e)

    # confluent-kafka (librdkafka): admin, every codec, idempotence, groups
    # on both protocols, commits, offsets, records deletion.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait(admin.create_topics([NewTopic("lf-a", 3, 1),
                              NewTopic("lf-b", 1, 1,
                                       config={"cleanup.policy": "compact"})]))
    wait(admin.create_partitions([NewPartitions("lf-a", 4)]))
    wait(admin.describe_configs([ConfigResource("topic", "lf-a"),
                                 ConfigResource("broker", "1")]))
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        p = Producer({"bootstrap.servers": bootstrap,
                      "compression.type": codec, "linger.ms": 5,
                      "enable.idempotence": codec in ("none", "lz4"),
                      "batch.size": 4096})
        for i in range(40):
            p.produce("lf-a", key=b"k%d" % (i % 7), value=b"v-%s-%d" % (
                codec.encode(), i), headers=[("h", b"x")] if i % 3 else None)
        p.produce("lf-b", key=b"k", value=None)
        p.flush(15)
    for proto in ("classic", "consumer"):
        conf = {"bootstrap.servers": bootstrap, "group.id": "lf-g-" + proto,
                "auto.offset.reset": "earliest", "enable.auto.commit": False,
                "group.protocol": proto}
        if proto == "classic":
            conf["session.timeout.ms"] = 6000
        c = Consumer(conf)
        c.subscribe(["lf-a"])
        got = 0
        deadline = time.monotonic() + 15
        while got < 50 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got += 1
        c.commit(asynchronous=False)
        c.committed([TopicPartition("lf-a", 0)], timeout=10)
        c.get_watermark_offsets(TopicPartition("lf-a", 1), timeout=10)
        c.offsets_for_times([TopicPartition("lf-a", 0, 0)], timeout=10)
        c.close()
    try:
        from confluent_kafka.admin import OffsetSpec
        wait(admin.list_offsets({TopicPartition("lf-a", 0):
                                 OffsetSpec.latest()}))
        wait(admin.delete_records([TopicPartition("lf-a", 0, 2)]))
        admin.list_consumer_groups().result(15)
        wait(admin.describe_consumer_groups(["lf-g-classic", "lf-g-consumer"]))
        admin.describe_cluster().result(15)
        wait(admin.describe_topics(TopicCollection(["lf-a"])))
    except Exception as e:
        print("admin:", e)

    # kafka-python: old protocol versions, every codec it knows.
    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap,
                              request_timeout_ms=15000)
    kadmin.create_topics([KNewTopic("lf-k", 2, 1)], timeout_ms=15000)
    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                           compression_type=codec, linger_ms=5)
        for i in range(30):
            kp.send("lf-k", key=b"k%d" % i, value=b"kv%d" % i)
        kp.flush(15)
        kp.close(10)
    kc = KafkaConsumer("lf-k", bootstrap_servers=bootstrap, group_id="lf-kg",
                       auto_offset_reset="earliest", consumer_timeout_ms=3000,
                       fetch_max_wait_ms=100)
    for _ in kc:
        pass
    kc.commit()
    kc.close()
    kadmin.list_consumer_groups()
    kadmin.describe_consumer_groups(["lf-kg"])
    kadmin.list_consumer_group_offsets("lf-kg")
    kadmin.delete_consumer_groups(["lf-g-classic"])
    kadmin.delete_topics(["lf-k"], timeout_ms=15000)
    kadmin.close()

    # brokerctl, the project's own client.
    def ctl(*args, stdin=None):
        subprocess.run([brokerctl, "-b", bootstrap] + list(args), input=stdin,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=30)
    ctl("cluster", "info")
    ctl("topic", "describe", "lf-a")
    ctl("config", "set", "--topic", "lf-a", "retention.ms=600000")
    ctl("config", "get", "--broker", "1")
    ctl("produce", "lf-a", "-z", "zstd", stdin=b"x\ny\n")
    ctl("consume", "lf-a", "-o", "beginning", "-c", "3")
    ctl("group", "describe", "lf-g-consumer")
    ctl("group", "reset-offsets", "lf-g-consumer", "--topic", "lf-a",
        "--to-earliest")
    ctl("topic", "delete", "lf-b")


def record(out_dir):
    sys.path.insert(0, HERE)
    from harness import Broker, brokerctl_path, free_port
    proxy_port = free_port()
    b = Broker(extra={"group.initial.rebalance.delay.ms": "0",
                      "advertised.listeners":
                          "PLAINTEXT://127.0.0.1:%d" % proxy_port})
    b.start()
    try:
        # The broker advertises the proxy's port, so every connection a
        # client opens after bootstrap goes through it too.
        rec = Recorder(b.port, proxy_port)
        drive_clients("127.0.0.1:%d" % proxy_port, brokerctl_path())
        time.sleep(1)
        rec.close()
    finally:
        b.stop()
        b.cleanup()
    kept = {}
    for fr in rec.frames:
        if len(fr) > MAX_FRAME_KEEP or len(fr) < 12:
            continue
        key, ver = struct.unpack_from(">hh", fr, 4)
        bucket = kept.setdefault((key, ver), [])
        if len(bucket) < PER_KEY_VERSION and fr not in bucket:
            bucket.append(fr)
    os.makedirs(out_dir, exist_ok=True)
    for old in glob.glob(os.path.join(out_dir, "*.bin")):
        os.unlink(old)
    n = 0
    for (key, ver), frames in sorted(kept.items()):
        for i, fr in enumerate(frames):
            with open(os.path.join(out_dir, "k%02d-v%02d-%d.bin" % (
                    key, ver, i)), "wb") as f:
                f.write(fr)
            n += 1
    print("recorded %d frames, kept %d (%d api key/version pairs) in %s" % (
        len(rec.frames), n, len(kept), out_dir))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("dir", nargs="?", default=CORPUS)
    for name in ("run", "replay"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--seed", type=int, default=None)
        p.add_argument("--seconds", type=float, default=20)
        p.add_argument("--conns", type=int, default=24)
        p.add_argument("--session", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "record":
        record(a.dir)
        return
    corpus = load_corpus()
    seed = a.seed if a.seed is not None else random.randrange(1 << 31)
    if a.cmd == "replay":
        replay(a.port, seed, a.session, corpus)
        return
    print("live_fuzz: seed=%d" % seed)
    stats, _ = run(a.port, a.seconds, seed, corpus, conns=a.conns)
    print(stats.line())


if __name__ == "__main__":
    main()
