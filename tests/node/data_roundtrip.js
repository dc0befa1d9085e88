// kafkajs 2.2.4 round trips against brokerd (run by
// tests/integration/test_data_kafkajs.py).
//
//   node data_roundtrip.js fetch BOOTSTRAP PREFIX N
// For each mode (plain, gzip, idempotent) it creates PREFIX-MODE with three
// partitions through the kafkajs admin client, produces N keyed records
// (acks=-1) and reads them back with kafkajs's own Fetch (v11, isolation
// level READ_COMMITTED, the kafkajs default), filtered the way its consumer
// filters a fetch (consumer/batch.js), from offset 0 of every partition and
// without a consumer group. Also checks ListOffsets latest
// (admin.fetchTopicOffsets, read_committed) = the record count.
//
//   node data_roundtrip.js group BOOTSTRAP TOPIC N
// Creates TOPIC (three partitions), produces N keyed records and reads them
// with the public consumer API: a consumer group, subscribe(fromBeginning),
// run(eachMessage), read_committed.
//
// Both check every record once, its key and value, offsets contiguous from
// 0 and the send order inside each partition. They print "ok MODE N
// partitions=P:COUNT,..." per mode and exit 0, or print "error: ..." and
// exit 1.
'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')
const Batch = require('kafkajs/src/consumer/batch')

const [command, bootstrap, prefix, nArg] = process.argv.slice(2)
const N = parseInt(nArg, 10)
const PARTS = 3

const key = i => `key-${String(i % 997).padStart(4, '0')}`
const value = i => `value-${String(i).padStart(6, '0')}`

function check(cond, msg) {
  if (!cond) throw new Error(msg)
}

const kafka = new Kafka({
  clientId: 'brokerd-data-tests',
  brokers: [bootstrap],
  logLevel: logLevel.ERROR,
  retry: { retries: 5 },
})

function newCluster() {
  // The cluster object kafkajs builds for its consumer (read_committed).
  const sym = Object.getOwnPropertySymbols(kafka).find(
    s => s.description === 'private:Kafka:createCluster'
  )
  return kafka[sym]({ metadataMaxAge: 300000 })
}

async function produce(topic, mode) {
  const producer = kafka.producer({
    idempotent: mode === 'idempotent',
    maxInFlightRequests: mode === 'idempotent' ? 1 : undefined,
    allowAutoTopicCreation: false,
  })
  await producer.connect()
  const acked = new Map() // partition -> [[baseOffset, firstIndex, count]]
  try {
    const chunk = 500
    for (let start = 0; start < N; start += chunk) {
      const messages = []
      for (let i = start; i < Math.min(N, start + chunk); i++) {
        messages.push({ key: key(i), value: value(i) })
      }
      const res = await producer.send({
        topic,
        acks: -1,
        compression: mode === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages,
      })
      for (const r of res) {
        check(r.errorCode === 0, `produce error ${r.errorCode} on ${topic}/${r.partition}`)
        if (!acked.has(r.partition)) acked.set(r.partition, [])
        acked.get(r.partition).push(BigInt(r.baseOffset))
      }
    }
  } finally {
    await producer.disconnect()
  }
  return acked
}

async function readAll(topic) {
  const cluster = newCluster()
  await cluster.connect()
  const out = new Map()
  try {
    await cluster.addTargetTopic(topic)
    const meta = cluster.findTopicPartitionMetadata(topic)
    check(meta.length === PARTS, `${topic}: ${meta.length} partitions in metadata`)
    for (const pm of meta) {
      const broker = await cluster.findBroker({ nodeId: String(pm.leader) })
      const msgs = []
      let offset = 0n
      const deadline = Date.now() + 60000
      for (;;) {
        check(Date.now() < deadline, `${topic}/${pm.partitionId}: read timed out at ${offset}`)
        const resp = await broker.fetch({
          maxWaitTime: 100,
          topics: [
            {
              topic,
              partitions: [{ partition: pm.partitionId, fetchOffset: String(offset), maxBytes: 1048576 }],
            },
          ],
        })
        const pd = resp.responses[0].partitions[0]
        check(pd.errorCode === 0, `fetch error ${pd.errorCode} on ${topic}/${pm.partitionId}`)
        check(
          String(pd.lastStableOffset) === String(pd.highWatermark),
          `${topic}/${pm.partitionId}: last stable offset ${pd.lastStableOffset} != high watermark ${pd.highWatermark} with no transaction open`
        )
        const batch = new Batch(topic, String(offset), pd)
        for (const m of batch.messages) msgs.push(m)
        if (!batch.isEmptyIncludingFiltered()) offset = BigInt(batch.lastOffset()) + 1n
        if (offset >= BigInt(pd.highWatermark)) break
      }
      out.set(pm.partitionId, msgs)
    }
  } finally {
    await cluster.disconnect()
  }
  return out
}

