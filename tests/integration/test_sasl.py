"""SASL authentication (issue 15): a broker with PLAINTEXT, SASL_PLAINTEXT
(PLAIN and SCRAM-SHA-256) and SASL_SSL (SCRAM-SHA-512) listeners.
confluent-kafka and kafka-python with PLAIN; confluent-kafka over SASL_SSL
with SCRAM-SHA-512 (user made by brokerctl) and the Java client with
SCRAM-SHA-256 (user made by confluent-kafka's AlterUserScramCredentials);
wrong passwords and unknown users are refused alike
(SASL_AUTHENTICATION_FAILED); Kafka's validations of
AlterUserScramCredentials; the raw protocol before authentication:
ILLEGAL_SASL_STATE, the frame cap (sasl.server.max.receive.size) and the
unframed SaslHandshake v0 flow; credentials survive a restart and reach
every node of a 3-node cluster."""
import os
import re
import struct
import subprocess
import time

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo,
                                   ScramMechanism, UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)

from data_util import create_topics
from harness import (REPO, Broker, brokerctl_path, connect, free_port,
                     is_closed, recv_frame, request)
from tls_util import Certs

# Written over three lines with backslash continuations, as Kafka's
# server.properties examples write it.
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule '
              'required \\\n    user_alice="alice-secret" \\\n'
              '    user_bob="b0b \\"pw\\"";')


def start(tmp_path, **extra):
    certs = Certs(str(tmp_path))
    p, sp, ss = free_port(), free_port(), free_port()
    conf = {
        "listeners": "PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d,"
                     "SASL_SSL://127.0.0.1:%d" % (p, sp, ss),
        "ssl.keystore.location": certs.path("server.pem"),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms":
            "PLAIN,SCRAM-SHA-256",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": PLAIN_JAAS,
        "logger.level": "debug",
    }
    conf.update(extra)
    b = Broker(conf, port=p).start()
    b.sasl_port, b.ssl_port, b.certs = sp, ss, certs
    return b


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start(tmp_path_factory.mktemp("sasl"))
    create_topics(b.bootstrap, {"plain": (1, {}), "kp": (1, {}),
                                "scram": (1, {}), "java": (1, {})})
    yield b
    assert b.stop() == 0, b.output()[-3000:]
    b.cleanup()


def plain_conf(b, user="alice", pw="alice-secret", **extra):
    c = {"bootstrap.servers": "127.0.0.1:%d" % b.sasl_port,
         "security.protocol": "sasl_plaintext", "sasl.mechanisms": "PLAIN",
         "sasl.username": user, "sasl.password": pw}
    c.update(extra)
    return c


