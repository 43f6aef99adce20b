'use strict'
// One regeneration per change across instances (lib/lease.js): three forked instances on one
// real Redis read an entry right after it went stale or expired.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { uniquePrefix, sleep, waitFor } = require('./helpers/common')
const { startInstance } = require('./helpers/instances')
const { redisSuite } = require('./helpers/suite')
const { getStore } = require('../lib/store')

const all = []
const { api, redis } = redisSuite({ teardown: () => Promise.all(all.map((i) => i.stop())) })
const CTX = { kind: 'APP_PAGE' }
const page = (html, tag) => ({ kind: 'APP_PAGE', html, rscData: Buffer.from(html), status: 200, headers: { 'x-next-cache-tags': tag } })

const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }

/** The regeneration leases held now under `prefix`. */
const leasesOf = async (prefix) => (await redis.cmd('KEYS', `${prefix}l:*`)).map(String)

/**
 * Handler classes standing for separate instances in this process: each gets its own store
 * (connection, L1, leases), told apart by a setting that changes nothing else.
 */
function inProcess(n, extra = {}) {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('lp'), buildId: 'lp', heartbeatSeconds: 0, ...extra }
  const each = Array.from({ length: n }, (_, i) => ({ ...options, timeoutMs: 1000 + i }))
  return { options, each, handlers: each.map((o) => api.createHandler(o)) }
}

/**
 * A build directory whose prerendered pages Next's FileSystemCache (a stand-in, resolved from
 * the build as the real one is) returns: `pages` maps a path to its html and lastModified, and
 * the prerender manifest gives each path its `initialRevalidateSeconds`.
 */
function fakeBuild(pages) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-lease-build-'))
  all.push({ stop: async () => fs.rmSync(root, { recursive: true, force: true }) })
  fs.mkdirSync(path.join(root, 'server'))
  fs.writeFileSync(path.join(root, 'BUILD_ID'), 'lp\n')
  const routes = Object.fromEntries(Object.entries(pages).map(([p, v]) => [p, { initialRevalidateSeconds: v.revalidate, srcRoute: null }]))
  fs.writeFileSync(path.join(root, 'prerender-manifest.json'), JSON.stringify({ version: 4, routes, dynamicRoutes: {} }))
  const next = path.join(root, 'node_modules', 'next')
  const dir = path.join(next, 'dist', 'server', 'lib', 'incremental-cache')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(next, 'package.json'), JSON.stringify({ name: 'next', version: '16.4.6' }))
  fs.writeFileSync(
    path.join(dir, 'file-system-cache.js'),
    `const PAGES = ${JSON.stringify(pages)}
exports.default = class FileSystemCache {
  async get(key) {
    const p = PAGES[key]
    if (!p) return null
    const headers = { 'x-next-cache-tags': p.tag }
    return { lastModified: p.lastModified, value: { kind: 'APP_PAGE', html: p.html, rscData: Buffer.from(p.html), status: 200, headers } }
  }
}
`,
  )
  return { serverDistDir: path.join(root, 'server'), fs }
}

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

test('build output read through takes no lease; past its build lifetime one instance regenerates it', async () => {
  // Issue 27: every warm-up read of a page served from its build output took the lease (its
  // lifetime was unknown, so it never read as fresh) and nobody released it, so the first
  // regeneration after a revalidation waited leaseWaitMs.
  const built = Date.now() - 60_000
  const ctx = fakeBuild({
    '/built': { html: 'built', tag: 'tb', lastModified: built, revalidate: 3600 },
    '/old': { html: 'old', tag: 'to', lastModified: built, revalidate: 5 },
  })
  const { options, handlers } = inProcess(3, { leaseWaitMs: 3000 })
  for (const H of handlers) {
    const hit = await new H(ctx).get('/built', CTX)
    assert.equal(hit?.value?.html, 'built')
    assert.ok(Date.now() - hit.lastModified < 5000, 'fresh by the lifetime the build gave it')
    assert.equal(hit.cacheControl?.revalidate, 3600, 'stored with the build lifetime')
  }
  assert.deepEqual(await leasesOf(options.prefix), [], 'serving build output takes no lease')
  // Past its lifetime (60 s old, revalidate 5): one instance regenerates, the others serve it.
  const answers = await Promise.all(handlers.map((H) => new H(ctx).get('/old', CTX)))
  assert.ok(answers.every((a) => a?.value?.html === 'old'))
  assert.equal(answers.filter((a) => regenerates(a, 5)).length, 1, 'exactly one regenerates')
  assert.equal((await leasesOf(options.prefix)).length, 1)
  const holder = handlers[answers.findIndex((a) => regenerates(a, 5))]
  await new holder(ctx).set('/old', page('new', 'to'), { cacheControl: { revalidate: 5, expire: 3600 } })
  await waitFor(async () => (await leasesOf(options.prefix)).length === 0, { what: 'the write releases the lease' })
})

