"""Several listeners at once (KIP-103): each listener has its own name and
security protocol, and a client is given this broker's address on the
listener its request came in on (Metadata, DescribeCluster,
FindCoordinator), advertised or not."""
import struct

from cluster_util import Reader, describe_cluster, metadata
from harness import Broker, connect, free_port, recv_frame, request


def find_coordinator_port(port, group):
    """FindCoordinator v1 for a group; returns (error, port)."""
    body = struct.pack(">h", len(group)) + group.encode() + b"\x00"
    with connect(port) as s:
        s.sendall(request(10, 1, 5, body))
        r = Reader(recv_frame(s), 4)
    r.take(">i")  # throttle_time_ms
    err = r.take(">h")
    r.string()    # error_message
    r.take(">i")  # node_id
    r.string()    # host
    return err, r.take(">i")


def test_each_listener_answers_with_its_own_address():
    p1, p2, p3 = free_port(), free_port(), free_port()
    extra = {
        "listeners": "PLAINTEXT://127.0.0.1:%d,internal://127.0.0.1:%d,"
                     "REPLICATION://127.0.0.1:%d" % (p1, p2, p3),
        "listener.security.protocol.map":
            "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,REPLICATION:PLAINTEXT",
        # INTERNAL is advertised under another port; REPLICATION is not
        # advertised, so it is given as it listens.
        "advertised.listeners": "PLAINTEXT://127.0.0.1:%d,"
                                "INTERNAL://localhost:%d" % (p1, 19999),
        "inter.broker.listener.name": "REPLICATION",
        "controller.listener.names": "REPLICATION",
    }
    with Broker(extra, port=p1) as b:
        out = b.output()
        for name, port in (("PLAINTEXT", p1), ("INTERNAL", p2),
                           ("REPLICATION", p3)):
            assert "listener=%s://127.0.0.1:%d protocol=PLAINTEXT" % (
                name, port) in out
        assert metadata(p1)["brokers"] == {1: p1}
        assert metadata(p2)["brokers"] == {1: 19999}
        assert metadata(p3)["brokers"] == {1: p3}
        assert describe_cluster(p2)[3] == {1: 19999}
        assert describe_cluster(p3)[3] == {1: p3}
        assert find_coordinator_port(p1, "g") == (0, p1)
        assert find_coordinator_port(p2, "g") == (0, 19999)


def test_bad_listener_settings_stop_start_up():
    p1 = free_port()
    b = Broker({"listeners": "PLAINTEXT://127.0.0.1:%d,EXTERNAL://127.0.0.1:0"
                             % p1}, port=p1)
    try:
        b.start(wait=False)
        assert b.proc.wait(timeout=10) != 0
        assert ("'EXTERNAL' has no security protocol in "
                "listener.security.protocol.map") in b.output()
    finally:
        b.cleanup()
