'use strict'
// The 'use cache' handler (cacheHandlers, Next 15.3+ / 16): entries as streams on the shared
// store, judged against the same tag manifest as the cacheHandler.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, sleep } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { bytes } = require('./helpers/values')

const { api, redis } = redisSuite()

const opts = (extra = {}) => ({ redisUrl: redis.url, prefix: uniquePrefix('uc'), ...extra })

function streamOf(...chunks) {
  return new ReadableStream({
    start(c) {
      for (const x of chunks) c.enqueue(x)
      c.close()
    },
  })
}

async function readAll(stream) {
  const parts = []
  for await (const c of stream) parts.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength))
  return Buffer.concat(parts)
}

const entry = (data, extra = {}) => ({
  value: streamOf(...data),
  tags: ['uc-tag'],
  stale: 300,
  timestamp: performance.timeOrigin + performance.now(),
  expire: 3600,
  revalidate: 900,
  ...extra,
})

test('set then get: the same bytes (across chunks), tags and lifetimes', async () => {
  const h = api.createUseCacheHandler(opts())
  const a = bytes(5000, 1)
  const b = new Uint8Array(bytes(3000, 2))
  const e = entry([a, b, new Uint8Array(0)])
  await h.set('["build","fn",[1,"arg"]]', Promise.resolve(e))
  const got = await h.get('["build","fn",[1,"arg"]]', [])
  assert.ok(got, 'hit')
  assert.ok((await readAll(got.value)).equals(Buffer.concat([a, b])))
  assert.deepEqual(got.tags, ['uc-tag'])
  assert.equal(got.stale, 300)
  assert.equal(got.expire, 3600)
  assert.equal(got.revalidate, 900)
  assert.equal(got.timestamp, e.timestamp, 'fractional timestamp kept exactly')
  assert.equal(await h.get('["build","fn",[2]]', []), undefined, 'a miss is undefined')
})

test('keys with lone surrogates (binary arguments) do not collide', async () => {
  const h = api.createUseCacheHandler(opts())
  await h.set('k\uD800', Promise.resolve(entry([Buffer.from('one')])))
  await h.set('k\uDBFF', Promise.resolve(entry([Buffer.from('two')])))
  assert.equal((await readAll((await h.get('k\uD800', [])).value)).toString(), 'one')
  assert.equal((await readAll((await h.get('k\uDBFF', [])).value)).toString(), 'two')
})

test('get waits for a set still in progress for the same key', async () => {
  const h = api.createUseCacheHandler(opts())
  let resolveEntry
  const pending = new Promise((r) => (resolveEntry = r))
  const setting = h.set('slow-key', pending)
  const getting = h.get('slow-key', [])
  await sleep(20)
  resolveEntry(entry([Buffer.from('late')]))
  await setting
  const got = await getting
  assert.ok(got, 'the get saw the value being set')
  assert.equal((await readAll(got.value)).toString(), 'late')
})

test('entries past their expire are a miss; expire 0 (dynamic) entries are not stored', async () => {
  const h = api.createUseCacheHandler(opts())
  const old = performance.timeOrigin + performance.now() - 10_000
  await h.set('old', Promise.resolve(entry([Buffer.from('x')], { timestamp: old, expire: 5 })))
  assert.equal(await h.get('old', []), undefined)
  await h.set('dynamic', Promise.resolve(entry([Buffer.from('x')], { expire: 0, revalidate: 0 })))
  assert.equal(await h.get('dynamic', []), undefined)
})

test('a revalidation through the cacheHandler or the API reaches use-cache entries (one manifest)', async () => {
  const options = opts()
  const h = api.createUseCacheHandler(options)
  const Handler = api.createHandler(options)
  await h.set('a', Promise.resolve(entry([Buffer.from('a')], { tags: ['shared-t'] })))
  await h.set('b', Promise.resolve(entry([Buffer.from('b')], { tags: ['other'] })))
  await sleep(2)
  await new Handler({}).revalidateTag('shared-t')
  assert.equal(await h.get('a', []), undefined)
  assert.ok(await h.get('b', []))
  await api.revalidatePath('/page', undefined, options)
  assert.equal(await h.get('b', ['_N_T_/layout', '_N_T_/page']), undefined, 'soft tags given at read time count')
  assert.ok(await h.get('b', ['_N_T_/layout']))
})

test('updateTags with { expire } marks entries stale (revalidate -1); without, they expire; expireTags (15.x) too', async () => {
  const h = api.createUseCacheHandler(opts())
  for (const k of ['s', 'x', 'y']) await h.set(k, Promise.resolve(entry([Buffer.from(k)], { tags: [`t-${k}`] })))
  await sleep(2)
  await h.updateTags(['t-s'], { expire: 100 })
  const stale = await h.get('s', [])
  assert.ok(stale, 'still served')
  assert.equal(stale.revalidate, -1)
  await h.updateTags(['t-x'])
  assert.equal(await h.get('x', []), undefined)
  await h.expireTags('t-y')
  assert.equal(await h.get('y', []), undefined)
  await h.updateTags([]) // no-op
  await h.expireTags()
})

