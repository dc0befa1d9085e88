"""brokerctl txn list|describe|abort: the transaction admin APIs as
brokerctl shows them (kafka-transactions.sh's are test_txn_admin.py)."""
import json
import os
import subprocess

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import Broker, brokerd_path, connect
from test_txn_errors import create_topic, init_pid
from test_txn_verify import TOPIC, latest, produce


def ctl(bootstrap, *args):
    exe = os.path.join(os.path.dirname(brokerd_path()), "brokerctl")
    res = subprocess.run([exe, "-b", bootstrap] + list(args),
                         capture_output=True, text=True, timeout=60)
    return res.returncode, res.stdout, res.stderr


def test_list_and_describe():
    with Broker() as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("tb", 2, 1)])["tb"].result(15)
        p = Producer({"bootstrap.servers": b.bootstrap,
                      "transactional.id": "tx-ctl"})
        p.init_transactions(20)
        p.begin_transaction()
        p.produce("tb", b"x", partition=1)
        p.flush(10)
        rc, out, err = ctl(b.bootstrap, "txn", "list", "--json")
        assert rc == 0, err
        got = json.loads(out)
        assert [(t["transactional_id"], t["coordinator"], t["state"])
                for t in got] == [("tx-ctl", 1, "Ongoing")]
        rc, out, err = ctl(b.bootstrap, "txn", "list", "--state",
                           "CompleteAbort")
        assert rc == 0 and out.splitlines()[1:] == [], (out, err)
        rc, out, err = ctl(b.bootstrap, "txn", "list", "--state", "Bogus")
        assert rc == 1 and "unknown transaction state" in err
        rc, out, err = ctl(b.bootstrap, "txn", "describe", "tx-ctl", "--json")
        assert rc == 0, err
        d = json.loads(out)
        assert (d["state"], d["producer_id"], d["partitions"]) == \
            ("Ongoing", got[0]["producer_id"], ["tb-1"])
        rc, out, err = ctl(b.bootstrap, "txn", "describe", "unknown")
        assert rc == 1 and "TRANSACTIONAL_ID_NOT_FOUND" in err
        p.commit_transaction(20)


def test_abort_hanging():
    off = {"transaction.partition.verification.enable": "false"}
    with Broker(extra=off) as b:
        s = connect(b.port)
        assert create_topic(s, TOPIC) == 0
        err, pid, _ = init_pid(s, "tx-ctl-hang")
        assert err == 0
        assert produce(s, pid, 0, 0, b"stray") == 0
        assert latest(s, True) == 0
        rc, out, err = ctl(b.bootstrap, "txn", "abort", "--topic", TOPIC,
                           "--partition", "0", "--start-offset", "7")
        assert rc == 1 and "no transaction starts at offset 7" in err
        rc, out, err = ctl(b.bootstrap, "txn", "abort", "--topic", TOPIC,
                           "--partition", "0", "--start-offset", "0")
        assert rc == 0, err
        assert "aborted the transaction of producer %d" % pid in out
        assert latest(s, True) == 2
        s.close()
