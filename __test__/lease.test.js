'use strict'
// One regeneration per change across instances (lib/lease.js): three forked instances on one
// real Redis read an entry right after it went stale or expired.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, sleep } = require('./helpers/common')
const { startInstance } = require('./helpers/instances')
const { redisSuite } = require('./helpers/suite')

const all = []
const { api, redis } = redisSuite({ teardown: () => Promise.all(all.map((i) => i.stop())) })
const CTX = { kind: 'APP_PAGE' }
const page = (html, tag) => ({ kind: 'APP_PAGE', html, rscData: Buffer.from(html), status: 200, headers: { 'x-next-cache-tags': tag } })

async function trio(extra = {}) {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('ls'), buildId: 'ls', heartbeatSeconds: 0, ...extra }
  const insts = await Promise.all([0, 1, 2].map(() => startInstance(options)))
  all.push(...insts)
  return { insts, options }
}

/** Whether a handler answer asks Next to regenerate (stale: an old lastModified, or -1). */
const regenerates = (hit, rev) => hit !== null && (hit.lastModified === -1 || Date.now() - hit.lastModified > rev * 1000)

test('time-based staleness: one instance regenerates, the others serve the entry as fresh', async () => {
  const { insts } = await trio()
  await insts[0].set('/p', page('v1', 'tp'), { cacheControl: { revalidate: 1, expire: 3600 } })
  for (const i of insts) assert.ok(await i.get('/p', CTX))
  await sleep(1200)
  const answers = await Promise.all(insts.map((i) => i.get('/p', CTX)))
  assert.ok(
    answers.every((a) => a?.value?.html === 'v1'),
    'every instance serves the entry',
  )
  assert.equal(answers.filter((a) => regenerates(a, 1)).length, 1, 'exactly one regenerates')
  // Its new entry releases the lease: the next period is regenerated at once again.
  const holder = insts[answers.findIndex((a) => regenerates(a, 1))]
  await holder.set('/p', page('v2', 'tp'), { cacheControl: { revalidate: 1, expire: 3600 } })
  await sleep(1200)
  const next = await Promise.all(insts.map((i) => i.get('/p', CTX)))
  assert.ok(next.every((a) => a?.value?.html === 'v2'))
  assert.equal(next.filter((a) => regenerates(a, 1)).length, 1)
})

test('expired by a revalidation: one instance renders, the others wait for its entry and serve it', async () => {
  const { insts } = await trio({ leaseWaitMs: 3000 })
  await insts[0].set('/e', page('old', 'te'), { cacheControl: { revalidate: 3600, expire: 7200 } })
  for (const i of insts) assert.ok(await i.get('/e', CTX))
  await insts[0].revalidateTag(['te'])
  const started = Date.now()
  const reads = insts.map((i) => i.get('/e', CTX))
  // Whoever got null took the lease and renders; it stores the new page a little later.
  const first = await Promise.race(reads.map((p, n) => p.then((hit) => ({ hit, n }))))
  assert.equal(first.hit, null, 'the holder renders (a miss)')
  await sleep(300)
  await insts[first.n].set('/e', page('new', 'te'), { cacheControl: { revalidate: 3600, expire: 7200 } })
  const answers = await Promise.all(reads)
  assert.equal(answers.filter((a) => a === null).length, 1, 'one render')
  for (const a of answers.filter((x) => x !== null)) assert.equal(a.value.html, 'new', 'the waiters serve the holder entry')
  assert.ok(Date.now() - started < 3000, 'they did not wait out the bound')
})

test('a holder that never stores: the others wait at most leaseWaitMs, then render; the lease expires', async () => {
  const { insts } = await trio({ leaseWaitMs: 400, leaseMs: 1500 })
  await insts[0].set('/c', page('old', 'tc'), { cacheControl: { revalidate: 3600, expire: 7200 } })
  for (const i of insts) assert.ok(await i.get('/c', CTX))
  await insts[0].revalidateTag(['tc'])
  assert.equal(await insts[0].get('/c', CTX), null, 'insts[0] takes the lease and "crashes"')
  await insts[0].stop()
  const t0 = Date.now()
  assert.equal(await insts[1].get('/c', CTX), null, 'renders itself after the wait')
  const waited = Date.now() - t0
  assert.ok(waited >= 350 && waited < 1400, `waited ${waited} ms`)
  await sleep(1600) // the lease expired
  assert.equal(await insts[2].get('/c', CTX), null)
  const t1 = Date.now()
  assert.equal(await insts[1].get('/c', CTX), null)
  assert.ok(Date.now() - t1 >= 350, 'insts[2] took the expired lease over: insts[1] waited for it')
})

test('a render that keeps failing costs one wait, not one per request', async () => {
  const { insts } = await trio({ leaseWaitMs: 400, leaseMs: 10_000 })
  await insts[0].set('/f', page('old', 'tf'), { cacheControl: { revalidate: 3600, expire: 7200 } })
  for (const i of insts) assert.ok(await i.get('/f', CTX))
  await insts[0].revalidateTag(['tf'])
  // insts[0] takes the lease and its render fails: it never stores.
  assert.equal(await insts[0].get('/f', CTX), null)
  let t0 = Date.now()
  assert.equal(await insts[1].get('/f', CTX), null, 'renders after waiting once (and takes the lease over)')
  assert.ok(Date.now() - t0 >= 350, `insts[1] waited for the holder (${Date.now() - t0} ms)`)
  // Nobody waits on a lease taken over from a holder that did not deliver: they render at once.
  for (const [n, i] of [
    [2, insts[2]],
    [0, insts[0]],
    [1, insts[1]],
    [2, insts[2]],
  ]) {
    t0 = Date.now()
    assert.equal(await i.get('/f', CTX), null, `insts[${n}] renders`)
    assert.ok(Date.now() - t0 < 300, `insts[${n}] did not wait (${Date.now() - t0} ms)`)
  }
})

test('with Redis down every instance behaves as without the lease; leaseMs 0 turns it off', async () => {
  const down = api.createHandler({
    redisUrl: 'redis://127.0.0.1:1',
    prefix: uniquePrefix('ld'),
    timeoutMs: 100,
    connectTimeoutMs: 100,
    logger: { info() {}, warn() {}, error() {} },
  })
  assert.equal(await new down({}).get('/x', CTX), null)
  const { insts } = await trio({ leaseMs: 0 })
  await insts[0].set('/o', page('v', 'to'), { cacheControl: { revalidate: 1, expire: 3600 } })
  await sleep(1200)
  const answers = await Promise.all(insts.map((i) => i.get('/o', CTX)))
  assert.equal(answers.filter((a) => regenerates(a, 1)).length, 3, 'off: every instance regenerates, as Next alone')
})