test('getExpiration: both signatures; 0 for unknown tags; refreshTags catches up on other processes', async () => {
  const options = opts()
  const h = api.createUseCacheHandler(options)
  assert.equal(await h.getExpiration(['never']), 0)
  assert.equal(await h.getExpiration('never', 'either'), 0)
  const before = Date.now()
  await h.updateTags(['gx'])
  const e16 = await h.getExpiration(['gx', 'never'])
  const e15 = await h.getExpiration('never', 'gx')
  assert.ok(e16 >= before - 1 && e16 <= Date.now() + 1, `expiration ${e16}`)
  assert.equal(e15, e16)

  // Another store with its own view of the manifest (as another process would have).
  const other = api.createUseCacheHandler({ ...options, timeoutMs: 1234 })
  const writer = api.createHandler({ ...options, timeoutMs: 4321 })
  await other.refreshTags()
  assert.equal(await other.getExpiration(['remote']), 0)
  await new writer({}).revalidateTag('remote')
  await other.refreshTags()
  assert.ok((await other.getExpiration(['remote'])) > 0, 'seen after refreshTags')
})

test('refreshTags never throws when Redis is down; updateTags rejects', async () => {
  const h = api.createUseCacheHandler({
    redisUrl: 'redis://127.0.0.1:1',
    prefix: uniquePrefix('ucdown'),
    timeoutMs: 200,
    connectTimeoutMs: 200,
  })
  const saved = console.warn
  console.warn = () => {}
  try {
    await h.refreshTags()
    assert.equal(await h.get('k', []), undefined)
    await h.set('k', Promise.resolve(entry([Buffer.from('k')])))
    await assert.rejects(h.updateTags(['t']), (e) => /^ERR_SHARED_ISR_/.test(e.code))
  } finally {
    console.warn = saved
  }
})

test("Next 16's expire: Infinity (no expiry) round-trips as Infinity and is never judged expired by time", async () => {
  const o = opts()
  const h = api.createUseCacheHandler(o)
  // 10 days old: long past any finite expire a profile gives, well within the store's TTL.
  const old = performance.timeOrigin + performance.now() - 10 * 24 * 3600 * 1000
  await h.set(
    '["build","forever",[]]',
    Promise.resolve(entry([Buffer.from('kept')], { expire: Infinity, revalidate: 1e9, timestamp: old })),
  )
  await h.set('["build","finite",[]]', Promise.resolve(entry([Buffer.from('gone')], { expire: 3600, revalidate: 1e9, timestamp: old })))
  assert.equal(await h.get('["build","finite",[]]', []), undefined, 'a finite expire long past: expired')
  const got = await h.get('["build","forever",[]]', [])
  assert.ok(got, 'an entry with no expiry is served however old it is')
  assert.equal(got.expire, Infinity)
  assert.equal((await readAll(got.value)).toString(), 'kept')
  // In Redis it still lives under the default TTL (counted from its timestamp), never forever.
  const ttls = await Promise.all((await redis.cmd('KEYS', `${o.prefix}e:u:*`)).map((k) => redis.cmd('PTTL', k)))
  assert.ok(ttls.length >= 1 && ttls.every((t) => t > 0 && t < 365 * 24 * 3600 * 1000), `TTLs set: ${ttls}`)
})

test("on Next 16, the 'use cache' handler alone warns once that PPR pages need the page handler too", () => {
  const { spawnSync } = require('node:child_process')
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const lib = path.join(__dirname, '..', 'lib')
  // A process whose app has `next@version`: makes the handlers (`pageHandler`: the page one
  // too, as Next loads it before rendering), calls the 'use cache' handler twice, prints the
  // events logged.
  const run = (version, pageHandler) => {
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-uc-app-'))
    try {
      fs.mkdirSync(path.join(app, 'node_modules', 'next'), { recursive: true })
      fs.writeFileSync(path.join(app, 'node_modules', 'next', 'package.json'), JSON.stringify({ name: 'next', version }))
      const script = `
        const events = []
        const logger = { info() {}, warn: (f) => events.push(f.event), error: (f) => events.push(f.event) }
        if (${pageHandler}) require(${JSON.stringify(path.join(lib, 'handler.js'))}).createHandler({ logger })
        const h = require(${JSON.stringify(path.join(lib, 'use-cache.js'))}).createUseCacheHandler({ logger })
        ;(async () => {
          await h.refreshTags()
          await h.get('k', [])
          console.log(JSON.stringify(events))
        })()`
      const env = { PATH: process.env.PATH }
      const out = spawnSync(process.execPath, ['-e', script], { cwd: app, env, encoding: 'utf8' })
      assert.equal(out.status, 0, out.stderr)
      return JSON.parse(out.stdout.trim().split('\n').pop())
    } finally {
      fs.rmSync(app, { recursive: true, force: true })
    }
  }
  assert.deepEqual(run('16.4.6', false), ['use_cache_alone'], 'alone on 16: one warning')
  assert.deepEqual(run('16.4.6', true), [], 'with the page handler: none')
  assert.deepEqual(run('15.5.29', false), [], 'Next 15 keeps them apart: none')
})
