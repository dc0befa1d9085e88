"""Raw DescribeClientQuotas (48) and AlterClientQuotas (49) v0 frames for
the quota tests: encoders for the requests, decoders for the answers."""
import struct

from harness import recv_frame, request


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _nstr(s):
    return struct.pack(">h", -1) if s is None else _str(s)


class Reader:
    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def nstr(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s


def alter(sock, entries, validate_only=False, corr=3):
    """entries: [(entity [(type, name|None)], ops [(key, value, remove)])].
    Returns [(error_code, message, entity)]."""
    body = struct.pack(">i", len(entries))
    for entity, ops in entries:
        body += struct.pack(">i", len(entity))
        for t, n in entity:
            body += _str(t) + _nstr(n)
        body += struct.pack(">i", len(ops))
        for k, v, rm in ops:
            body += _str(k) + struct.pack(">d?", v, rm)
    body += struct.pack(">?", validate_only)
    sock.sendall(request(49, 0, corr, body))
    r = Reader(recv_frame(sock))
    assert r.take(">i") == corr
    r.take(">i")  # throttle_time_ms
    out = []
    for _ in range(r.take(">i")):
        err = r.take(">h")
        msg = r.nstr()
        ent = [(r.nstr(), r.nstr()) for _ in range(r.take(">i"))]
        out.append((err, msg, ent))
    return out


def describe(sock, components, strict=False, corr=4):
    """components: [(type, match_type, match|None)]. Returns (error_code,
    message, {entity tuple: {key: value}})."""
    body = struct.pack(">i", len(components))
    for t, mt, m in components:
        body += _str(t) + struct.pack(">b", mt) + _nstr(m)
    body += struct.pack(">?", strict)
    sock.sendall(request(48, 0, corr, body))
    r = Reader(recv_frame(sock))
    assert r.take(">i") == corr
    r.take(">i")
    err = r.take(">h")
    msg = r.nstr()
    n = r.take(">i")
    entries = {}
    for _ in range(max(n, 0)):
        ent = tuple((r.nstr(), r.nstr()) for _ in range(r.take(">i")))
        vals = {}
        for _ in range(r.take(">i")):
            k = r.nstr()
            vals[k] = r.take(">d")
        entries[ent] = vals
    return err, msg, entries
