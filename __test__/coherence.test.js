'use strict'
// The L1 across processes: three forked "instances" on one Redis, each with its local L1.
// A writer revalidates (or rewrites) an entry the others hold in their L1 while they read
// it back to back; we compare when each reader's last old answer *started* with when the
// writer's call returned. Strict mode must never serve the old entry after that point; the
// default mode's worst lag is reported and must stay far inside the staleness bound.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { startInstance } = require('./helpers/instances')
const { uniquePrefix } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')

const all = []
const { redis } = redisSuite({ lib: false, teardown: () => Promise.all(all.map((i) => i.stop())) })

const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const route = (body, tag) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': tag } })
const MAX_STALENESS_MS = 1000

async function trio(extra) {
  const options = {
    redisUrl: redis.url,
    prefix: uniquePrefix('co'),
    buildId: 'co',
    timeoutMs: 2000,
    maxStalenessMs: MAX_STALENESS_MS,
    ...extra,
  }
  const insts = await Promise.all([0, 1, 2].map(() => startInstance(options, {})))
  all.push(...insts)
  insts.options = options
  return insts
}

/** One round: readers hold `old` in L1 and read it back to back while `change` runs on the writer. */
async function round(insts, i, change) {
  const writer = insts[i % 3]
  const readers = insts.filter((x) => x !== writer)
  const key = `/co/${i}`
  const old = `v${i}-old`
  await writer.set(key, route(old, `co-${i}`), SET)
  for (const r of readers) assert.equal((await r.get(key, CTX))?.value?.body?.toString(), old)
  const watches = readers.map((r) => r.watch(key, CTX, old, 5000))
  await Promise.all(watches.map((w) => w.watching))
  const { at } = await change(writer, key, i)
  const results = await Promise.all(watches.map((w) => w.done))
  return results.map((res) => {
    assert.ok(res.firstNew !== null, `round ${i}: a reader never saw the change`)
    return res.lastOld === null ? -Infinity : res.lastOld - at
  })
}

const revalidate = (w, key, i) => w.callTimed('revalidateTag', { tags: [`co-${i}`] })

function summary(lags) {
  const positive = lags.filter((l) => l > 0).sort((a, b) => a - b)
  const worst = positive.length ? positive[positive.length - 1] : 0
  const median = positive.length ? positive[Math.floor(positive.length / 2)] : 0
  return { reads: lags.length, staleAfterReturn: positive.length, medianMs: +median.toFixed(3), worstMs: +worst.toFixed(3) }
}

async function setNew(writer, key, i) {
  const { describeValue } = require('./helpers/common')
  return writer.callTimed('set', { key, value: describeValue(route(`v${i}-new`, `co-${i}`)), ctx: describeValue(SET) })
}

test('default L1: revalidations and rewrites reach every other instance within a small, bounded lag', async (t) => {
  const insts = await trio({})
  const lags = { revalidate: [], rewrite: [] }
  for (let i = 0; i < 40; i++) {
    const kind = i % 2 ? 'rewrite' : 'revalidate'
    lags[kind].push(...(await round(insts, i, kind === 'revalidate' ? revalidate : setNew)))
  }
  const stats = await insts[0].call('stats')
  assert.ok(stats.l1Hits > 0, 'the readers were served from their L1')
  for (const [kind, l] of Object.entries(lags)) {
    const s = summary(l)
    t.diagnostic(`${kind}: ${JSON.stringify(s)}`)
    assert.ok(s.worstMs < MAX_STALENESS_MS / 4, `${kind}: worst lag ${s.worstMs} ms`)
  }
})

test('strict L1: no instance ever serves the old entry once the change has returned', async (t) => {
  const insts = await trio({ strict: true })
  const lags = []
  for (let i = 0; i < 40; i++) lags.push(...(await round(insts, i, i % 2 ? setNew : revalidate)))
  const s = summary(lags)
  t.diagnostic(`strict: ${JSON.stringify(s)}`)
  assert.equal(s.staleAfterReturn, 0, `stale reads after the change returned: ${JSON.stringify(s)}`)
  assert.ok((await insts[1].call('stats')).l1Hits > 0, 'strict mode still serves from L1')
})

