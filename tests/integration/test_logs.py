"""The broker's own log lines: log.format=json (every line one JSON
object), the request log at debug level, and slow-request warnings above
log.slow.request.ms."""
import json
import struct
import time

from harness import (Broker, START_TIMEOUT, api_versions, connect, recv_frame,
                     request, wait_port, wait_until)


def json_lines(text):
    """Every line parsed with json.loads (fails on the first that is not
    one JSON object with ts, level and subsystem)."""
    out = []
    for line in text.splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        for k in ("ts", "level", "subsystem"):
            assert isinstance(obj[k], str), line
        out.append(obj)
    return out


def start_json(b):
    """Starts b, whose lines are JSON (the harness waits for text ones)."""
    b.start(wait=False)
    assert wait_port(b.port, START_TIMEOUT, b.proc), b.output()
    wait_until(lambda: any(o.get("msg") == "started"
                           for o in json_lines(b.output())),
               "the started line")


def heartbeat_v0(sock, corr, client_id):
    body = struct.pack(">h", 1) + b"g" + struct.pack(">i", 1) + \
        struct.pack(">h", 1) + b"m"
    sock.sendall(request(12, 0, corr, body, client_id=client_id))
    frame = recv_frame(sock)
    (got, err) = struct.unpack_from(">ih", frame, 0)
    assert got == corr
    return err


def test_json_format_and_request_log():
    client = 't"\u00e9\\'
    b = Broker(extra={"log.format": "json", "logger.level": "debug"})
    try:
        start_json(b)
        s = connect(b.port)
        corr, err, keys = api_versions(s)
        assert err == 0 and 18 in keys
        hb_err = heartbeat_v0(s, 5, client)
        assert hb_err != 0
        s.close()
        wait_until(lambda: sum(o["subsystem"] == "request"
                               for o in json_lines(b.output())) >= 2,
                   "two request-log lines")
        assert b.stop() == 0
        lines = json_lines(b.output())
        assert len(lines) > 10
        started = [o for o in lines if o.get("msg") == "started"]
        assert started and isinstance(started[0]["node.id"], int)
        reqs = [o for o in lines if o["subsystem"] == "request"]
        av = [o for o in reqs if o["api"] == "ApiVersions"]
        assert av, reqs
        assert av[0]["level"] == "DEBUG" and av[0]["version"] == 3
        assert av[0]["error_code"] == 0
        assert isinstance(av[0]["latency_us"], int)
        assert av[0]["peer"].startswith("127.0.0.1:")
        hb = [o for o in reqs if o["api"] == "Heartbeat"]
        assert hb and hb[0]["error_code"] == hb_err
        # The client id's quote and backslash come back as themselves; the
        # UTF-8 bytes of e-acute stay as the text form writes them.
        assert hb[0]["client"] == 't"\\xc3\\xa9\\', hb[0]
        for o in lines:
            assert o["ts"].endswith("Z") and "T" in o["ts"]
            assert o["level"] in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
    finally:
        b.cleanup()


def test_slow_request_warning():
    """With the threshold at 0 ms every request is slow; the default
    (1000 ms) leaves a quick one alone, and info level hides the debug
    request log."""
    for fmt in ("text", "json"):
        b = Broker(extra={"log.slow.request.ms": "0", "log.format": fmt})
        try:
            if fmt == "json":
                start_json(b)
            else:
                b.start()
            s = connect(b.port)
            api_versions(s)
            s.close()
            wait_until(lambda: "slow request" in b.output(),
                       "a slow-request line")
            out = b.output()
        finally:
            b.cleanup()
        slow = [l for l in out.splitlines() if "slow request" in l]
        if fmt == "text":
            assert " WARN request " in slow[0], slow
            assert "api=ApiVersions version=3" in slow[0], slow
            assert "error_code=0" in slow[0] and "latency_us=" in slow[0]
        else:
            o = json.loads(slow[0])
            assert o["level"] == "WARN" and o["api"] == "ApiVersions"
            assert o["msg"] == "slow request" and o["error_code"] == 0
    with Broker() as b:
        s = connect(b.port)
        for i in range(20):
            api_versions(s, corr=i)
        s.close()
        time.sleep(0.2)
        out = b.output()
    assert "slow request" not in out
    assert " request " not in out


def test_bad_log_format_is_refused():
    b = Broker(extra={"log.format": "xml"})
    try:
        b.start(wait=False)
        assert b.proc.wait(timeout=10) != 0
        assert "log.format" in b.output()
    finally:
        b.cleanup()
