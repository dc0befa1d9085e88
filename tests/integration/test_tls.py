"""TLS on SSL listeners (issue 15): a broker with a PLAINTEXT and an SSL
listener; produce and consume over SSL with confluent-kafka and
kafka-python; mTLS with ssl.client.auth=required (a client without a
certificate, or with an untrusted one, is refused; the principal comes
from the certificate through ssl.principal.mapping.rules); TLS 1.2-only
and 1.3-only clients; a fetch of several MB over TLS, byte-identical; a
plaintext Kafka request on the SSL port is closed cleanly; bad key
settings stop start-up with one line. Certificates are generated into
the test's temporary folder (tls_util.py)."""
import os
import re
import shutil
import socket
import subprocess
import ssl
import struct

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from data_util import create_topics
from harness import REPO, Broker, free_port, is_closed, recv_frame, request
from tls_util import Certs


def start(tmp_path, certs=None, **extra):
    certs = certs or Certs(str(tmp_path))
    p, s = free_port(), free_port()
    conf = {
        "listeners": "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:%d" % (p, s),
        "ssl.keystore.location": certs.path("server.pem"),
        "logger.level": "debug",
    }
    conf.update(extra)
    b = Broker(conf, port=p).start()
    b.ssl_port = s
    b.certs = certs
    return b


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start(tmp_path_factory.mktemp("certs"))
    create_topics(b.bootstrap, {"tls": (1, {}), "big": (1, {}),
                                "kp": (1, {})})
    yield b
    assert b.stop() == 0, b.output()[-3000:]
    b.cleanup()


def ssl_conf(b, **extra):
    c = {"bootstrap.servers": "127.0.0.1:%d" % b.ssl_port,
         "security.protocol": "ssl",
         "ssl.ca.location": b.certs.path("ca.pem")}
    c.update(extra)
    return c


