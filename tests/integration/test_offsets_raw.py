"""OffsetForLeaderEpoch and DeleteRecords, driven with raw requests so the
exact versions and error codes are checked."""
import struct
import subprocess
import shutil

from harness import Broker, connect, recv_frame, request


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def produce_lines(broker, topic, n):
    kcat = shutil.which("kcat")
    res = subprocess.run([kcat, "-b", broker.bootstrap, "-P", "-t", topic,
                          "-p", "0", "-X", "request.required.acks=-1"],
                         input="\n".join(str(i) for i in range(n)) + "\n",
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def offset_for_leader_epoch_v3(sock, topic, epoch, current=-1, corr=5):
    body = struct.pack(">i", -1)  # replica id: a consumer
    body += struct.pack(">i", 1) + s16(topic)
    body += struct.pack(">i", 1) + struct.pack(">iii", 0, current, epoch)
    sock.sendall(request(23, 3, corr, body))
    f = recv_frame(sock)
    pos = 4 + 4  # correlation id, throttle
    (nt,) = struct.unpack_from(">i", f, pos)
    pos += 4
    (tl,) = struct.unpack_from(">h", f, pos)
    pos += 2 + tl
    pos += 4  # partition count (1)
    err, part, leader_epoch, end = struct.unpack_from(">hiiq", f, pos)
    return err, leader_epoch, end


def delete_records_v1(sock, topic, offset, corr=6):
    body = struct.pack(">i", 1) + s16(topic)
    body += struct.pack(">i", 1) + struct.pack(">iq", 0, offset)
    body += struct.pack(">i", 10000)
    sock.sendall(request(21, 1, corr, body))
    f = recv_frame(sock)
    pos = 4 + 4
    pos += 4
    (tl,) = struct.unpack_from(">h", f, pos)
    pos += 2 + tl
    pos += 4
    part, low, err = struct.unpack_from(">iqh", f, pos)
    return err, low


def test_offset_for_leader_epoch_and_delete_records():
    with Broker() as b:
        produce_lines(b, "epochs", 100)
        s = connect(b.port)
        # Every batch was written in the first leader epoch (0): its end
        # offset is the log end.
        assert offset_for_leader_epoch_v3(s, "epochs", 0) == (0, 0, 100)
        # An epoch newer than the leader's, as the caller's current epoch,
        # is UNKNOWN_LEADER_EPOCH (75).
        assert offset_for_leader_epoch_v3(s, "epochs", 0, current=7)[0] == 75
        assert offset_for_leader_epoch_v3(s, "nosuch", 0)[0] == 3

        assert delete_records_v1(s, "epochs", 40) == (0, 40)
        # Beyond the high watermark: OFFSET_OUT_OF_RANGE (1).
        assert delete_records_v1(s, "epochs", 1000)[0] == 1
        # -1 means the high watermark.
        assert delete_records_v1(s, "epochs", -1) == (0, 100)
        s.close()
        # Records below the new start are gone for consumers too.
        kcat = shutil.which("kcat")
        res = subprocess.run([kcat, "-b", b.bootstrap, "-Q", "-t",
                              "epochs:0:-2"], capture_output=True, text=True,
                             timeout=60)
        assert "offset 100" in res.stdout, res.stdout + res.stderr
        # The new start survives a restart.
        assert b.stop() == 0
        b.start()
        res = subprocess.run([kcat, "-b", b.bootstrap, "-Q", "-t",
                              "epochs:0:-2"], capture_output=True, text=True,
                             timeout=60)
        assert "offset 100" in res.stdout, res.stdout + res.stderr


def test_list_offsets_by_time_inside_compressed_batches():
    from confluent_kafka import Consumer, Producer, TopicPartition
    with Broker() as b:
        for codec in ("lz4", "zstd", "none"):
            topic = "times-" + codec
            p = Producer({"bootstrap.servers": b.bootstrap,
                          "compression.type": codec, "linger.ms": 200,
                          "acks": "all"})
            base = 1_700_000_000_000
            # One batch of 100 records with timestamps base, base+10, ...
            for i in range(100):
                p.produce(topic, value=b"v%d" % i, partition=0,
                          timestamp=base + 10 * i)
            assert p.flush(30) == 0
            c = Consumer({"bootstrap.servers": b.bootstrap,
                          "group.id": "unused-" + codec})
            try:
                for want_ts, want_off in ((base + 255, 26), (base, 0),
                                          (base + 990, 99)):
                    got = c.offsets_for_times(
                        [TopicPartition(topic, 0, want_ts)], timeout=15)
                    assert got[0].error is None
                    assert got[0].offset == want_off, (codec, want_ts, got)
                got = c.offsets_for_times(
                    [TopicPartition(topic, 0, base + 5000)], timeout=15)
                assert got[0].offset == -1, (codec, got)
            finally:
                c.close()
