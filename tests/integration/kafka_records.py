"""Raw Kafka data-path helpers for the integration tests: CRC32C, magic-2
record batches built by hand, and the Produce v8, ListOffsets v1, Fetch v4
and Metadata v1 requests with their answers. Written from the Kafka
protocol documentation; uncompressed batches only.
"""
import struct

from harness import recv_frame, request

# --- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) -----------------

_CRC32C_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --- varints ---------------------------------------------------------------

def zigzag(n):
    """A signed varint (Kafka's varint/varlong) as bytes."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def read_zigzag(buf, pos):
    shift = 0
    z = 0
    while True:
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    return (z >> 1) ^ -(z & 1), pos


# --- record batches (magic 2) ----------------------------------------------

NO_PRODUCER_ID = -1

# Offsets of fields inside a batch.
OFF_BATCH_LENGTH = 8
OFF_MAGIC = 16
OFF_CRC = 17
OFF_ATTRIBUTES = 21
BATCH_HEADER_SIZE = 61


def encode_record(offset_delta, ts_delta, key, value, headers=()):
    body = b"\x00" + zigzag(ts_delta) + zigzag(offset_delta)
    if key is None:
        body += zigzag(-1)
    else:
        body += zigzag(len(key)) + key
    if value is None:
        body += zigzag(-1)
    else:
        body += zigzag(len(value)) + value
    body += zigzag(len(headers))
    for hk, hv in headers:
        body += zigzag(len(hk)) + hk
        body += zigzag(-1) if hv is None else zigzag(len(hv)) + hv
    return zigzag(len(body)) + body


def build_batch(records, base_timestamp=1700000000000, producer_id=-1,
                producer_epoch=-1, base_sequence=-1, attributes=0,
                base_offset=0, ts_step=1):
    """records: list of (key, value). Returns the batch bytes with a correct
    CRC32C."""
    recs = b"".join(encode_record(i, i * ts_step, k, v)
                    for i, (k, v) in enumerate(records))
    last_delta = len(records) - 1
    max_ts = base_timestamp + last_delta * ts_step
    after_crc = struct.pack(">hiqqqhii", attributes, last_delta,
                            base_timestamp, max_ts, producer_id,
                            producer_epoch, base_sequence, len(records)) + recs
    crc = crc32c(after_crc)
    # batchLength counts from partitionLeaderEpoch to the end.
    batch_length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", base_offset, batch_length, -1, 2, crc) + \
        after_crc


def parse_batches(data):
    """Parses a record set (as returned by Fetch) into a list of dicts; a
    partial trailing batch is dropped, as clients do. Checks each CRC."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        (ple, magic, crc) = struct.unpack_from(">ibI", data, pos + 12)
        assert magic == 2, "magic %d" % magic
        assert crc32c(data[pos + OFF_ATTRIBUTES:end]) == crc, "bad CRC in fetch"
        (attrs, last_delta, base_ts, max_ts, pid, epoch, base_seq,
         count) = struct.unpack_from(">hiqqqhii", data, pos + OFF_ATTRIBUTES)
        records = []
        if attrs & 0x07 == 0:
            rpos = pos + BATCH_HEADER_SIZE
            for _ in range(count):
                rlen, rpos = read_zigzag(data, rpos)
                rend = rpos + rlen
                rpos += 1  # attributes
                ts_delta, rpos = read_zigzag(data, rpos)
                off_delta, rpos = read_zigzag(data, rpos)
                klen, rpos = read_zigzag(data, rpos)
                key = None
                if klen >= 0:
                    key = bytes(data[rpos:rpos + klen])
                    rpos += klen
                vlen, rpos = read_zigzag(data, rpos)
                value = None
                if vlen >= 0:
                    value = bytes(data[rpos:rpos + vlen])
                    rpos += vlen
                records.append({"offset": base_offset + off_delta,
                                "timestamp": base_ts + ts_delta,
                                "key": key, "value": value})
                rpos = rend
        out.append({"base_offset": base_offset, "count": count,
                    "last_offset_delta": last_delta, "attributes": attrs,
                    "producer_id": pid, "producer_epoch": epoch,
                    "base_sequence": base_seq, "records": records,
                    "leader_epoch": ple})
        pos = end
    return out


