'use strict'
// Two (three) Node processes on one Redis behave as one cache: entries and revalidations
// written by one are seen by the others at their very next call, with no sleep in between.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, assertLossless, waitFor, sleep, assertMiss, assertServed, makeBuildDir } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { startInstance } = require('./helpers/instances')
const { versions, fetchKey } = require('./helpers/values')

const instances = []
const { redis } = redisSuite({ lib: false, teardown: () => Promise.all(instances.map((i) => i.stop())) })

// Both instances serve the same build; /closed/a is a closed route (dynamicParams = false).
const serverDistDir = makeBuildDir('mp-build', { routes: { '/closed/a': '/closed/[slug]' }, closedRoutes: ['/closed/[slug]'] })

// These tests are about what the store guarantees between processes, read by read, so the L1
// is off unless a test turns it on (its own lag is measured in coherence.test.js).
async function pair(extra = {}) {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('mp'), buildId: 'mp-build', timeoutMs: 2000, l1MaxBytes: 0, ...extra }
  const [a, b] = await Promise.all([startInstance(options, { serverDistDir }), startInstance(options, { serverDistDir })])
  instances.push(a, b)
  return { a, b, options }
}

const v16 = versions()['16']
const PAGE = v16.values.APP_PAGE.value // Buffers, a Map with an empty Buffer, subarray views
const PAGE_CTX = v16.getCtx.APP_PAGE
const PAGE_SET = v16.setCtx.page(60, 3600)
const FETCH = v16.values['FETCH (large body)'].value
const fetchGet = (softTags = []) => v16.getCtx.FETCH(['posts'], softTags)
const FETCH_SET = v16.setCtx.fetch(['posts'])

test('A sets, B gets: same values, lossless, across processes', async () => {
  const { a, b } = await pair()
  assert.notEqual(a.child.pid, b.child.pid)
  await a.set('/blog/hello', PAGE, PAGE_SET)
  await a.set(fetchKey('mp-fetch'), FETCH, FETCH_SET)
  const page = await b.get('/blog/hello', PAGE_CTX)
  assertLossless(page.value, PAGE)
  assert.deepEqual(page.cacheControl, { revalidate: 60, expire: 3600 })
  assertLossless((await b.get(fetchKey('mp-fetch'), fetchGet())).value, FETCH)
  for (const [name, { value, ctx }] of Object.entries(versions()['14.2'].values)) {
    const isFetch = value?.kind === 'FETCH'
    const key = isFetch ? fetchKey(name) : `/14/${name}`
    await b.set(key, value, isFetch ? { fetchCache: true, revalidate: 60, tags: [] } : { revalidate: 60 })
    const hit = await a.get(
      key,
      isFetch ? { kindHint: 'fetch', revalidate: 60, tags: [], softTags: [] } : { kindHint: ctx === 'app' ? 'app' : 'pages' },
    )
    assertLossless(hit.value, value, name)
  }
})

// Zero lag needs the store on every read: L1 off, or strict mode (which checks each L1 hit
// against Redis). The default L1's lag is measured in coherence.test.js.
for (const [mode, extra] of [
  ['L1 off', {}],
  ['strict L1', { strict: true, l1MaxBytes: 64 * 1024 * 1024 }],
])
  test(`${mode}: B revalidates, A's very next get is invalidated (no sleep)`, async () => {
    const { a, b } = await pair(extra)
    await a.set('/blog/hello', PAGE, PAGE_SET)
    await a.set('/closed/a', PAGE, PAGE_SET)
    await a.set(fetchKey('mp-inv'), FETCH, FETCH_SET)
    // A has read (and synced) before the revalidation, so only the per-get epoch check can tell it.
    assertServed(await a.get('/blog/hello', PAGE_CTX))
    assertServed(await a.get('/closed/a', PAGE_CTX))
    assert.ok(await a.get(fetchKey('mp-inv'), fetchGet()))
    await sleep(2)

    await b.revalidateTag(['posts'])
    assertMiss(await a.get('/blog/hello', PAGE_CTX))
    const closed = await a.get('/closed/a', PAGE_CTX)
    assert.equal(closed.lastModified, -1, 'closed route: old value, regenerate')
    assertLossless(closed.value, PAGE)
    assert.equal(await a.get(fetchKey('mp-inv'), fetchGet()), null)

    // Back and forth, many times, each one seen at once.
    for (let i = 0; i < 10; i++) {
      const [writer, reader] = i % 2 ? [a, b] : [b, a]
      await sleep(2)
      await writer.set(`/loop/${i}`, { ...PAGE, headers: { 'x-next-cache-tags': `loop-${i}` } }, PAGE_SET)
      assertServed(await reader.get(`/loop/${i}`, PAGE_CTX), `round ${i}: fresh`)
      await sleep(2)
      await writer.revalidateTag(`loop-${i}`)
      assertMiss(await reader.get(`/loop/${i}`, PAGE_CTX), `round ${i}: invalidated`)
    }
  })

