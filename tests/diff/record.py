"""A recording TCP proxy for Kafka's protocol.

It listens on 127.0.0.1 and forwards every connection to one broker. The
broker must advertise the proxy's port (advertised.listeners), so that the
clients, which reconnect to the addresses in Metadata and FindCoordinator,
keep going through it. Each request frame and the response frame with the
same correlation id are kept, and write() puts them in a JSON-lines corpus
file, one line per request, in the order the requests arrived:

  {"conn": 3, "seq": 17, "api_key": 3, "api_version": 12,
   "request": "<hex>", "response": "<hex>" or null}

seq counts requests over all connections, so a replay can keep the order
between connections (a produce on one, the fetch that reads it on another).
"response" is null for a Produce with acks=0, which has no answer.

Standard library only; one thread per direction per connection.
"""
import json
import socket
import struct
import threading


def read_frame(sock):
    """One size-prefixed frame without its prefix, or None at EOF."""
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">i", head)
    return recv_exact(sock, n)


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class Recorder:
    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.entries = []     # in arrival order
        self.pending = {}     # (conn, correlation id) -> entry
        self.conns = 0
        self.socks = []
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def retarget(self, port):
        """Later connections go to another port (the broker restarted)."""
        self.target = ("127.0.0.1", port)

    def _accept(self):
        while not self.stopping:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += 1
                conn = self.conns
                self.socks += [client, upstream]
            threading.Thread(target=self._requests, args=(conn, client, upstream),
                             daemon=True).start()
            threading.Thread(target=self._responses, args=(conn, upstream, client),
                             daemon=True).start()

    def _requests(self, conn, client, upstream):
        while True:
            frame = read_frame(client)
            if frame is None:
                break
            api_key, version, corr = struct.unpack_from(">hhi", frame)
            with self.lock:
                entry = {"conn": conn, "seq": len(self.entries),
                         "api_key": api_key, "api_version": version,
                         "request": frame.hex(), "response": None}
                self.entries.append(entry)
                self.pending[(conn, corr)] = entry
            try:
                upstream.sendall(struct.pack(">i", len(frame)) + frame)
            except OSError:
                break
        shut(upstream)

    def _responses(self, conn, upstream, client):
        while True:
            frame = read_frame(upstream)
            if frame is None:
                break
            (corr,) = struct.unpack_from(">i", frame)
            with self.lock:
                entry = self.pending.pop((conn, corr), None)
                if entry is not None:
                    entry["response"] = frame.hex()
            try:
                client.sendall(struct.pack(">i", len(frame)) + frame)
            except OSError:
                break
        shut(client)

    def take(self):
        """The entries recorded so far (removed from the recorder), with
        connection numbers renumbered from 1 in order of first use."""
        with self.lock:
            entries, self.entries = self.entries, []
        first = {}
        out = []
        for i, e in enumerate(entries):
            e = dict(e, seq=i)
            e["conn"] = first.setdefault(e["conn"], len(first) + 1)
            out.append(e)
        return out

    def close(self):
        self.stopping = True
        shut(self.lsock)
        self.lsock.close()
        with self.lock:
            for s in self.socks:
                shut(s)


def shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def write(path, entries):
    with open(path, "w") as f:
        for e in entries:
            f.write(json.dumps(e, sort_keys=True) + "\n")


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