def produce(conf, topic, values):
    p = Producer(dict(conf, acks="all", **{"linger.ms": 5}))
    errors = []
    for v in values:
        p.produce(topic, v, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0 and not errors, errors


def consume(conf, topic, n):
    c = Consumer(dict(conf, **{"group.id": "g-" + topic,
                               "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    while len(out) < n:
        m = c.poll(10)
        assert m is not None, "got %d of %d records" % (len(out), n)
        assert m.error() is None, m.error()
        out.append(m.value())
    c.close()
    return out


def auth_error(conf):
    """The first error a client reports, as (code, text without timing)."""
    errors = []
    p = Producer(dict(conf, error_cb=errors.append))
    deadline = time.monotonic() + 15
    while not errors and time.monotonic() < deadline:
        p.poll(0.2)
    assert errors, "no error reported"
    e = errors[0]
    return e.code(), re.sub(r" \(after \d+ms.*", "", e.str())


def test_confluent_plain(broker):
    values = [b"plain-%04d" % i for i in range(500)]
    produce(plain_conf(broker), "plain", values)
    assert consume(plain_conf(broker, "bob", 'b0b "pw"'), "plain",
                   len(values)) == values
    # Clients are sent on to the SASL listener's own port.
    md = AdminClient(plain_conf(broker)).list_topics(timeout=10)
    assert md.brokers[1].port == broker.sasl_port
    assert 'principal="User:alice"' in broker.output()
    assert 'principal="User:bob"' in broker.output()
    assert ("listener=SASL_PLAINTEXT msg=\"PLAIN on a SASL_PLAINTEXT "
            "listener sends passwords in clear") in broker.output()


def test_kafka_python_plain(broker):
    from kafka import KafkaConsumer, KafkaProducer
    kw = dict(bootstrap_servers="127.0.0.1:%d" % broker.sasl_port,
              security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
              sasl_plain_username="alice",
              sasl_plain_password="alice-secret")
    p = KafkaProducer(acks="all", **kw)
    for i in range(100):
        p.send("kp", b"kp-%d" % i)
    p.flush(30)
    p.close()
    c = KafkaConsumer("kp", auto_offset_reset="earliest",
                      consumer_timeout_ms=10000, **kw)
    got = [m.value for _, m in zip(range(100), c)]
    c.close()
    assert got == [b"kp-%d" % i for i in range(100)]


def test_wrong_password_and_unknown_user_alike(broker):
    wrong = auth_error(plain_conf(broker, pw="nope"))
    unknown = auth_error(plain_conf(broker, user="mallory", pw="nope"))
    assert wrong[0] == KafkaError._AUTHENTICATION, wrong
    assert wrong == unknown
    assert "Authentication failed: Invalid username or password" in wrong[1]
    assert broker.alive()


# --- raw protocol ---------------------------------------------------------

def handshake(sock, mech, version=1, corr=2):
    m = mech.encode()
    sock.sendall(request(17, version, corr, struct.pack(">h", len(m)) + m))
    f = recv_frame(sock)
    corr_got, err, n = struct.unpack_from(">ihi", f, 0)
    pos, mechs = 10, []
    for _ in range(n):
        (ln,) = struct.unpack_from(">h", f, pos)
        mechs.append(f[pos + 2:pos + 2 + ln].decode())
        pos += 2 + ln
    assert corr_got == corr
    return err, mechs


def authenticate(sock, token, version=1, corr=3):
    sock.sendall(request(36, version, corr,
                         struct.pack(">i", len(token)) + token))
    f = recv_frame(sock)
    corr_got, err, ml = struct.unpack_from(">ihh", f, 0)
    pos = 8
    msg = None
    if ml >= 0:
        msg = f[pos:pos + ml].decode()
        pos += ml
    (bl,) = struct.unpack_from(">i", f, pos)
    auth = f[pos + 4:pos + 4 + bl]
    pos += 4 + bl
    life = struct.unpack_from(">q", f, pos)[0] if version >= 1 else None
    return err, msg, auth, life


def test_illegal_sasl_state(broker):
    # A Metadata request before authentication closes the connection.
    with connect(broker.sasl_port) as s:
        s.sendall(request(3, 1, 1, struct.pack(">i", -1)))
        assert is_closed(s)
    # SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE, closed.
    with connect(broker.sasl_port) as s:
        err, msg, _, _ = authenticate(s, b"\0alice\0alice-secret")
        assert err == 34, (err, msg)
        assert is_closed(s)
    # After SaslHandshake v1 only SaslAuthenticate: ApiVersions gets
    # ILLEGAL_SASL_STATE, then the connection is closed.
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        s.sendall(request(18, 0, 4))
        assert struct.unpack(">ihi", recv_frame(s)[:10]) == (4, 34, 0)
        assert is_closed(s)
    # A second SaslHandshake, likewise.
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert handshake(s, "PLAIN", corr=5)[0] == 34
        assert is_closed(s)
    # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the list.
    with connect(broker.sasl_port) as s:
        err, mechs = handshake(s, "GSSAPI")
        assert (err, mechs) == (33, ["PLAIN", "SCRAM-SHA-256"])
        assert is_closed(s)
    # SaslHandshake on a PLAINTEXT listener: ILLEGAL_SASL_STATE, served on.
    with connect(broker.port) as s:
        err, _ = handshake(s, "PLAIN")
        assert err == 34
        s.sendall(request(18, 0, 9))
        assert struct.unpack(">ih", recv_frame(s)[:6]) == (9, 0)


def test_v1_flow_and_authenticated_requests(broker):
    with connect(broker.sasl_port) as s:
        s.sendall(request(18, 0, 1))
        assert struct.unpack(">ih", recv_frame(s)[:6]) == (1, 0)
        assert handshake(s, "PLAIN") == (0, ["PLAIN", "SCRAM-SHA-256"])
        err, msg, auth, life = authenticate(s, b"alice\0alice\0alice-secret")
        assert (err, msg, auth, life) == (0, None, b"", 0)
        # Authenticated: Metadata is served; SaslAuthenticate again is
        # ILLEGAL_SASL_STATE and the connection stays.
        s.sendall(request(3, 1, 5, struct.pack(">i", -1)))
        assert struct.unpack(">i", recv_frame(s)[:4]) == (5,)
        err, _, _, _ = authenticate(s, b"\0alice\0alice-secret", corr=6)
        assert err == 34
        s.sendall(request(18, 0, 7))
        assert struct.unpack(">ih", recv_frame(s)[:6]) == (7, 0)


def test_failed_authenticate_answer(broker):
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        t0 = time.monotonic()
        err, msg, _, _ = authenticate(s, b"\0alice\0wrong")
        assert time.monotonic() - t0 >= 0.09
        assert err == 58
        assert msg == "Authentication failed: Invalid username or password"
        assert is_closed(s)


def test_v0_unframed_tokens(broker):
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN", version=0)[0] == 0
        tok = b"\0bob\0b0b \"pw\""
        s.sendall(struct.pack(">i", len(tok)) + tok)
        assert recv_frame(s) == b""  # PLAIN's empty server token
        s.sendall(request(3, 1, 5, struct.pack(">i", -1)))
        assert struct.unpack(">i", recv_frame(s)[:4]) == (5,)
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN", version=0)[0] == 0
        tok = b"\0bob\0wrong"
        s.sendall(struct.pack(">i", len(tok)) + tok)
        assert is_closed(s)


def test_garbage_before_auth(broker):
    """A GSSAPI token (what pre-KIP-43 clients send first), an empty
    frame, a truncated header and random bytes: each closes its
    connection; the broker serves on."""
    import random
    rnd = random.Random(15)
    frames = [b"\x60\x82\x02\x00" + bytes(rnd.randrange(256)
                                         for _ in range(60)),
              b"", b"\x00\x11", bytes(rnd.randrange(256) for _ in range(300))]
    for body in frames:
        with connect(broker.sasl_port) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            assert is_closed(s)
    for _ in range(20):
        with connect(broker.sasl_port) as s:
            s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(
                1, 2000))))
            s.settimeout(5)
            try:
                s.shutdown(1)
                while s.recv(65536):
                    pass
            except OSError:
                pass
    assert broker.alive()
    with connect(broker.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, b"\0alice\0alice-secret")[0] == 0


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_oversize_frame_before_auth(broker):
    before = rss_kb(broker.proc.pid)
    socks = []
    for _ in range(20):
        s = connect(broker.sasl_port)
        # 100 MB declared (socket.request.max.bytes allows it after
        # authentication), then a few bytes.
        s.sendall(struct.pack(">i", 100 * 1024 * 1024) + b"\0" * 64)
        socks.append(s)
    for s in socks:
        assert is_closed(s)
        s.close()
    # One byte over sasl.server.max.receive.size is refused as well.
    with connect(broker.sasl_port) as s:
        s.sendall(struct.pack(">i", 524289) + b"\0" * 16)
        assert is_closed(s)
    assert rss_kb(broker.proc.pid) - before < 20 * 1024
    assert "sasl.server.max.receive.size before authentication" in \
        broker.output()
    # After authentication the cap is socket.request.max.bytes: a 600 KB
    # Produce goes through.
    produce(plain_conf(broker), "plain", [os.urandom(600 * 1024)])


def test_no_mechanisms_is_a_startup_error(tmp_path):
    p, sp = free_port(), free_port()
    b = Broker({"listeners": "PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://"
                "127.0.0.1:%d" % (p, sp)}, port=p)
    try:
        with pytest.raises(RuntimeError):
            b.start()
        lines = [l for l in b.output().splitlines() if "SASL" in l]
        assert len(lines) == 1, b.output()
        assert "sasl.enabled.mechanisms" in lines[0]
    finally:
        b.cleanup()


# --- SCRAM ----------------------------------------------------------------

def brokerctl(bootstrap, *args, stdin=None):
    return subprocess.run([brokerctl_path(), "-b", bootstrap] + list(args),
                          input=stdin, capture_output=True, text=True,
                          timeout=30)


def scram_ssl_conf(b, user, pw, **extra):
    c = {"bootstrap.servers": "127.0.0.1:%d" % b.ssl_port,
         "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512",
         "ssl.ca.location": b.certs.path("ca.pem"),
         "sasl.username": user, "sasl.password": pw}
    c.update(extra)
    return c


def test_brokerctl_user_and_confluent_scram_sha512_over_ssl(broker):
    res = brokerctl(broker.bootstrap, "user", "create", "carol",
                    "--mechanism", "SCRAM-SHA-512", "--iterations", "8192",
                    stdin="carol-secret\n")
    assert res.returncode == 0, res.stderr
    values = [b"scram-%04d" % i for i in range(300)]
    conf = scram_ssl_conf(broker, "carol", "carol-secret")
    produce(conf, "scram", values)
    assert consume(conf, "scram", len(values)) == values
    assert 'mechanism=SCRAM-SHA-512 principal="User:carol"' in \
        broker.output()
    res = brokerctl(broker.bootstrap, "user", "list")
    assert res.returncode == 0, res.stderr
    assert re.search(r"carol +SCRAM-SHA-512 +8192", res.stdout), res.stdout
    # The password is in no log line.
    assert "carol-secret" not in broker.output()


def test_scram_wrong_password_and_unknown_user_alike(broker):
    brokerctl(broker.bootstrap, "user", "create", "dan", "--mechanism",
              "SCRAM-SHA-512", "--password", "dan-secret")
    wrong = auth_error(scram_ssl_conf(broker, "dan", "nope"))
    unknown = auth_error(scram_ssl_conf(broker, "nobody", "nope"))
    assert wrong[0] == KafkaError._AUTHENTICATION, wrong
    assert wrong == unknown
    assert ("Authentication failed during authentication due to invalid "
            "credentials with SASL mechanism SCRAM-SHA-512") in wrong[1]


def java_describe_cluster(port, *props):
    target = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(target, "classes") + ":" + os.path.join(target, "deps",
                                                               "*")
    return subprocess.run(["java", "-cp", cp, "brokerd.ClientCheck",
                           "127.0.0.1:%d" % port, "describe-cluster"] +
                          list(props), capture_output=True, text=True,
                          timeout=120)


def test_java_scram_sha256_with_user_from_alter_api(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    up = UserScramCredentialUpsertion(
        "erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096),
        b"erin-secret")
    for f in admin.alter_user_scram_credentials([up]).values():
        f.result(timeout=15)
    desc = admin.describe_user_scram_credentials(["erin"])
    info = desc["erin"].result(timeout=15).scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in info] == \
        [(ScramMechanism.SCRAM_SHA_256, 4096)]
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule '
            'required username="erin" password="erin-secret";')
    res = java_describe_cluster(broker.sasl_port,
                                "security.protocol=SASL_PLAINTEXT",
                                "sasl.mechanism=SCRAM-SHA-256",
                                "sasl.jaas.config=" + jaas)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "node=1 127.0.0.1:%d" % broker.sasl_port in res.stdout
    assert 'mechanism=SCRAM-SHA-256 principal="User:erin"' in \
        broker.output()
    bad = jaas.replace("erin-secret", "wrong")
    res = java_describe_cluster(broker.sasl_port,
                                "security.protocol=SASL_PLAINTEXT",
                                "sasl.mechanism=SCRAM-SHA-256",
                                "sasl.jaas.config=" + bad)
    assert res.returncode != 0
    assert "SaslAuthenticationException" in res.stdout + res.stderr


