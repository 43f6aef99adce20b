'use strict'
// Every script of the package obeys the strictest rule (ElastiCache Serverless, Redis Cluster):
// each key it touches is passed in KEYS, and all of them hash to one slot. Checked as the
// scripts run, through the package's own calls, on a real server and on a real 3-node Cluster:
// MONITOR shows each EVALSHA with its KEYS, followed by the commands the script ran (`lua`);
// the server itself (`COMMAND GETKEYS`) says which arguments of those are keys.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { connectClient, monitored } = require('./helpers/redis')
const { startCluster } = require('./helpers/redis-topologies')

const { api, redis } = redisSuite()
const { getStore } = require('../lib/store')
let cluster = null
after(() => cluster?.stop())

/** Redis Cluster's slot of a key: CRC16 (XMODEM) of the key or of its `{hash tag}`, mod 16384. */
function slotOf(key) {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key, 'latin1')) {
    crc ^= byte << 8
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc % 16384
}

/** The quoted arguments of a MONITOR line (escapes as `sdscatrepr` writes them). */
function monitorArgs(line) {
  const args = []
  const re = /"((?:[^"\\]|\\.)*)"/g
  for (let m = re.exec(line); m; m = re.exec(line)) {
    args.push(
      m[1].replace(/\\(x[0-9a-f]{2}|.)/g, (_, e) =>
        e[0] === 'x' && e.length === 3
          ? String.fromCharCode(Number.parseInt(e.slice(1), 16))
          : ({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }[e] ?? e),
      ),
    )
  }
  return args
}

/** Runs `fn` under MONITOR on every port (helpers/redis.js `monitored`); every script it ran. */
async function scriptsRun(ports, fn) {
  const byPort = new Map()
  const under = (i) =>
    i === ports.length
      ? fn()
      : monitored(ports[i], () => under(i + 1)).then(({ result, lines }) => {
          byPort.set(ports[i], lines)
          return result
        })
  await under(0)
  // Per node, each script's EVALSHA line comes first, then the commands it ran (`lua`).
  const runs = []
  for (const [port, lines] of byPort) {
    let run = null
    for (const line of lines) {
      const args = monitorArgs(line)
      if (args.length === 0) continue
      if (line.includes(' lua] ')) {
        run?.calls.push(args)
        continue
      }
      const name = args[0].toUpperCase()
      run = name === 'EVALSHA' || name === 'EVAL' ? { port, sha: args[1], keys: args.slice(3, 3 + Number(args[2])), calls: [] } : null
      if (run) runs.push(run)
    }
  }
  return runs
}

/** Which arguments of `call` are keys, as the server sees them (none for TIME and the like). */
async function keysOf(client, call) {
  try {
    return await client.cmd('COMMAND', 'GETKEYS', ...call)
  } catch {
    return []
  }
}

/** Every script of the package, through its own calls: manifest, fleet, leases, CDN feed. */
async function everyScript(options) {
  const H = api.createHandler(options)
  const route = (body) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': 'tag-a' } })
  await new H({}).set('/a', route('a'), { cacheControl: { revalidate: 3600, expire: 7200 } })
  await api.revalidateTags(['tag-a', 'tag-b'], undefined, options) // REVALIDATE (with the era check)
  await api.revalidateTags(['tag-c'], { expire: 60 }, options)
  const store = getStore(options)
  const other = getStore({ ...options, l1MaxBytes: 1 }) // a second view: it syncs and looks tags up
  await other.read('/a', ['tag-d'], (b) => b) // SYNC, LOOKUP
  await other.native.judgeTags(['tag-e', 'tag-a'], Date.now())
  const n = store.native
  await n.heartbeat('inst-1', '{"host":"h"}', 5000) // fleet HEARTBEAT
  await n.heartbeat('inst-2', '{"host":"h2"}', 5000) // a second one: inst-1's heartbeat examines it
  await n.heartbeat('inst-1', '{"host":"h"}', 5000)
  const fleet = await n.fleet(10) // fleet LIST (+ MGET of the summaries)
  assert.equal(fleet.instances.length, 2)
  assert.equal(n.leave('inst-1', 5000, false, 2000), true) // fleet LEAVE (blocking, as at exit)
  assert.equal((await n.lease('/a', 'owner-1:t', 'owner-1', 5000)).state, 'held') // lease TAKE
  assert.equal(await n.release('/a', 'owner-1'), true) // lease RELEASE
  await n.cdnEnqueue(['_N_T_/a'], 1000) // CDN ENQUEUE
  await n.cdnPending() // CDN PENDING
  const batch = await n.cdnTake('deliverer-1', 5000, 100, 1000) // CDN TAKE
  await n.cdnDone('deliverer-1', batch.cursor, null, batch.paths, batch.scores) // CDN DONE
}

/** Runs every script under MONITOR on `ports` and returns each violation found. */
async function check(url, ports) {
  const prefix = uniquePrefix('keys')
  const options = { redisUrl: url, prefix, heartbeatSeconds: 0 }
  const runs = await scriptsRun(ports, () => everyScript(options))
  const client = await connectClient(ports[0])
  const problems = []
  try {
    for (const run of runs) {
      const slots = new Set(run.keys.map(slotOf))
      if (slots.size > 1) problems.push(`script ${run.sha} was given keys in ${slots.size} slots: ${run.keys.join(', ')}`)
      for (const call of run.calls) {
        for (const key of await keysOf(client, call)) {
          if (!run.keys.includes(key)) problems.push(`script ${run.sha} touched ${JSON.stringify(key)} (${call[0]}) not passed in KEYS`)
        }
      }
    }
  } finally {
    client.close()
  }
  return { runs, problems, prefix }
}

test('one server: every script touches only the keys passed in KEYS, all in one slot', async () => {
  const { runs, problems, prefix } = await check(redis.url, [redis.port])
  assert.deepEqual(problems, [])
  const scripts = new Set(runs.filter((r) => r.calls.length > 0).map((r) => r.sha))
  // 12 scripts (manifest 3, fleet 3, lease 2, CDN 4), plus the start-up probe's `return 1`,
  // which touches nothing: each ran, so each was checked.
  assert.ok(scripts.size >= 12, `${scripts.size} scripts ran: ${[...scripts].join(', ')}`)
  assert.ok(
    runs.every((r) => r.keys.every((k) => k.startsWith(prefix))),
    'every key passed starts with the prefix',
  )
})

test('a 3-node Cluster: the same calls all succeed, and touch only their KEYS', async () => {
  cluster = await startCluster({ primaries: 3, replicasPerPrimary: 0 })
  const { runs, problems } = await check(cluster.url, cluster.ports)
  assert.deepEqual(problems, [])
  assert.ok(new Set(runs.filter((r) => r.calls.length > 0).map((r) => r.sha)).size >= 12)
})

test('the check itself finds an undeclared key (a script built like the old fleet listing)', async () => {
  const client = await connectClient(redis.port)
  await client.cmd('SET', 'x{s}:i:1', 'v')
  const runs = await scriptsRun([redis.port], () =>
    client.cmd('EVAL', "return redis.call('GET', ARGV[1] .. '1')", '1', 'x{s}:fleet', 'x{s}:i:'),
  )
  const found = []
  for (const run of runs) for (const call of run.calls) for (const k of await keysOf(client, call)) if (!run.keys.includes(k)) found.push(k)
  client.close()
  assert.deepEqual(found, ['x{s}:i:1'])
})
