"""brokerctl produce and consume against a live broker, and interop with
kcat (librdkafka) in both directions."""
import shutil
import subprocess
import time

from harness import Broker, brokerctl_path


def ctl(*args, stdin=None, timeout=60):
    return subprocess.run([brokerctl_path()] + list(args), input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def test_produce_consume_keys_headers_and_formats():
    with Broker() as b:
        res = ctl("-b", b.bootstrap, "produce", "demo", "-K", ":", "-H",
                  "src=test", stdin="a:1\nb:2\nc:3\nnokey\n")
        assert res.returncode == 0, res.stderr
        res = ctl("-b", b.bootstrap, "consume", "demo", "-f",
                  "%p %o %k=%v [%h]\\n")
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines() == [
            "0 0 a=1 [src=test]", "0 1 b=2 [src=test]", "0 2 c=3 [src=test]",
            "0 3 =nokey [src=test]"]


def test_codecs_counts_offsets_and_time():
    with Broker() as b:
        lines = "".join("%d\n" % i for i in range(5000))
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            res = ctl("-b", b.bootstrap, "produce", "t-" + codec, "-z", codec,
                      stdin=lines)
            assert res.returncode == 0, (codec, res.stderr)
            res = ctl("-b", b.bootstrap, "consume", "t-" + codec)
            assert res.stdout.split() == [str(i) for i in range(5000)], codec
        res = ctl("-b", b.bootstrap, "consume", "t-none", "-o", "4990", "-c",
                  "3", "-f", "%o:%v\\n")
        assert res.stdout.split() == ["4990:4990", "4991:4991", "4992:4992"]
        res = ctl("-b", b.bootstrap, "consume", "t-none", "-o", "end")
        assert res.returncode == 0 and res.stdout == ""
        # Everything was written after 2020; nothing after a far future.
        res = ctl("-b", b.bootstrap, "consume", "t-none", "--from-time",
                  "2020-01-01T00:00:00Z", "-c", "1", "-f", "%o\\n")
        assert res.stdout.split() == ["0"]
        future = str(int(time.time() * 1000) + 10 ** 9)
        res = ctl("-b", b.bootstrap, "consume", "t-none", "--from-time",
                  future)
        assert res.returncode == 0 and res.stdout == ""


def test_keyed_records_land_where_kafka_clients_put_them():
    kcat = shutil.which("kcat")
    with Broker({"num.partitions": "6"}) as b:
        keys = ["user-%d" % i for i in range(60)]
        res = ctl("-b", b.bootstrap, "produce", "keyed", "-K", "=",
                  stdin="".join("%s=v\n" % k for k in keys))
        assert res.returncode == 0, res.stderr
        # librdkafka's murmur2 partitioner (Java-compatible) must agree.
        res = subprocess.run([kcat, "-b", b.bootstrap, "-P", "-t", "keyed",
                              "-K", "=", "-X", "partitioner=murmur2"],
                             input="".join("%s=w\n" % k for k in keys),
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        res = ctl("-b", b.bootstrap, "consume", "keyed", "-f", "%p %k %v\\n")
        seen = {}
        for line in res.stdout.splitlines():
            p, k, v = line.split()
            seen.setdefault(k, {})[v] = p
        assert len(seen) == 60
        for k, where in seen.items():
            assert where["v"] == where["w"], (k, where)
        assert len({w["v"] for w in seen.values()}) > 1


def test_errors_are_one_line_and_nonzero():
    with Broker({"auto.create.topics.enable": "false"}) as b:
        res = ctl("-b", b.bootstrap, "consume", "nosuch")
        assert res.returncode == 1
        assert res.stderr.strip().startswith(
            "brokerctl: UNKNOWN_TOPIC_OR_PARTITION")
        assert len(res.stderr.strip().splitlines()) == 1
        res = ctl("-b", b.bootstrap, "produce", "nosuch", stdin="x\n")
        assert res.returncode == 1
        assert "UNKNOWN_TOPIC_OR_PARTITION" in res.stderr
        assert ctl("-b", b.bootstrap, "produce").returncode == 2
        assert ctl("-b", b.bootstrap, "consume", "x", "-o", "soon").returncode == 2