test('soft tags: revalidatePath from a third process (the programmatic API) reaches fetches read by that page', async () => {
  const { a, b, options } = await pair()
  const script = await startInstance(options)
  instances.push(script)
  await a.set(fetchKey('mp-soft'), FETCH, FETCH_SET)
  await a.set('/blog/hello', PAGE, PAGE_SET) // its header tags include _N_T_/blog/hello
  await sleep(2)
  await script.call('revalidatePath', { path: '/blog/hello' })
  assert.equal(await b.get(fetchKey('mp-soft'), fetchGet(['_N_T_/layout', '_N_T_/blog/hello'])), null)
  assert.ok(await b.get(fetchKey('mp-soft'), fetchGet(['_N_T_/layout', '_N_T_/blog/other'])))
  assertMiss(await b.get('/blog/hello', PAGE_CTX))
  assertMiss(await a.get('/blog/hello', PAGE_CTX))
})

test('Next 16 profile across processes: A revalidates with { expire }, B serves stale, then a miss', async () => {
  const { a, b } = await pair()
  await b.set('/swr', PAGE, PAGE_SET)
  await b.set(fetchKey('mp-swr'), FETCH, FETCH_SET)
  await sleep(2)
  await a.revalidateTag(['posts'], { expire: 1 })
  const page = await b.get('/swr', PAGE_CTX)
  assert.notEqual(page.lastModified, -1)
  assert.ok(Date.now() - page.lastModified > 60_000, 'stale')
  const f = await b.get(fetchKey('mp-swr'), fetchGet())
  assert.ok(f && Date.now() - f.lastModified > 60_000)
  await sleep(1200)
  assertMiss(await b.get('/swr', PAGE_CTX))
  assert.equal(await b.get(fetchKey('mp-swr'), fetchGet()), null)
  // B regenerates; A sees the new entry as fresh.
  await sleep(2)
  await b.set('/swr', { ...PAGE, html: 'regenerated' }, PAGE_SET)
  const again = await a.get('/swr', PAGE_CTX)
  assert.equal(again.value.html, 'regenerated')
  assert.ok(again.lastModified >= Date.now() - 1000, 'fresh')
})

test('concurrent revalidations from both processes are all recorded', async () => {
  // Both read every expired entry and never store one (as if each render failed): the first
  // reader of each key holds its regeneration lease, and the other waits for it once per key.
  // That wait (1 s by default) is not what this test is about.
  const { a, b } = await pair({ leaseWaitMs: 50 })
  const tags = Array.from({ length: 40 }, (_, i) => `c${i}`)
  for (const t of tags) await a.set(`/c/${t}`, { ...PAGE, headers: { 'x-next-cache-tags': t } }, PAGE_SET)
  await sleep(2)
  await Promise.all(tags.map((t, i) => (i % 2 ? a : b).revalidateTag(t)))
  for (const t of tags) {
    assertMiss(await a.get(`/c/${t}`, PAGE_CTX), `A sees ${t}`)
    assertMiss(await b.get(`/c/${t}`, PAGE_CTX), `B sees ${t}`)
  }
})