// parts: Map partition -> [{offset, key, value}] in read order.
function verify(topic, parts, acked) {
  const seen = new Array(N).fill(false)
  let total = 0
  const counts = []
  for (let p = 0; p < PARTS; p++) {
    const msgs = parts.get(p) || []
    let last = -1
    msgs.forEach((m, idx) => {
      check(BigInt(m.offset) === BigInt(idx), `${topic}/${p}: offset ${m.offset} at position ${idx}`)
      const v = m.value.toString()
      const i = parseInt(v.slice(6), 10)
      check(v === value(i) && i >= 0 && i < N, `${topic}/${p}: bad value ${v}`)
      check(!seen[i], `${topic}: record ${i} read twice`)
      seen[i] = true
      check(m.key.toString() === key(i), `${topic}: record ${i} has key ${m.key}`)
      check(i > last, `${topic}/${p}: record ${i} after ${last}`)
      last = i
    })
    total += msgs.length
    counts.push(`${p}:${msgs.length}`)
    // The base offsets the producer was given follow each other.
    const bases = acked.get(p) || []
    check(bases.length === 0 || bases[0] === 0n, `${topic}/${p}: first base offset ${bases[0]}`)
    for (let b = 1; b < bases.length; b++) {
      check(bases[b] > bases[b - 1], `${topic}/${p}: base offsets ${bases[b - 1]} then ${bases[b]}`)
    }
  }
  check(total === N, `${topic}: read ${total} of ${N}`)
  return counts.join(',')
}

async function runMode(admin, mode) {
  const topic = `${prefix}-${mode}`
  const acked = await produce(topic, mode)
  const parts = await readAll(topic)
  const counts = verify(topic, parts, acked)
  const offsets = await admin.fetchTopicOffsets(topic)
  for (const o of offsets) {
    const n = (parts.get(o.partition) || []).length
    check(
      String(o.offset) === String(n) && String(o.high) === String(n) && String(o.low) === '0',
      `${topic}/${o.partition}: ListOffsets ${JSON.stringify(o)}, ${n} records`
    )
  }
  console.log(`ok ${mode} ${N} partitions=${counts}`)
}

async function createTopics(admin, names) {
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: names.map(t => ({ topic: t, numPartitions: PARTS, replicationFactor: 1 })),
  })
  check(created === true, 'createTopics returned ' + created)
}

async function groupRoundTrip(admin) {
  const topic = prefix
  await createTopics(admin, [topic])
  const acked = await produce(topic, 'plain')
  const consumer = kafka.consumer({
    groupId: `${topic}-group`,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 200,
  })
  const parts = new Map()
  let count = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`group consumer read ${count} of ${N} in 60 s`)), 60000)
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            if (!parts.has(partition)) parts.set(partition, [])
            parts.get(partition).push(message)
            count++
            if (count >= N) {
              // A little longer, to catch extra copies.
              setTimeout(() => {
                clearTimeout(timer)
                resolve()
              }, 500)
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  console.log(`ok group ${N} partitions=${verify(topic, parts, acked)}`)
}

async function main() {
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (command === 'fetch') {
      const modes = ['plain', 'gzip', 'idempotent']
      await createTopics(admin, modes.map(m => `${prefix}-${m}`))
      for (const mode of modes) await runMode(admin, mode)
    } else if (command === 'group') {
      await groupRoundTrip(admin)
    } else {
      throw new Error(`unknown command ${command}`)
    }
  } finally {
    await admin.disconnect()
  }
}

main().then(
  () => process.exit(0),
  e => {
    console.log(`error: ${e && e.stack ? e.stack : e}`)
    process.exit(1)
  }
)