test('connections killed while revalidating (CLIENT KILL): staleness stays within the bound, then L1 serves again', async (t) => {
  const insts = await trio({})
  const lags = []
  for (let i = 0; i < 10; i++) {
    lags.push(
      ...(await round(insts, i, async (writer, key, n) => {
        await redis.cmd('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
        // The writer's own connection died too: retry as a webhook's caller would.
        for (let attempt = 0; ; attempt++) {
          try {
            return await revalidate(writer, key, n)
          } catch (err) {
            if (attempt > 20) throw err
            await new Promise((r) => setTimeout(r, 50))
          }
        }
      })),
    )
  }
  const s = summary(lags)
  t.diagnostic(`after CLIENT KILL: ${JSON.stringify(s)}`)
  assert.ok(s.worstMs < MAX_STALENESS_MS, `worst lag ${s.worstMs} ms`)
  // Once reconnected, reads go back to the L1.
  const reader = insts[1]
  const before = (await reader.call('stats')).l1Hits
  await insts[0].set('/co/after', route('x', 'after'), SET)
  for (let k = 0; k < 5; k++) await reader.get('/co/after', CTX)
  assert.ok((await reader.call('stats')).l1Hits > before, 'L1 in use again after reconnecting')
})

// Three instances regenerating one page at once (time-based ISR after the period): each keeps
// its own write as its L1 copy, and only the last SET survives in Redis. Every other instance
// must be told, even when another write lands right after its own (issue: an instance kept its
// own, overwritten render in L1). After all writes returned and a moment for the pushes, every
// instance must serve what Redis holds.
test('concurrent writes of one key: afterwards every instance serves the one stored value', async (t) => {
  const insts = await trio({})
  const truth = await startInstance({ ...insts.options, l1MaxBytes: 0 }, {})
  all.push(truth)
  const { describeValue } = require('./helpers/common')
  const body = (hit) => hit?.value?.body?.toString()
  const ROUNDS = 150
  for (let i = 0; i < ROUNDS; i++) {
    const key = `/co/race/${i % 10}`
    await Promise.all(
      insts.map((w, k) => w.call('set', { key, value: describeValue(route(`r${i}-w${k}`, 'race')), ctx: describeValue(SET) })),
    )
    await new Promise((r) => setTimeout(r, 30))
    const stored = body(await truth.get(key, CTX))
    assert.match(stored ?? '', new RegExp(`^r${i}-w[0-2]$`), `round ${i}: Redis holds ${stored}`)
    const served = await Promise.all(insts.map((x) => x.get(key, CTX).then(body)))
    assert.deepEqual(served, [stored, stored, stored], `round ${i}: instances serve ${served.join(', ')}; Redis holds ${stored}`)
  }
  const hits = (await Promise.all(insts.map((x) => x.call('stats')))).reduce((n, s) => n + s.l1Hits, 0)
  t.diagnostic(`${ROUNDS} rounds of 3 concurrent writes; L1 hits on the reads after them: ${hits}`)
  assert.ok(hits > 0, 'the writers kept their own copies in L1 (the case under test)')
})

test('a local copy that cannot be decoded is dropped and the read goes to Redis, never a rejection', async () => {
  const { getStore } = require('../lib/store')
  const { encodeValue, decodeValue } = require('../lib/codec')
  const { captureConsole } = require('./helpers/common')
  const s = getStore({ redisUrl: redis.url, prefix: uniquePrefix('dec') })
  assert.equal(await s.read('warm-up', undefined, decodeValue), null) // connects (a new connection drops older copies)
  const payload = encodeValue(route('stored', 'd'))
  const cap = captureConsole()
  try {
    assert.equal(
      await s.write('k', payload, { lastModified: Date.now(), tags: [] }, () => {
        throw new Error('boom')
      }),
      true,
    )
    assert.equal(s.stats().l1Entries, 1, 'the write kept its bytes as the local copy')
    const hit = await s.read('k', undefined, decodeValue)
    assert.equal(hit?.value?.body?.toString(), 'stored', 'served from Redis')
    assert.equal(s.stats().l1Hits, 0)
    const again = await s.read('k', undefined, decodeValue)
    assert.equal(again?.value?.body?.toString(), 'stored')
    assert.equal(s.stats().l1Hits, 1, 'the copy read from Redis serves the next read')
  } finally {
    cap.restore()
  }
})

test('an L1 hit of a fetch entry makes one native call, also with read-time tags', async () => {
  const { getStore } = require('../lib/store')
  const { decodeValue } = require('../lib/codec')
  const { createHandler } = require('../lib/index')
  const options = { redisUrl: redis.url, prefix: uniquePrefix('one'), buildId: 'one' }
  const Handler = createHandler(options)
  const data = { kind: 'FETCH', data: { headers: {}, body: 'e30=', status: 200, url: 'https://x/' }, revalidate: 60 }
  const ctx = { kind: 'FETCH', tags: ['t1'], softTags: ['_N_T_/p', '_N_T_/layout'], revalidate: 60 }
  await new Handler({}).set('f1', data, { fetchCache: true, tags: ['t1'], revalidate: 60 })
  const s = getStore(options)
  assert.equal(await s.read('warm-up', undefined, decodeValue), null)
  assert.ok((await new Handler({}).get('f1', ctx))?.value, 'read from Redis')
  // Count every call into the addon from here on.
  const calls = []
  const native = s.native
  s.native = s.l1.coherence = new Proxy(native, {
    get(target, prop) {
      const v = target[prop]
      if (typeof v !== 'function') return v
      return (...args) => {
        calls.push(prop)
        return v.apply(target, args)
      }
    },
  })
  try {
    for (let i = 0; i < 3; i++) {
      calls.length = 0
      const hit = await new Handler({}).get('f1', { ...ctx, tags: [...ctx.tags], softTags: [...ctx.softTags] })
      assert.equal(hit?.value?.kind, 'FETCH')
      assert.deepEqual(calls, ['coherence'], `hit ${i}: one native call`)
    }
    assert.ok(s.stats().l1Hits >= 3)
    // Another page reading it (other soft tags) is judged for those tags: still served.
    for (const expected of [['coherence', 'judge', 'judgeTags'], ['coherence']]) {
      calls.length = 0
      assert.equal((await new Handler({}).get('f1', { ...ctx, softTags: ['_N_T_/q'] }))?.value?.kind, 'FETCH')
      assert.deepEqual(calls, expected, 'a tag not known here is looked up once, then remembered')
    }
  } finally {
    s.native = s.l1.coherence = native
  }
})