def produce(conf, topic, values):
    p = Producer(dict(conf, acks="all", **{"linger.ms": 5}))
    errors = []
    for v in values:
        p.produce(topic, v, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0 and not errors, errors


def consume(conf, topic, n, **extra):
    c = Consumer(dict(conf, **{"group.id": "g-" + topic,
                               "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}, **extra))
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    while len(out) < n:
        m = c.poll(10)
        assert m is not None, "got %d of %d records" % (len(out), n)
        assert m.error() is None, m.error()
        out.append(m.value())
    c.close()
    return out


def tls_client(port, ca, version=None, cert=None):
    ctx = ssl.create_default_context(cafile=ca)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    if cert is not None:
        ctx.load_cert_chain(*cert)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def api_versions(sock):
    sock.sendall(request(18, 0, 7))
    body = recv_frame(sock)
    assert struct.unpack(">ih", body[:6]) == (7, 0)


def test_confluent_produce_consume_over_ssl(broker):
    values = [b"tls-%05d" % i for i in range(2000)]
    produce(ssl_conf(broker), "tls", values)
    assert consume(ssl_conf(broker), "tls", len(values)) == values
    # Clients of the SSL listener are sent on to its port.
    md = AdminClient(ssl_conf(broker)).list_topics(timeout=10)
    assert md.brokers[1].port == broker.ssl_port
    out = broker.output()
    assert "listener=SSL://127.0.0.1:%d protocol=SSL" % broker.ssl_port in out
    assert re.search(r"listener=SSL msg=\"TLS: Fetch file ranges", out)
    assert 'principal="User:ANONYMOUS"' in out


def java_describe_cluster(port, *props):
    """The Java client's describeCluster over SSL; returns its output."""
    target = os.path.join(REPO, "tests", "java", "target")
    cp = os.path.join(target, "classes") + ":" + os.path.join(target, "deps",
                                                               "*")
    res = subprocess.run(["java", "-cp", cp, "brokerd.ClientCheck",
                          "127.0.0.1:%d" % port, "describe-cluster",
                          "security.protocol=SSL"] + list(props),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_java_and_kcat_over_ssl(broker):
    ca = broker.certs.path("ca.pem")
    out = java_describe_cluster(broker.ssl_port, "ssl.truststore.type=PEM",
                                "ssl.truststore.location=" + ca)
    assert "node=1 127.0.0.1:%d" % broker.ssl_port in out
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    res = subprocess.run([kcat, "-b", "127.0.0.1:%d" % broker.ssl_port,
                          "-X", "security.protocol=ssl",
                          "-X", "ssl.ca.location=" + ca, "-L", "-m", "10"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "broker 1 at 127.0.0.1:%d" % broker.ssl_port in res.stdout


def test_kafka_python_over_ssl(broker):
    from kafka import KafkaConsumer, KafkaProducer
    boot = "127.0.0.1:%d" % broker.ssl_port
    ca = broker.certs.path("ca.pem")
    p = KafkaProducer(bootstrap_servers=boot, security_protocol="SSL",
                      ssl_cafile=ca, acks="all")
    for i in range(200):
        p.send("kp", b"kp-%d" % i)
    p.flush(30)
    p.close()
    c = KafkaConsumer("kp", bootstrap_servers=boot, security_protocol="SSL",
                      ssl_cafile=ca, auto_offset_reset="earliest",
                      consumer_timeout_ms=10000)
    got = [m.value for _, m in zip(range(200), c)]
    c.close()
    assert got == [b"kp-%d" % i for i in range(200)]


def test_large_fetch_is_byte_identical(broker):
    rnd = [os.urandom(500 * 1024) for _ in range(12)]  # 6 MB
    produce(ssl_conf(broker, **{"message.max.bytes": 1000000}), "big", rnd)
    got = consume(ssl_conf(broker), "big", len(rnd),
                  **{"fetch.max.bytes": 16 * 1024 * 1024,
                     "max.partition.fetch.bytes": 16 * 1024 * 1024})
    assert got == rnd


def test_tls12_and_tls13_clients(broker):
    ca = broker.certs.path("ca.pem")
    for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                    (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        with tls_client(broker.ssl_port, ca, v) as s:
            assert s.version() == name
            api_versions(s)


def test_plaintext_request_on_ssl_port_is_closed(broker):
    with socket.create_connection(("127.0.0.1", broker.ssl_port), 10) as s:
        s.sendall(request(18, 0, 1))
        assert is_closed(s)
    assert broker.alive()
    assert "TLS handshake failed" in broker.output()
    with tls_client(broker.ssl_port, broker.certs.path("ca.pem")) as s:
        api_versions(s)


def test_mtls_required(tmp_path):
    b = start(tmp_path, **{
        "ssl.enabled.protocols": "TLSv1.3",
        "listener.name.ssl.ssl.client.auth": "required",
        "listener.name.ssl.ssl.truststore.location": "%s/ca.pem" % tmp_path,
        "ssl.principal.mapping.rules":
            "RULE:^CN=([^,]*),OU=test,.*$/$1/U,DEFAULT"})
    try:
        ca = b.certs.path("ca.pem")
        cert = (b.certs.path("client.crt"), b.certs.path("client.key"))
        with tls_client(b.ssl_port, ca, cert=cert) as s:
            api_versions(s)
        assert 'principal="User:CLIENT"' in b.output()
        # No certificate, or one from another CA: refused (TLS 1.3 sends
        # the refusal after the client's handshake ends, so it shows on
        # the first read).
        rogue = (b.certs.path("rogue.crt"), b.certs.path("rogue.key"))
        for c in (None, rogue):
            with pytest.raises((ssl.SSLError, ConnectionError)):
                with tls_client(b.ssl_port, ca, cert=c) as s:
                    api_versions(s)
        # ssl.enabled.protocols=TLSv1.3 refuses a TLS 1.2 client.
        with pytest.raises(ssl.SSLError):
            tls_client(b.ssl_port, ca, ssl.TLSVersion.TLSv1_2, cert=cert)
        # confluent-kafka with its certificate.
        conf = ssl_conf(b, **{"ssl.certificate.location": cert[0],
                              "ssl.key.location": cert[1]})
        produce(conf, "mtls", [b"a", b"b"])
        assert consume(conf, "mtls", 2) == [b"a", b"b"]
        # The Java client with a PEM keystore (KIP-651).
        java_describe_cluster(b.ssl_port, "ssl.truststore.type=PEM",
                              "ssl.truststore.location=" + ca,
                              "ssl.keystore.type=PEM",
                              "ssl.keystore.location=" +
                              b.certs.path("client.pem"))
        assert b.alive()
    finally:
        assert b.stop() == 0, b.output()[-3000:]
        b.cleanup()


def test_inline_pem_and_key_password(tmp_path):
    certs = Certs(str(tmp_path))
    one_line = lambda pem: pem.decode().replace("\n", " ")
    b = start(tmp_path, certs, **{
        "ssl.keystore.location": "",
        "ssl.keystore.key": one_line(certs.key_pem),
        "ssl.keystore.certificate.chain": one_line(certs.chain_pem)})
    try:
        with tls_client(b.ssl_port, b.certs.path("ca.pem")) as s:
            api_versions(s)
    finally:
        assert b.stop() == 0, b.output()[-3000:]
        b.cleanup()
    b = start(tmp_path, certs, **{
        "ssl.keystore.location": certs.path("server-enc.pem"),
        "ssl.key.password": "secret"})
    try:
        with tls_client(b.ssl_port, b.certs.path("ca.pem")) as s:
            api_versions(s)
    finally:
        assert b.stop() == 0, b.output()[-3000:]
        b.cleanup()


@pytest.mark.parametrize("extra,needle", [
    ({"ssl.keystore.location": "/nonexistent.pem"},
     "ssl.keystore.location: cannot read /nonexistent.pem"),
    ({"ssl.keystore.location": "@enc", "ssl.key.password": "wrong"},
     "ssl.keystore.location (key; or ssl.key.password)"),
    ({"ssl.keystore.type": "JKS"}, "ssl.keystore.type: only PEM"),
    ({"ssl.client.auth": "required"}, "needs ssl.truststore.location"),
    ({"ssl.enabled.protocols": "TLSv1.1"}, "'TLSv1.1' is not supported"),
    ({"ssl.principal.mapping.rules": "RULE:x"},
     "ssl.principal.mapping.rules: invalid rule"),
    ({"ssl.cipher.suites": "TLS_AES_128_GCM_SHA256"},
     "ssl.cipher.suites: no known TLS 1.2 suite"),
    ({"ssl.keystore.location": "", "ssl.keystore.key": "x"},
     "an SSL listener needs a key and certificate"),
])
def test_bad_tls_settings_stop_start_up(tmp_path, extra, needle):
    certs = Certs(str(tmp_path))
    if extra.get("ssl.keystore.location") == "@enc":
        extra = dict(extra, **{"ssl.keystore.location":
                               certs.path("server-enc.pem")})
    p = free_port()
    conf = {"listeners": "PLAINTEXT://127.0.0.1:%d,SSL://127.0.0.1:0" % p,
            "ssl.keystore.location": certs.path("server.pem")}
    conf.update(extra)
    b = Broker(conf, port=p)
    try:
        b.start(wait=False)
        assert b.proc.wait(timeout=10) != 0
        lines = [l for l in b.output().splitlines() if l.strip()]
        assert len(lines) == 1 and needle in lines[0], lines
        assert "listener SSL" in lines[0]
    finally:
        b.cleanup()


def test_pipelined_requests_over_tls(broker):
    """Hundreds of requests in one burst: the broker takes 64 frames per
    turn and stops at connection.max.inflight.requests, while the TLS
    session may already hold the rest decrypted (nothing left on the
    socket to wake the poll); every request must still be answered."""
    n = 1000
    with tls_client(broker.ssl_port, broker.certs.path("ca.pem")) as s:
        s.sendall(b"".join(request(18, 0, i) for i in range(n)))
        for i in range(n):
            body = recv_frame(s)
            assert struct.unpack(">ih", body[:6]) == (i, 0)


def test_pipelined_requests_over_tls_with_backpressure(tmp_path):
    b = start(tmp_path, **{"connection.max.inflight.requests": "2",
                           "logger.level": "info"})
    try:
        n = 2000
        big = b"x" * 3000  # a larger client id: several records' worth
        with tls_client(b.ssl_port, b.certs.path("ca.pem")) as s:
            s.sendall(b"".join(request(18, 0, i, client_id=big.decode())
                               for i in range(n)))
            for i in range(n):
                body = recv_frame(s)
                assert struct.unpack(">ih", body[:6]) == (i, 0)
    finally:
        assert b.stop() == 0, b.output()[-3000:]
        b.cleanup()


def test_requested_ciphers_stall_and_secrets(tmp_path):
    """ssl.client.auth=requested (a certificate is optional but used),
    ssl.cipher.suites in Kafka's names, a handshake that never starts is
    closed after connection.partial.request.timeout.ms, and the key
    password is not given out by DescribeConfigs."""
    from confluent_kafka.admin import ConfigResource
    b = start(tmp_path, **{
        "ssl.client.auth": "requested",
        "ssl.truststore.location": "%s/ca.pem" % tmp_path,
        "ssl.cipher.suites": "TLS_AES_128_GCM_SHA256,"
                             "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ssl.key.password": "not-needed",
        "connection.partial.request.timeout.ms": "1000"})
    try:
        ca = b.certs.path("ca.pem")
        cert = (b.certs.path("client.crt"), b.certs.path("client.key"))
        with tls_client(b.ssl_port, ca) as s:
            assert s.cipher()[0] == "TLS_AES_128_GCM_SHA256"
            api_versions(s)
        with tls_client(b.ssl_port, ca, ssl.TLSVersion.TLSv1_2,
                        cert=cert) as s:
            assert s.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
            api_versions(s)
        out = b.output()
        assert 'tls=TLSv1.3 principal="User:ANONYMOUS"' in out
        assert 'tls=TLSv1.2 principal="User:CN=client,OU=test,O=x"' in out
        # A client that offers only other suites is refused.
        ctx = ssl.create_default_context(cafile=ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384")
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(socket.create_connection(
                ("127.0.0.1", b.ssl_port), 10), server_hostname="localhost")
        # Connected, silent: closed by the sweep, the broker unharmed.
        with socket.create_connection(("127.0.0.1", b.ssl_port), 10) as s:
            assert is_closed(s, timeout=5)
        assert "no TLS handshake within 1000 ms" in b.output()
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        res = ConfigResource(ConfigResource.Type.BROKER, "1")
        cfg = admin.describe_configs([res])[res].result(10)
        assert cfg["ssl.key.password"].is_sensitive
        assert cfg["ssl.key.password"].value is None
        assert cfg["ssl.client.auth"].value == "requested"
    finally:
        assert b.stop() == 0, b.output()[-3000:]
        b.cleanup()