test('an entry stored without a lifetime: Next judges it, no lease is taken', async () => {
  const { options, handlers } = inProcess(1)
  const [H] = handlers
  await new H({}).set('/nolife', page('v', 'tn'), {})
  await sleep(20)
  const hit = await new H({}).get('/nolife', CTX)
  assert.equal(hit.value.html, 'v')
  assert.ok(Date.now() - hit.lastModified >= 20, 'its own lastModified, for Next to judge')
  assert.deepEqual(await leasesOf(options.prefix), [])
})

test('a navigation resuming a PPR page takes no lease and waits for none on an expired entry', async () => {
  // Next 16 resumes such a request from the entry's shell; on a miss it renders the page
  // dynamically and stores nothing, so a lease taken there would be left behind.
  const { options, handlers } = inProcess(2, { leaseWaitMs: 3000 })
  const [A, B] = handlers
  const PPR = { kind: 'APP_PAGE', isRoutePPREnabled: true, isFallback: false }
  const rsc = { _requestHeaders: { rsc: '1' } }
  await new A({}).set('/ppr/1', page('old', 'ppr-1'), SET)
  await new A({}).revalidateTag(['ppr-1'])
  assert.equal(await new B(rsc).get('/ppr/1', PPR), null)
  assert.deepEqual(await leasesOf(options.prefix), [], 'no lease')
  // Another instance renders it: the navigation does not wait for that render.
  assert.equal(await new A({}).get('/ppr/1', PPR), null, 'A holds the lease')
  const t0 = Date.now()
  assert.equal(await new B(rsc).get('/ppr/1', PPR), null)
  assert.ok(Date.now() - t0 < 1000, `did not wait (${Date.now() - t0} ms)`)
  // A prefetch, or a document request, of the same page does render on a miss: it waits.
  const t1 = Date.now()
  assert.equal(await new B({ _requestHeaders: { rsc: '1', 'next-router-prefetch': '1' } }).get('/ppr/1', PPR), null)
  assert.ok(Date.now() - t1 >= 2500, `a prefetch waits for the holder (${Date.now() - t1} ms)`)
})

test('a lease asked for after the holder stored its entry is not taken: the new entry is served', async () => {
  // The race: the waiter reads the old entry and judges it expired; the holder stores its
  // render and releases its lease; only then does the waiter's lease request land.
  const { options, each, handlers } = inProcess(2, { leaseWaitMs: 3000 })
  const [Holder, Waiter] = handlers
  await new Holder({}).set('/race', page('o1', 'tr'), SET)
  assert.equal((await new Waiter({}).get('/race', CTX)).value.html, 'o1')
  await new Holder({}).revalidateTag(['tr'])
  const leases = getStore(each[1]).leases
  const take = leases.take
  let arrived
  let open
  const atGate = new Promise((r) => (arrived = r))
  const gate = new Promise((r) => (open = r))
  leases.take = async function (...args) {
    leases.take = take
    arrived()
    await gate
    return take.apply(this, args)
  }
  const reading = new Waiter({}).get('/race', CTX) // reads o1, judges it expired, stops before its take
  await atGate
  assert.equal(await new Holder({}).get('/race', CTX), null, 'the holder renders')
  await new Holder({}).set('/race', page('o2', 'tr'), SET)
  await waitFor(async () => (await leasesOf(options.prefix)).length === 0, { what: 'the holder released its lease' })
  open()
  const got = await reading
  assert.equal(got?.value?.html, 'o2', 'the waiter serves the new entry instead of rendering it once more')
  assert.deepEqual(await leasesOf(options.prefix), [], 'and holds no lease')
})

test('a holder that exits gives its lease back: a waiter renders at once, not after leaseWaitMs', async () => {
  const { insts } = await trio({ leaseWaitMs: 6000, leaseMs: 10_000 })
  await insts[0].set('/x', page('old', 'tx'), SET)
  for (const i of insts) assert.ok(await i.get('/x', CTX))
  await insts[0].revalidateTag(['tx'])
  assert.equal(await insts[0].get('/x', CTX), null, 'insts[0] holds the lease')
  const t0 = Date.now()
  const waiting = insts[1].get('/x', CTX)
  await sleep(300)
  await insts[0].call('exit') // as Next's server exits on SIGTERM, mid-render
  assert.equal(await waiting, null, 'insts[1] renders itself')
  const ms = Date.now() - t0
  assert.ok(ms < 3000, `without waiting out the bound (${ms} ms)`)
})

test('the wait is counted from when the holder took the lease: a holder late by leaseWaitMs makes nobody wait', async () => {
  const { insts } = await trio({ leaseWaitMs: 1500, leaseMs: 10_000 })
  await insts[0].set('/late', page('old', 'tl'), SET)
  for (const i of insts) assert.ok(await i.get('/late', CTX))
  await insts[0].revalidateTag(['tl'])
  assert.equal(await insts[0].get('/late', CTX), null, 'insts[0] holds the lease and never stores')
  await sleep(1700)
  const t0 = Date.now()
  assert.equal(await insts[1].get('/late', CTX), null, 'insts[1] renders')
  assert.ok(Date.now() - t0 < 1000, `at once (${Date.now() - t0} ms)`)
})
