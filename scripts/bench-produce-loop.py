#!/usr/bin/env python3
"""A produce loop for the counting-cost figures of docs/operations.md.

Starts the given brokerd on free ports (num.shards=2, a temporary data
directory), produces N records of 100 bytes with confluent-kafka (acks=1,
linger.ms=5, batch.size=64 KiB), and prints records/s and the broker's CPU
time per record (utime+stime of /proc/<pid>/stat, start-up included).
With "scrape", the admin listener is on and /metrics is read every second
meanwhile.

Usage: scripts/bench-produce-loop.py BROKERD N [scrape]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from confluent_kafka import Producer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, tmp, scrape):
    port, aport = free_port(), free_port()
    conf = os.path.join(tmp, "b.conf")
    with open(conf, "w") as f:
        f.write("node.id=1\nlisteners=PLAINTEXT://127.0.0.1:%d\n"
                "log.dirs=%s/data\nnum.shards=2\n" % (port, tmp))
        if scrape:
            f.write("admin.listeners=http://127.0.0.1:%d\n" % aport)
    log = open(os.path.join(tmp, "log"), "w")
    proc = subprocess.Popen([binary, "-c", conf], stdout=log,
                            stderr=subprocess.STDOUT)
    time.sleep(1.5)
    return proc, port, aport


def scraper(aport, stop):
    while not stop.wait(1.0):
        url = "http://127.0.0.1:%d/metrics" % aport
        urllib.request.urlopen(url, timeout=5).read()


def produce(port, n):
    p = Producer({"bootstrap.servers": "127.0.0.1:%d" % port, "acks": "1",
                  "linger.ms": 5, "batch.size": 65536,
                  "queue.buffering.max.messages": 1000000})
    p.produce("warm", b"x")
    p.flush(10)
    val = b"v" * 100
    t0 = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce("bench", val)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(60)
    return time.monotonic() - t0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    scrape = len(sys.argv) > 3 and sys.argv[3] == "scrape"
    tmp = tempfile.mkdtemp(prefix="bench-produce-")
    proc, port, aport = start(binary, tmp, scrape)
    stop = threading.Event()
    try:
        if scrape:
            threading.Thread(target=scraper, args=(aport, stop),
                             daemon=True).start()
        dt = produce(port, n)
        cpu = cpu_seconds(proc.pid)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    print("%.0f rec/s, broker CPU %.3f us/record" % (n / dt, cpu * 1e6 / n))


if __name__ == "__main__":
    main()