def test_alter_validations(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def error_of(alterations):
        out = {}
        for user, f in admin.alter_user_scram_credentials(
                alterations).items():
            try:
                f.result(timeout=15)
                out[user] = None
            except KafkaException as e:
                out[user] = e.args[0].code()
        return out

    s256 = ScramMechanism.SCRAM_SHA_256
    few = UserScramCredentialUpsertion("u1", ScramCredentialInfo(s256, 4095),
                                       b"pw")
    many = UserScramCredentialUpsertion("u2",
                                        ScramCredentialInfo(s256, 16385), b"pw")
    ok = UserScramCredentialUpsertion("u3", ScramCredentialInfo(s256, 16384),
                                      b"pw")
    missing = UserScramCredentialDeletion("u4", s256)
    # A user named twice (two mechanisms count too) gets
    # DUPLICATE_RESOURCE; but deletions are decided first, and a user whose
    # deletion failed keeps that error (KRaft's order).
    dup1 = UserScramCredentialUpsertion("u5", ScramCredentialInfo(s256, 4096),
                                        b"pw")
    dup2 = UserScramCredentialUpsertion(
        "u5", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"pw")
    del6 = UserScramCredentialDeletion("u6", ScramMechanism.SCRAM_SHA_512)
    ups6 = UserScramCredentialUpsertion("u6", ScramCredentialInfo(s256, 4096),
                                        b"pw")
    got = error_of([few, many, ok, missing, dup1, dup2, ups6, del6])
    assert got == {"u1": KafkaError.UNACCEPTABLE_CREDENTIAL,
                   "u2": KafkaError.UNACCEPTABLE_CREDENTIAL,
                   "u3": None,
                   "u4": KafkaError.RESOURCE_NOT_FOUND,
                   "u5": KafkaError.DUPLICATE_RESOURCE,
                   "u6": KafkaError.RESOURCE_NOT_FOUND}, got
    desc = admin.describe_user_scram_credentials(["u3", "u5"])
    assert desc["u3"].result(15).scram_credential_infos[0].iterations == \
        16384
    with pytest.raises(KafkaException) as e:
        desc["u5"].result(15)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
    # (librdkafka 2.16 shows one byte past the message; the text is
    # Kafka's.)
    assert ("Attempt to describe a user credential that does not exist: u5"
            in e.value.args[0].str())
    # Deleted: gone from the image, and authentication fails.
    assert error_of([UserScramCredentialDeletion("u3", s256)]) == \
        {"u3": None}
    res = brokerctl(broker.bootstrap, "user", "list", "--json")
    assert '"u3"' not in res.stdout


def test_credentials_survive_restart(tmp_path):
    b = start(tmp_path)
    try:
        res = brokerctl(b.bootstrap, "user", "create", "frank",
                        "--mechanism", "SCRAM-SHA-512",
                        "--password", "frank-secret")
        assert res.returncode == 0, res.stderr
        assert b.stop() == 0
        b.start()
        conf = scram_ssl_conf(b, "frank", "frank-secret")
        create_topics(b.bootstrap, {"r": (1, {})})
        produce(conf, "r", [b"after restart"])
        assert consume(conf, "r", 1) == [b"after restart"]
    finally:
        b.stop()
        b.cleanup()


def test_scram_credentials_reach_every_node():
    from cluster_util import Cluster
    with Cluster(3) as c:
        # Created through a node that is not the active controller (it
        # forwards the request), then seen in every node's own image.
        active = c.active_controller()
        other = [i for i in c.ids() if i != active][0]
        res = brokerctl(c.addr(other), "user", "create", "gina",
                        "--mechanism", "SCRAM-SHA-256", "--password",
                        "gina-secret")
        assert res.returncode == 0, res.stderr + c.logs_tail()
        # brokerctl asks the node it is given, nothing else.
        for node in c.ids():
            deadline = time.monotonic() + 10
            while True:
                res = brokerctl(c.addr(node), "user", "list")
                if re.search(r"gina +SCRAM-SHA-256 +4096", res.stdout):
                    break
                # A node applies the entry a moment after it commits.
                assert time.monotonic() < deadline, res.stdout + res.stderr
                time.sleep(0.2)


# --- re-authentication (KIP-368) -----------------------------------------

@pytest.fixture(scope="module")
def reauth_broker(tmp_path_factory):
    b = start(tmp_path_factory.mktemp("reauth"), **{
        "listener.name.sasl_plaintext.connections.max.reauth.ms": "1500"})
    create_topics(b.bootstrap, {"re": (1, {})})
    yield b
    assert b.stop() == 0, b.output()[-3000:]
    b.cleanup()


def metadata_ok(s, corr):
    s.sendall(request(3, 1, corr, struct.pack(">i", -1)))
    return struct.unpack(">i", recv_frame(s)[:4]) == (corr,)


def test_reauthentication_raw(reauth_broker):
    b = reauth_broker
    alice = b"\0alice\0alice-secret"
    with connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, alice) == (0, None, b"", 1500)
        assert metadata_ok(s, 4)
        # Re-authenticate on the same connection: same user, same
        # mechanism; the session starts again.
        assert handshake(s, "PLAIN", corr=5)[0] == 0
        assert authenticate(s, alice, corr=6)[0] == 0
        time.sleep(1.0)
        assert metadata_ok(s, 7)
        # Past the session: the next request that is not a SaslHandshake
        # closes the connection.
        time.sleep(0.8)
        s.sendall(request(3, 1, 8, struct.pack(">i", -1)))
        assert is_closed(s)
    with connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, alice)[0] == 0
        time.sleep(1.7)
        # A SaslHandshake after expiry still re-authenticates.
        assert handshake(s, "PLAIN", corr=5)[0] == 0
        assert authenticate(s, alice, corr=6)[0] == 0
        assert metadata_ok(s, 7)
    # Another principal, or another mechanism: refused, closed.
    with connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, alice)[0] == 0
        assert handshake(s, "PLAIN", corr=5)[0] == 0
        err, msg, _, _ = authenticate(s, b"\0bob\0b0b \"pw\"", corr=6)
        assert (err, msg) == (
            58, "Cannot change principals during re-authentication")
        assert is_closed(s)
    with connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, alice)[0] == 0
        err, _ = handshake(s, "SCRAM-SHA-256", corr=5)
        assert err == 33
        assert is_closed(s)
    # Re-authentication needs SaslHandshake v1.
    with connect(b.sasl_port) as s:
        assert handshake(s, "PLAIN")[0] == 0
        assert authenticate(s, alice)[0] == 0
        err, _ = handshake(s, "PLAIN", version=0, corr=5)
        assert err == 34
        assert is_closed(s)


