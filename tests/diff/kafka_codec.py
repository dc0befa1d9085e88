"""A generic Kafka protocol codec, driven at run time by Kafka's message
definitions (the JSON files in ../shared/kafka-protocol/messages).

It is written independently of brokerd's generated C codec on purpose: the
differential tester decodes both brokers' answers with it, so a bug shared
by brokerd's encoder and its own decoder cannot hide a difference.

Messages decode to plain dicts keyed by the schema's field names (the
schema's CamelCase). Values: ints, floats, bools, str or None for strings,
bytes or None for bytes and records, uuid as a 32-digit hex str, lists and
nested dicts. A tagged field is a key only when it was on the wire; tags the
schema does not know are kept, as hex, under "_unknown_tags" so that a
decode followed by an encode gives back the same bytes.

Standard library only.
"""
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MESSAGES = os.path.join(ROOT, "..", "shared", "kafka-protocol", "messages")

PRIMS = {
    "int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q",
    "uint16": ">H", "float64": ">d",
}
UNKNOWN = "_unknown_tags"


class CodecError(Exception):
    pass


def messages_dir():
    return os.environ.get("BK_KAFKA_MESSAGES", DEFAULT_MESSAGES)


def load_json(path):
    """Kafka's JSON has // line comments, which json cannot read."""
    with open(path) as f:
        text = "".join(re.sub(r"^\s*//.*$", "", line) for line in f)
    return json.loads(text)


class Versions:
    """A schema version range: "0+", "3-7", "5" or "none"."""

    def __init__(self, text):
        text = (text or "none").strip()
        if text == "none":
            self.lo, self.hi = 1, 0
        elif text.endswith("+"):
            self.lo, self.hi = int(text[:-1]), 1 << 15
        elif "-" in text:
            lo, hi = text.split("-")
            self.lo, self.hi = int(lo), int(hi)
        else:
            self.lo = self.hi = int(text)

    def __contains__(self, v):
        return self.lo <= v <= self.hi


# --- wire primitives --------------------------------------------------------