test('after Redis lost its data (FLUSHALL), revalidations still reach a process that synced before', async () => {
  const { a, b, options } = await pair()
  for (let i = 0; i < 5; i++) await a.revalidateTag(`before-${i}`)
  assert.equal(await a.get('/none', PAGE_CTX), null) // A's mirror is now at the old epoch
  await redis.cmd('FLUSHALL')
  await a.set('/victim', { ...PAGE, headers: { 'x-next-cache-tags': 'victim' } }, PAGE_SET)
  await sleep(2)
  await b.revalidateTag('victim')
  for (let i = 0; i < 8; i++) await b.revalidateTag(`after-${i}`) // the new epoch passes A's old one
  assertMiss(await a.get('/victim', PAGE_CTX), 'A must see the revalidation made after the reset')
  assert.ok((await redis.cmd('KEYS', `${options.prefix}*`)).length > 0)
})

test('after a Redis restart on the same port, both processes reconnect and agree again', async () => {
  const { a, b } = await pair({ timeoutMs: 500, connectTimeoutMs: 500 })
  await a.set('/r', PAGE, PAGE_SET)
  assert.ok(await b.get('/r', PAGE_CTX))
  await redis.restart()
  // Both recover on their own (polling, as requests would).
  await waitFor(
    async () => {
      await a.set('/r2', { ...PAGE, headers: { 'x-next-cache-tags': 'restart' } }, PAGE_SET)
      return (await b.get('/r2', PAGE_CTX))?.value?.html === PAGE.html
    },
    { timeoutMs: 10_000, what: 'A -> B after restart' },
  )
  await sleep(2)
  await waitFor(
    async () => {
      try {
        await b.revalidateTag('restart')
        return true
      } catch {
        return false
      }
    },
    { timeoutMs: 10_000, what: 'B can revalidate after restart' },
  )
  assertMiss(await a.get('/r2', PAGE_CTX))
})

// Tracking drops everything on FLUSHDB of ANY database; that says nothing about ours. A
// long-lived handler (entries stamped with its start) must keep reading what it writes.
test('FLUSHDB of another database on the same Redis: entries stay served, old ones and new ones', async () => {
  const api = require('../lib/index')
  const options = { redisUrl: redis.url, prefix: uniquePrefix('fdb'), buildId: 'mp-build', timeoutMs: 2000 } // L1 on
  const Handler = api.createHandler(options)
  const h = new Handler({ serverDistDir })
  try {
    await h.revalidateTag('unrelated') // the manifest exists: a real loss would show in it
    await h.set('/kept', { ...PAGE, headers: { 'x-next-cache-tags': 'kept' } }, PAGE_SET)
    await h.set(fetchKey('kept'), FETCH, v16.setCtx.fetch(['kept']))
    assertServed(await h.get('/kept', PAGE_CTX))
    const other = await redis.client()
    await other.cmd('SELECT', 1)
    await other.cmd('SET', 'someone-else', 'x')
    await other.cmd('FLUSHDB')
    other.close()
    await sleep(100) // the tracking push (flush) arrives and the mirror re-syncs
    assertServed(await h.get('/kept', PAGE_CTX), 'an entry written before the flush')
    await h.set('/after', { ...PAGE, headers: { 'x-next-cache-tags': 'after' } }, PAGE_SET)
    assertServed(await h.get('/after', PAGE_CTX), 'an entry written after it by the same handler')
    const f = await h.get(fetchKey('kept'), v16.getCtx.FETCH(['kept']))
    assert.equal(f?.value?.kind, 'FETCH', 'a fetch entry written before the flush')
  } finally {
    await api.close()
  }
})

test('reads in flight together after a revalidation sync the view once, not once each', async () => {
  const { a, b } = await pair()
  const keys = Array.from({ length: 16 }, (_, i) => `/s/${i}`)
  for (const k of keys) await a.set(k, { ...PAGE, headers: { 'x-next-cache-tags': 'sync-kept' } }, PAGE_SET)
  await Promise.all(keys.map((k) => a.get(k, PAGE_CTX)))
  const before = (await a.call('stats')).manifestSyncs
  await b.revalidateTag('sync-elsewhere') // moves the epoch; none of A's entries carries the tag
  const hits = await Promise.all(keys.map((k) => a.get(k, PAGE_CTX)))
  assert.ok(
    hits.every((h) => h?.value?.html === PAGE.html),
    'all still served',
  )
  const syncs = (await a.call('stats')).manifestSyncs - before
  assert.ok(syncs >= 1 && syncs <= 2, `16 reads that saw the new epoch ran ${syncs} syncs`)
})