# --- request encoding --------------------------------------------------------

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, buf, pos=0):
        self.buf = buf
        self.pos = pos

    def _unpack(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def i8(self):
        return self._unpack(">b")

    def i16(self):
        return self._unpack(">h")

    def i32(self):
        return self._unpack(">i")

    def i64(self):
        return self._unpack(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.buf[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b


def produce_v8(sock, topic, partition, records_bytes, acks=-1, corr=100,
               timeout_ms=10000, transactional_id=None):
    """Sends one Produce v8 request for one partition and returns
    (error_code, base_offset, log_start_offset, record_errors, message)."""
    body = struct.pack(">h", -1) if transactional_id is None else \
        _str(transactional_id)
    body += struct.pack(">hi", acks, timeout_ms)
    body += struct.pack(">i", 1) + _str(topic)
    body += struct.pack(">i", 1) + struct.pack(">i", partition)
    body += struct.pack(">i", len(records_bytes)) + records_bytes
    sock.sendall(request(0, 8, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    assert r.i32() == 1
    assert r.string() == topic
    assert r.i32() == 1
    assert r.i32() == partition
    err = r.i16()
    base_offset = r.i64()
    r.i64()  # log_append_time_ms
    log_start = r.i64()
    nerr = r.i32()
    rec_errors = []
    for _ in range(max(nerr, 0)):
        rec_errors.append((r.i32(), r.string()))
    msg = r.string()
    return err, base_offset, log_start, rec_errors, msg


def list_offsets_v1(sock, topic, partition, timestamp, corr=200):
    """ListOffsets v1 for one partition: returns (error, timestamp, offset).
    timestamp -1 = latest, -2 = earliest."""
    body = struct.pack(">i", -1)  # replica_id
    body += struct.pack(">i", 1) + _str(topic)
    body += struct.pack(">i", 1) + struct.pack(">iq", partition, timestamp)
    sock.sendall(request(2, 1, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    assert r.i32() == 1
    assert r.string() == topic
    assert r.i32() == 1
    assert r.i32() == partition
    return r.i16(), r.i64(), r.i64()


def fetch_v4(sock, topic, partition, offset, corr=300, max_wait_ms=0,
             max_bytes=1 << 20, isolation_level=0):
    """Fetch v4 for one partition: returns (error, high_watermark,
    last_stable_offset, record bytes)."""
    body = struct.pack(">iiiib", -1, max_wait_ms, 0 if max_wait_ms == 0 else 1,
                       max_bytes, isolation_level)
    body += struct.pack(">i", 1) + _str(topic)
    body += struct.pack(">i", 1) + struct.pack(">iqi", partition, offset,
                                               max_bytes)
    sock.sendall(request(1, 4, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    r.i32()  # throttle
    assert r.i32() == 1
    assert r.string() == topic
    assert r.i32() == 1
    assert r.i32() == partition
    err = r.i16()
    hw = r.i64()
    lso = r.i64()
    naborted = r.i32()
    for _ in range(max(naborted, 0)):
        r.i64()
        r.i64()
    data = r.bytes_()
    return err, hw, lso, data or b""


def metadata_v1(sock, topics, corr=400):
    """Metadata v1 for the named topics: returns {name: (error, [partition
    indexes])}. Metadata v1-3 create missing topics when the broker's
    auto.create.topics.enable is on."""
    body = struct.pack(">i", len(topics)) + b"".join(_str(t) for t in topics)
    sock.sendall(request(3, 1, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    for _ in range(r.i32()):  # brokers
        r.i32()
        r.string()
        r.i32()
        r.string()  # rack
    r.i32()  # controller id
    out = {}
    for _ in range(r.i32()):
        err = r.i16()
        name = r.string()
        r.i8()  # is_internal
        parts = []
        for _ in range(r.i32()):
            r.i16()
            parts.append(r.i32())
            r.i32()  # leader
            for _ in range(r.i32()):
                r.i32()
            for _ in range(r.i32()):
                r.i32()
        out[name] = (err, sorted(parts))
    return out


def fetch_all(sock, topic, partition, start=0, limit=100000):
    """Every batch from start to the high watermark, via Fetch v4."""
    batches = []
    offset = start
    while True:
        err, hw, _, data = fetch_v4(sock, topic, partition, offset)
        assert err == 0, "fetch error %d at offset %d" % (err, offset)
        got = parse_batches(data)
        if not got:
            return batches, hw
        for b in got:
            if b["base_offset"] + b["last_offset_delta"] >= offset:
                batches.append(b)
        offset = got[-1]["base_offset"] + got[-1]["last_offset_delta"] + 1
        if offset >= hw or len(batches) > limit:
            return batches, hw


def fetch_v4_multi(sock, parts, max_bytes, corr=301, max_wait_ms=0):
    """Fetch v4 for several partitions in request order. parts: list of
    (topic, partition, fetch_offset, partition_max_bytes). Returns a list
    of (topic, partition, error, high_watermark, record bytes) in answer
    order."""
    body = struct.pack(">iiiib", -1, max_wait_ms, 1 if max_wait_ms else 0,
                       max_bytes, 0)
    body += struct.pack(">i", len(parts))
    for topic, partition, offset, pmax in parts:
        body += _str(topic) + struct.pack(">i", 1)
        body += struct.pack(">iqi", partition, offset, pmax)
    sock.sendall(request(1, 4, corr, body))
    r = Reader(recv_frame(sock))
    assert r.i32() == corr
    r.i32()  # throttle
    out = []
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            partition = r.i32()
            err = r.i16()
            hw = r.i64()
            r.i64()  # last stable offset
            for _ in range(max(r.i32(), 0)):
                r.i64()
                r.i64()
            data = r.bytes_() or b""
            out.append((topic, partition, err, hw, data))
    return out
