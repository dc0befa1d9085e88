#!/usr/bin/env python3
"""Capture the first request frames a Kafka client sends (test tooling).

Usage: capture_request.py OUT_PREFIX [COUNT]

Listens on 127.0.0.1 on a free port, prints the port, accepts one
connection, and saves the first COUNT (default 1) request frames as
OUT_PREFIX.N.bin (frame body only: the bytes after the INT32 size). It then
closes the connection without answering. Point a client at the port, e.g.
`kcat -b 127.0.0.1:PORT -L`. The captures are embedded as C arrays in
test_codec_golden.c; this script is not run by the tests.
"""

import socket
import struct
import sys


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed after %d bytes" % len(buf))
        buf += chunk
    return buf


def main():
    prefix = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    conn, _ = srv.accept()
    conn.settimeout(10)
    for i in range(count):
        (size,) = struct.unpack(">i", read_exact(conn, 4))
        body = read_exact(conn, size)
        with open("%s.%d.bin" % (prefix, i), "wb") as fh:
            fh.write(body)
    conn.close()
    srv.close()


if __name__ == "__main__":
    main()