class Reader:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise CodecError("need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def fixed(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise CodecError("varint too long")


def uvarint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# --- schema -------------------------------------------------------------------

class Field:
    def __init__(self, spec, structs):
        self.name = spec["name"]
        self.versions = Versions(spec.get("versions"))
        self.nullable = Versions(spec.get("nullableVersions"))
        self.tagged = Versions(spec.get("taggedVersions"))
        self.tag = spec.get("tag")
        # Only RequestHeader.ClientId overrides the message's flexible
        # versions: it stays a classic string so that any broker can read
        # the client id before it knows the header version.
        self.flex = Versions(spec["flexibleVersions"]) if "flexibleVersions" in spec else None
        t = spec["type"]
        self.array = t.startswith("[]")
        self.elem = t[2:] if self.array else t
        self.struct = None
        if "fields" in spec:
            self.struct = [Field(f, structs) for f in spec["fields"]]
        elif self.elem not in PRIMS and self.elem not in (
                "bool", "string", "bytes", "records", "uuid"):
            if self.elem not in structs:
                raise CodecError("unknown type %s" % t)
            self.struct = structs[self.elem]


class Message:
    def __init__(self, spec):
        self.name = spec["name"]
        self.api_key = spec.get("apiKey")
        self.kind = spec["type"]
        self.valid = Versions(spec.get("validVersions"))
        self.flexible = Versions(spec.get("flexibleVersions"))
        structs = {}
        # Common structs may refer to each other; resolve them in an order
        # that puts each after the ones it uses.
        pending = list(spec.get("commonStructs", []))
        while pending:
            progress = False
            for s in list(pending):
                try:
                    structs[s["name"]] = [Field(f, structs) for f in s["fields"]]
                except CodecError:
                    continue
                pending.remove(s)
                progress = True
            if not progress:
                raise CodecError("%s: unresolved common structs" % self.name)
        self.fields = [Field(f, structs) for f in spec["fields"]]

    def decode(self, data, version, pos=0):
        """Decodes one body; returns (dict, end position)."""
        r = Reader(data, pos)
        out = decode_struct(r, self.fields, version, version in self.flexible)
        return out, r.pos

    def encode(self, value, version):
        out = bytearray()
        encode_struct(out, self.fields, value, version, version in self.flexible)
        return bytes(out)


def is_flex(field, flexible, version):
    if field.flex is not None:
        return version in field.flex
    return flexible


def decode_value(r, f, version, flexible, elem=False):
    flex = is_flex(f, flexible, version)
    if f.array and not elem:
        n = r.uvarint() - 1 if flex else r.fixed(">i")
        if n < 0:
            if version not in f.nullable:
                raise CodecError("%s: null array" % f.name)
            return None
        return [decode_value(r, f, version, flexible, True) for _ in range(n)]
    if f.struct is not None:
        if not f.array and version in f.nullable:
            if r.fixed(">b") < 0:
                return None
        return decode_struct(r, f.struct, version, flexible)
    t = f.elem
    if t in PRIMS:
        return r.fixed(PRIMS[t])
    if t == "bool":
        return r.take(1)[0] != 0
    if t == "uuid":
        return r.take(16).hex()
    if t in ("string", "bytes", "records"):
        if flex:
            n = r.uvarint() - 1
        else:
            n = r.fixed(">h") if t == "string" else r.fixed(">i")
        if n < 0:
            # Records are always nullable on the wire; others only where
            # the schema says so, but a decoder is lenient on answers.
            return None
        raw = r.take(n)
        return raw.decode("utf-8", "surrogateescape") if t == "string" else raw
    raise CodecError("type %s" % t)


def decode_struct(r, fields, version, flexible):
    out = {}
    tagged = {}
    for f in fields:
        if version not in f.versions:
            continue
        if f.tag is not None and version in f.tagged and flexible:
            tagged[f.tag] = f
            continue
        out[f.name] = decode_value(r, f, version, flexible)
    if flexible:
        for _ in range(r.uvarint()):
            tag = r.uvarint()
            size = r.uvarint()
            raw = r.take(size)
            f = tagged.get(tag)
            if f is None:
                out.setdefault(UNKNOWN, {})[str(tag)] = raw.hex()
                continue
            sub = Reader(raw)
            out[f.name] = decode_value(sub, f, version, flexible)
    return out


def default_of(f, version):
    if f.array:
        return None if version in f.nullable else []
    if f.struct is not None:
        return None if version in f.nullable else {}
    t = f.elem
    if t in PRIMS:
        return 0
    if t == "bool":
        return False
    if t == "uuid":
        return "0" * 32
    if t == "string":
        return None if version in f.nullable else ""
    return None if version in f.nullable or t == "records" else b""


def encode_value(out, f, v, version, flexible, elem=False):
    flex = is_flex(f, flexible, version)
    if f.array and not elem:
        if v is None:
            out += uvarint(0) if flex else struct.pack(">i", -1)
            return
        out += uvarint(len(v) + 1) if flex else struct.pack(">i", len(v))
        for item in v:
            encode_value(out, f, item, version, flexible, True)
        return
    if f.struct is not None:
        if not f.array and version in f.nullable:
            out += struct.pack(">b", -1 if v is None else 1)
            if v is None:
                return
        encode_struct(out, f.struct, v or {}, version, flexible)
        return
    t = f.elem
    if t in PRIMS:
        out += struct.pack(PRIMS[t], v)
    elif t == "bool":
        out.append(1 if v else 0)
    elif t == "uuid":
        out += bytes.fromhex(v)
    else:
        if v is None:
            out += uvarint(0) if flex else struct.pack(">h" if t == "string" else ">i", -1)
            return
        raw = v.encode("utf-8", "surrogateescape") if t == "string" else bytes(v)
        if flex:
            out += uvarint(len(raw) + 1)
        else:
            out += struct.pack(">h" if t == "string" else ">i", len(raw))
        out += raw


def encode_struct(out, fields, value, version, flexible):
    tagged = {}
    for f in fields:
        if version not in f.versions:
            continue
        if f.tag is not None and version in f.tagged and flexible:
            if f.name in value:
                sub = bytearray()
                encode_value(sub, f, value[f.name], version, flexible)
                tagged[f.tag] = bytes(sub)
            continue
        v = value[f.name] if f.name in value else default_of(f, version)
        encode_value(out, f, v, version, flexible)
    if flexible:
        for tag, raw in value.get(UNKNOWN, {}).items():
            tagged[int(tag)] = bytes.fromhex(raw)
        out += uvarint(len(tagged))
        for tag in sorted(tagged):
            out += uvarint(tag) + uvarint(len(tagged[tag])) + tagged[tag]


# --- the set of messages ------------------------------------------------------

class Schema:
    """Every request and response of one messages folder."""

    def __init__(self, folder=None):
        folder = folder or messages_dir()
        if not os.path.isdir(folder):
            raise CodecError("no Kafka message definitions at %s" % folder)
        self.requests = {}
        self.responses = {}
        self.headers = {}
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                continue
            spec = load_json(os.path.join(folder, name))
            kind = spec.get("type")
            if kind not in ("request", "response", "header"):
                continue
            msg = Message(spec)
            if kind == "header":
                self.headers[msg.name] = msg
            elif kind == "request":
                self.requests[msg.api_key] = msg
            else:
                self.responses[msg.api_key] = msg

    def api_name(self, api_key):
        m = self.requests.get(api_key)
        return m.name[:-len("Request")] if m else "Api%d" % api_key

    def request_header_version(self, api_key, version):
        return 2 if version in self.requests[api_key].flexible else 1

    def response_header_version(self, api_key, version):
        # ApiVersions answers with header v0 always (KIP-511): a client
        # that sent a version the broker does not know must still read it.
        if api_key == 18:
            return 0
        return 1 if version in self.responses[api_key].flexible else 0

    def decode_request(self, frame):
        """frame: the bytes after the size prefix. Returns
        (header dict, body dict)."""
        api_key, version = struct.unpack_from(">hh", frame)
        h = self.headers["RequestHeader"]
        hv = self.request_header_version(api_key, version)
        header, pos = h.decode(frame, hv)
        body, end = self.requests[api_key].decode(frame, version, pos)
        if end != len(frame):
            raise CodecError("%s v%d request: %d trailing bytes"
                             % (self.api_name(api_key), version, len(frame) - end))
        return header, body

    def encode_request(self, header, body):
        api_key, version = header["RequestApiKey"], header["RequestApiVersion"]
        hv = self.request_header_version(api_key, version)
        return (self.headers["RequestHeader"].encode(header, hv)
                + self.requests[api_key].encode(body, version))

    def decode_response(self, api_key, version, frame):
        h = self.headers["ResponseHeader"]
        header, pos = h.decode(frame, self.response_header_version(api_key, version))
        body, end = self.responses[api_key].decode(frame, version, pos)
        if end != len(frame):
            raise CodecError("%s v%d response: %d trailing bytes"
                             % (self.api_name(api_key), version, len(frame) - end))
        return header, body

    def encode_response(self, api_key, version, header, body):
        h = self.headers["ResponseHeader"]
        return (h.encode(header, self.response_header_version(api_key, version))
                + self.responses[api_key].encode(body, version))