def test_reauthentication_confluent(reauth_broker):
    """librdkafka re-authenticates before the session ends (KIP-368), so
    a producer keeps going across several sessions."""
    b = reauth_broker
    p = Producer(plain_conf(b, acks="all"))
    errors = []
    deadline = time.monotonic() + 4
    i = 0
    while time.monotonic() < deadline:
        p.produce("re", b"r-%d" % i,
                  on_delivery=lambda e, m: e and errors.append(e))
        p.poll(0.05)
        i += 1
    assert p.flush(30) == 0 and not errors, errors
    assert b.output().count('msg="re-authenticated"') >= 2
    assert consume(plain_conf(b), "re", i)[-1] == b"r-%d" % (i - 1)


def test_failure_delay_does_not_hold_shutdown(tmp_path):
    b = start(tmp_path, **{"connection.failed.authentication.delay.ms":
                           "30000"})
    try:
        with connect(b.sasl_port) as s:
            assert handshake(s, "PLAIN")[0] == 0
            s.sendall(request(36, 1, 3, struct.pack(">i", 12) +
                              b"\0alice\0wrong"))
            time.sleep(0.3)
            t0 = time.monotonic()
            assert b.stop() == 0
            # The answer went out at once when the shard drained.
            assert time.monotonic() - t0 < 10
            f = recv_frame(s)
            assert struct.unpack(">ih", f[:6]) == (3, 58)
    finally:
        b.cleanup()


def test_kafka_configs_sh_scram(broker):
    """kafka-configs.sh (Kafka's ConfigCommand) adds and deletes a SCRAM
    credential through AlterUserScramCredentials."""
    target = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(target, "classes") + ":" + os.path.join(target, "deps",
                                                               "*")

    def configs(*args):
        res = subprocess.run(["java", "-cp", cp, "kafka.admin.ConfigCommand",
                              "--bootstrap-server", broker.bootstrap,
                              "--entity-type", "users", "--entity-name",
                              "hank"] + list(args),
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "Completed updating config for user hank." in res.stdout

    configs("--alter", "--add-config",
            "SCRAM-SHA-512=[iterations=8192,password=hank-secret]")
    res = brokerctl(broker.bootstrap, "user", "list")
    assert re.search(r"hank +SCRAM-SHA-512 +8192", res.stdout), res.stdout
    assert auth_error(scram_ssl_conf(broker, "hank", "nope"))[0] == \
        KafkaError._AUTHENTICATION
    produce(scram_ssl_conf(broker, "hank", "hank-secret"), "scram", [b"h"])
    configs("--alter", "--delete-config", "SCRAM-SHA-512")
    res = brokerctl(broker.bootstrap, "user", "list")
    assert "hank" not in res.stdout
