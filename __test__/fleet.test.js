'use strict'
// The fleet view against a real redis-server with forked instances: every live instance is
// listed whatever the others' periods, from its store's first call until it closes or exits;
// entries no instance could have written never hide one, and `purge` never deletes the build
// of an instance it could not see.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { uniquePrefix, sleep, runNode } = require('./helpers/common')
const { startInstance } = require('./helpers/instances')
const { runCli } = require('./helpers/cli')
const { redisSuite, LIB } = require('./helpers/suite')
const { getStore } = require('../lib/store')

const all = []
const { redis } = redisSuite({ teardown: () => Promise.all(all.map((i) => i.stop())) })
const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const QUIET = { info() {}, warn() {}, error() {} }
const route = (body) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: {} })

async function instance(prefix, heartbeatSeconds, buildId = 'b1') {
  const inst = await startInstance({ redisUrl: redis.url, prefix, buildId, heartbeatSeconds, timeoutMs: 2000 })
  all.push(inst)
  return inst
}

/** The pids of the instances listed under `prefix`, as an operator's tool sees them. */
async function listed(prefix) {
  const { instances, complete } = await getStore({ redisUrl: redis.url, prefix, heartbeatSeconds: 0, logger: QUIET }).native.fleet(10_000)
  return { pids: instances.map((s) => JSON.parse(s).pid), complete }
}

/** Polls until `pid` is listed (or not, with `present` false); resolves with the ms it took. */
async function until(prefix, pid, present = true, ms = 3000) {
  const t0 = Date.now()
  while ((await listed(prefix)).pids.includes(pid) !== present) {
    if (Date.now() - t0 > ms) assert.fail(`pid ${pid} ${present ? 'never listed' : 'still listed'} after ${ms} ms`)
    await sleep(20)
  }
  return Date.now() - t0
}

const cli = (prefix, args) => runCli(args, { SHARED_ISR_REDIS_URL: redis.url, SHARED_ISR_PREFIX: prefix })

test('instances beating every 4 s and every 0.5 s are both listed all the time', async () => {
  const prefix = uniquePrefix('fl-mix')
  const [slow, fast] = await Promise.all([instance(prefix, 4), instance(prefix, 0.5)])
  await Promise.all([slow.get('/a', CTX), fast.get('/a', CTX)])
  await until(prefix, slow.child.pid)
  await until(prefix, fast.child.pid)
  // Over more than one slow period: the fast one's heartbeats (alive 1.5 s) never prune the slow one (alive 12 s).
  const misses = []
  for (let i = 0; i < 18; i++) {
    const { pids } = await listed(prefix)
    for (const inst of [slow, fast]) if (!pids.includes(inst.child.pid)) misses.push(`${i}: ${inst === slow ? 'slow' : 'fast'}`)
    await sleep(250)
  }
  assert.deepEqual(misses, [])
})

test('a new instance is listed right after its store first answers, not one period later', async () => {
  const prefix = uniquePrefix('fl-new')
  const inst = await instance(prefix, 4)
  await sleep(300)
  assert.deepEqual((await listed(prefix)).pids, [], 'nothing before the first call: a heartbeat never discovers an outage')
  await inst.get('/a', CTX)
  const ms = await until(prefix, inst.child.pid)
  assert.ok(ms < 1000, `listed ${ms} ms after its first call (period 4 s)`)
})

test('closing the store leaves the fleet at once; so does exiting the process', async () => {
  const prefix = uniquePrefix('fl-stop')
  const inst = await instance(prefix, 4)
  await inst.get('/a', CTX)
  await until(prefix, inst.child.pid)
  await inst.call('close')
  assert.deepEqual((await listed(prefix)).pids, [], 'gone at once (alive 12 s otherwise)')
  assert.deepEqual(await redis.cmd('KEYS', `${prefix}{${prefix}}:[if]*`), [], 'and nothing of it is left')

  // process.exit(): the store is not closed; the exit hook leaves.
  const code = `
    const api = require(${JSON.stringify(LIB)})
    const { getStore } = require(${JSON.stringify(path.join(path.dirname(LIB), 'store.js'))})
    const options = { redisUrl: ${JSON.stringify(redis.url)}, prefix: ${JSON.stringify(prefix)}, buildId: 'b1', heartbeatSeconds: 4 }
    ;(async () => {
      const H = api.createHandler(options)
      await new H({}).get('/a', { kind: 'APP_ROUTE' })
      for (let i = 0; i < 100; i++) {
        const { instances } = await getStore(options).native.fleet(100)
        if (instances.some((s) => JSON.parse(s).pid === process.pid)) { console.log('listed', process.pid); break }
        await new Promise((r) => setTimeout(r, 20))
      }
      process.exit(0)
    })()`
  const r = await runNode(code)
  const pid = Number(/listed (\d+)/.exec(r.out)?.[1])
  assert.ok(pid > 0, r.out)
  assert.ok(!(await listed(prefix)).pids.includes(pid), 'gone once the process exited (alive 12 s otherwise)')
})

