// Drives brokerd's admin APIs with kafkajs 2.2.4's admin client.
// Usage: node admin_check.js BOOTSTRAP TOPIC
// Prints one JSON object of facts on stdout and exits 0, or prints the
// error and exits 1. Run by tests/integration/test_admin_kafkajs.py.
'use strict';

const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs');

async function refused(fn) {
  try {
    await fn();
  } catch (e) {
    const inner = e.errors && e.errors.length ? e.errors[0] : e;
    return { type: inner.type || e.type || e.name, message: inner.message };
  }
  return null;
}

async function main() {
  const [bootstrap, topic] = process.argv.slice(2);
  const kafka = new Kafka({
    clientId: 'brokerd-kafkajs-check',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
  });
  const admin = kafka.admin();
  await admin.connect();
  const out = {};
  try {
    out.created = await admin.createTopics({
      waitForLeaders: true,
      topics: [{
        topic,
        numPartitions: 3,
        replicationFactor: 1,
        configEntries: [{ name: 'retention.ms', value: '7200000' }],
      }],
    });
    out.createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    out.listed = (await admin.listTopics()).includes(topic);

    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    out.partitions = md.topics[0].partitions
      .map((p) => ({ id: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
      .sort((a, b) => a.id - b.id);

    const describe = async () => {
      const r = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic,
          configNames: ['retention.ms', 'cleanup.policy'] }],
      });
      const res = r.resources[0];
      const cfg = {};
      for (const e of res.configEntries) {
        cfg[e.configName] = { value: e.configValue, isDefault: e.isDefault,
          source: e.configSource, readOnly: e.readOnly };
      }
      return { errorCode: res.errorCode, configs: cfg };
    };
    out.describe = await describe();

    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
    out.altered = await describe();

    await admin.createPartitions({ topicPartitions: [{ topic, count: 6 }] });
    const md2 = await admin.fetchTopicMetadata({ topics: [topic] });
    out.grown = md2.topics[0].partitions.length;

    const cluster = await admin.describeCluster();
    out.cluster = { controller: cluster.controller, brokers: cluster.brokers.length,
      clusterId: cluster.clusterId };

    out.errPartitions = await refused(() =>
      admin.createPartitions({ topicPartitions: [{ topic, count: 2 }] }));
    out.errConfig = await refused(() => admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic,
        configEntries: [{ name: 'segment.bytes', value: 'huge' }] }],
    }));
    out.errCreate = await refused(() => admin.createTopics({
      topics: [{ topic: 'bad topic', numPartitions: 1 }],
    }));

    await admin.deleteTopics({ topics: [topic] });
    out.deleted = !(await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stdout.write('error: ' + (e.stack || e) + '\n');
  process.exit(1);
});
