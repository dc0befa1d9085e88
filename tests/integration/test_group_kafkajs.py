"""kafkajs 2.2.4 (tests/node, installed by scripts/deps test) in a consumer
group: three members over a 6-partition topic (a third joins mid-stream,
the first leaves) consume every record exactly once, committing as they
go; a new member of the group then resumes from the commits."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from data_util import create_topics
from harness import Broker, REPO
from test_group_clients import GROUP_SETTINGS, PARTS, produce

NODE_DIR = os.path.join(REPO, "tests", "node")
N = 600

SCRIPT = r"""
const { Kafka, logLevel } = require('kafkajs');
const [bootstrap, topic, group, n] = process.argv.slice(2);
const N = parseInt(n, 10);
const kafka = new Kafka({ clientId: 'kjs-group', brokers: [bootstrap],
                          logLevel: logLevel.NOTHING });
const seen = new Map();
let total = 0;
function member(name) {
  const c = kafka.consumer({ groupId: group, sessionTimeout: 10000,
                             heartbeatInterval: 500,
                             rebalanceTimeout: 20000 });
  return { name, c, async start() {
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({ eachMessage: async ({ message }) => {
      const v = message.value.toString();
      seen.set(v, (seen.get(v) || 0) + 1);
      total++;
    } });
  } };
}
async function until(k, ms) {
  const end = Date.now() + ms;
  while (seen.size < k && Date.now() < end) {
    await new Promise(r => setTimeout(r, 50));
  }
}
(async () => {
  const ms = [member('a'), member('b')];
  await Promise.all(ms.map(m => m.start()));
  await until(N / 3, 60000);
  const third = member('c');
  ms.push(third);
  await third.start();
  await until(2 * N / 3, 60000);
  await ms.shift().c.disconnect();
  await until(N, 60000);
  await new Promise(r => setTimeout(r, 1000));
  await Promise.all(ms.map(m => m.c.disconnect()));
  const admin = kafka.admin();
  await admin.connect();
  const offs = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const committed = offs[0].partitions.reduce(
    (s, p) => s + parseInt(p.offset, 10), 0);
  const groups = (await admin.listGroups()).groups.map(g => g.groupId);
  await admin.disconnect();
  console.log(JSON.stringify({ distinct: seen.size, total, committed,
                               listed: groups.includes(group) }));
  process.exit(0);
})().catch(e => { console.error(e); process.exit(1); });
"""


@pytest.fixture(scope="module")
def broker():
    with Broker(extra=GROUP_SETTINGS) as b:
        yield b


def test_kafkajs_group(broker):
    assert os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kafkajs")), \
        "kafkajs is installed into tests/node by scripts/deps test"
    topic = "grp-kjs"
    create_topics(broker.bootstrap, {topic: (PARTS, {})})
    produce(broker.bootstrap, topic, 0, N)
    tmp = tempfile.mkdtemp(prefix="brokerd-kjs-")
    path = os.path.join(tmp, "group.js")
    with open(path, "w") as f:
        f.write(SCRIPT)
    try:
        env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1",
                   NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
        res = subprocess.run(["node", path, broker.bootstrap, topic,
                              "kjs-group", str(N)], cwd=tmp, env=env,
                             capture_output=True, text=True, timeout=240)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"distinct": N, "total": N, "committed": N,
                   "listed": True}, out