/** A live instance serving build `live` and its page, a page of build `old`; resolves with the entry keys. */
async function liveAndOld(prefix) {
  const inst = await instance(prefix, 4, 'live')
  await inst.set('/p', route('live'), SET)
  await until(prefix, inst.child.pid)
  const Old = require(LIB).createHandler({ redisUrl: redis.url, prefix, buildId: 'old', heartbeatSeconds: 0 })
  await new Old({}).set('/p', route('old'), SET)
  const [fleetKey] = await redis.cmd('KEYS', `${prefix}*fleet`)
  return { inst, fleetKey, liveKey: `${prefix}e:p:live:/p`, oldKey: `${prefix}e:p:old:/p` }
}

test('1,000 ids scored far in the future hide no instance, and purge keeps the live build', async () => {
  const prefix = uniquePrefix('fl-junk')
  const { inst, fleetKey, liveKey, oldKey } = await liveAndOld(prefix)
  const [sec] = await redis.cmd('TIME')
  const args = []
  for (let i = 0; i < 1000; i++) args.push(String(Number(sec) * 1000 + 1e10 + i), `junk-${i}`)
  await redis.cmd('ZADD', fleetKey, ...args)
  // One of them with a summary: an instance serving nothing, were it believed.
  await redis.cmd('SET', `${fleetKey.slice(0, -'fleet'.length)}i:junk-0`, JSON.stringify({ id: 'junk-0', builds: [] }))

  const status = await cli(prefix, ['status', '--json'])
  assert.equal(status.code, 0, status.err)
  assert.deepEqual(
    status.json.instances.map((i) => i.pid),
    [inst.child.pid],
  )
  assert.equal(status.json.fleet.complete, true)
  const purged = await cli(prefix, ['purge', '--old-builds', '--json'])
  assert.equal(purged.code, 0, purged.out + purged.err)
  assert.deepEqual(purged.json.builds, { old: 1 })
  assert.equal(await redis.cmd('EXISTS', liveKey), 1, 'the live build is kept')
  assert.equal(await redis.cmd('EXISTS', oldKey), 0)
})

test('an index too big to list in full: status says so, purge refuses (even with --force)', async () => {
  const prefix = uniquePrefix('fl-cut')
  const { inst, fleetKey, liveKey, oldKey } = await liveAndOld(prefix)
  // Within the horizon of possible deadlines (an hour ahead), more than the listing examines.
  const [sec] = await redis.cmd('TIME')
  const args = []
  for (let i = 0; i < 10_001; i++) args.push(String(Number(sec) * 1000 + 3_600_000 + i), `parked-${i}`)
  await redis.cmd('ZADD', fleetKey, ...args)

  const status = await cli(prefix, ['status', '--json'])
  assert.equal(status.code, 0, status.err)
  assert.equal(status.json.fleet.complete, false)
  assert.deepEqual(
    status.json.instances.map((i) => i.pid),
    [inst.child.pid],
    'the real instance (deadline seconds away) comes before what is parked an hour ahead',
  )
  assert.ok(status.json.warnings.some((w) => w.includes(`index ${fleetKey} holds more than 10000 entries`)))
  for (const args of [['--old-builds'], ['--old-builds', '--force'], ['--build', 'live']]) {
    const r = await cli(prefix, ['purge', ...args, '--json'])
    assert.equal(r.code, 1, r.out + r.err)
    assert.match(r.json.refused, /cannot tell which builds are in use/)
  }
  assert.equal(await redis.cmd('EXISTS', liveKey), 1)
  assert.equal(await redis.cmd('EXISTS', oldKey), 1, 'nothing deleted')
})
