"""systemd's Type=notify readiness: brokerd sends READY=1 to
$NOTIFY_SOCKET once it serves and STOPPING=1 on SIGTERM (sd_notify(3)'s
datagram protocol, without libsystemd)."""
import os
import socket
import tempfile

from harness import Broker, api_versions, connect


def recv_states(sock, timeout):
    sock.settimeout(timeout)
    data, _ = sock.recvfrom(4096)
    return data.decode().split("\n")


def check(address, bind_to):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(bind_to)
    b = Broker(env={"NOTIFY_SOCKET": address})
    try:
        b.start()
        states = recv_states(sock, 15)
        assert "READY=1" in states, states
        # Ready means serving: a request is answered at once.
        s = connect(b.port)
        assert api_versions(s)[1] == 0
        s.close()
        assert "cannot notify" not in b.output()
        # Nothing else until the signal.
        sock.setblocking(False)
        try:
            extra = sock.recv(4096)
        except BlockingIOError:
            extra = None
        assert extra is None, extra
        assert b.stop() == 0
        assert recv_states(sock, 5) == ["STOPPING=1"]
    finally:
        b.cleanup()
        sock.close()


def test_ready_and_stopping_on_a_path_socket():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "notify")
        check(path, path)


def test_abstract_socket():
    name = "brokerd-test-notify-%d" % os.getpid()
    check("@" + name, "\0" + name)


def test_without_notify_socket_nothing_breaks():
    b = Broker(env={"NOTIFY_SOCKET": ""})
    try:
        b.start()
        assert b.stop() == 0
        assert "cannot notify" not in b.output()
    finally:
        b.cleanup()
