'use strict'
// The programmatic API, `require('shared-isr')`: revalidateTags (with Next 16 profiles),
// revalidatePath, stats, close; and the package entry points.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { uniquePrefix, sleep, waitFor, assertMiss, assertServed } = require('./helpers/common')
const { freePort } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')
const { fetchKey } = require('./helpers/values')

const { api, redis } = redisSuite()

const PAGE_CTX = { kind: 'APP_PAGE', isFallback: false }
const SET_CTX = { cacheControl: { revalidate: 60, expire: 3600 }, isRoutePPREnabled: false, isFallback: false }
const page = (tags) => ({
  kind: 'APP_PAGE',
  html: 'h',
  rscData: Buffer.from('r'),
  headers: { 'x-next-cache-tags': tags },
  postponed: undefined,
  status: 200,
  segmentData: undefined,
})
const opts = () => ({ redisUrl: redis.url, prefix: uniquePrefix('api'), buildId: 'api' })

test('exports the documented functions', () => {
  for (const name of ['createHandler', 'revalidateTags', 'revalidatePath', 'stats', 'close']) {
    assert.equal(typeof api[name], 'function', name)
  }
})

test("require('shared-isr') and require.resolve('shared-isr/handler') resolve to the package's files", () => {
  assert.equal(require.resolve('shared-isr'), path.join(__dirname, '..', 'lib', 'index.js'))
  const file = require.resolve('shared-isr/handler')
  assert.equal(file, path.join(__dirname, '..', 'lib', 'handler-default.js'))
  const Handler = require(file)
  assert.equal(typeof Handler, 'function', 'module.exports is the class')
  const h = new Handler({ serverDistDir: '/nonexistent/.next/server' })
  for (const m of ['get', 'set', 'revalidateTag', 'resetRequestCache']) assert.equal(typeof h[m], 'function', m)
})

test('every file package.json points at exists', () => {
  const pkg = require('../package.json')
  const root = path.join(__dirname, '..')
  const targets = [pkg.main, pkg.types]
  const walk = (v) => (typeof v === 'string' ? targets.push(v) : v && typeof v === 'object' && Object.values(v).forEach(walk))
  walk(pkg.exports)
  for (const t of targets) assert.ok(fs.existsSync(path.join(root, t)), `${t} is missing`)
  for (const f of pkg.files) {
    if (!f.includes('*')) assert.ok(fs.existsSync(path.join(root, f)), `files: ${f} is missing`)
  }
})

test('revalidateTags: string or array, no profile = expired now', async () => {
  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/a', page('ta'), SET_CTX)
  await new H({}).set('/b', page('tb'), SET_CTX)
  await new H({}).set('/c', page('tc'), SET_CTX)
  await sleep(2)
  await api.revalidateTags('ta', undefined, options)
  await api.revalidateTags(['tb'], undefined, options)
  assertMiss(await new H({}).get('/a', PAGE_CTX))
  assertMiss(await new H({}).get('/b', PAGE_CTX))
  assertServed(await new H({}).get('/c', PAGE_CTX))
})

test("revalidateTags with profile 'max': stale (served, regenerated in the background), not expired", async () => {
  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/max', page('m'), SET_CTX)
  await new H({}).set(
    fetchKey('max'),
    { kind: 'FETCH', data: { headers: {}, body: 'eA==', url: '' }, revalidate: 60 },
    { fetchCache: true, tags: ['m'] },
  )
  await sleep(2)
  await api.revalidateTags(['m'], 'max', options)
  const hit = await new H({}).get('/max', PAGE_CTX)
  assert.notEqual(hit.lastModified, -1)
  assert.ok(Date.now() - hit.lastModified > 60_000, 'stale')
  const f = await new H({}).get(fetchKey('max'), { kind: 'FETCH', revalidate: 60, tags: ['m'], softTags: [] })
  assert.ok(f && Date.now() - f.lastModified > 60_000, 'stale fetch still served')
})

test('revalidateTags with { expire: 1 }: stale now, expired a second later', async () => {
  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/exp', page('e'), SET_CTX)
  await sleep(2)
  await api.revalidateTags('e', { expire: 1 }, options)
  assertServed(await new H({}).get('/exp', PAGE_CTX))
  await sleep(1200)
  assertMiss(await new H({}).get('/exp', PAGE_CTX))
})

test("revalidateTags with a built-in cacheLife profile ('hours'): stale now, expired after the profile's expire", async () => {
  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/hours', page('h'), SET_CTX)
  await sleep(2)
  const before = Date.now()
  await api.revalidateTags('h', 'hours', options)
  const hit = await new H({}).get('/hours', PAGE_CTX)
  assertServed(hit, 'stale, still served')
  assert.ok(Date.now() - hit.lastModified > 60_000, 'stale: regenerated in the background')
  // The stamp Redis holds: expired from one day after the revalidation.
  const expiredAt = Number(await redis.cmd('HGET', `${options.prefix}{${options.prefix}}:expired`, 'h'))
  assert.ok(Math.abs(expiredAt - (before + 86_400_000)) < 5_000, `expired stamp ${expiredAt - before} ms after`)
})

test("revalidateTags with a profile of the app's cacheLife config: looked up in Next's work store, as Next does", async () => {
  // An app whose Next exposes the request's work store (the `.external` module, shared with
  // packages Node loads): a custom profile and an overridden built-in inside a request.
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-cachelife-'))
  const dir = path.join(app, 'node_modules', 'next', 'dist', 'server', 'app-render')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'work-async-storage.external.js'),
    "exports.workAsyncStorage = new (require('node:async_hooks').AsyncLocalStorage)()\n",
  )
  const options = opts()
  const script = `
    const api = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))})
    const { workAsyncStorage } = require('next/dist/server/app-render/work-async-storage.external')
    const options = ${JSON.stringify(options)}
    const cacheLifeProfiles = { biweekly: { stale: 300, revalidate: 3600, expire: 1209600 }, hours: { expire: 7200 } }
    ;(async () => {
      await workAsyncStorage.run({ cacheLifeProfiles }, async () => {
        await api.revalidateTags('custom', 'biweekly', options)
        await api.revalidateTags('overridden', 'hours', options)
      })
      await api.revalidateTags('builtin', 'hours', options) // outside a request: the built-in
      await api.revalidateTags('custom', 'biweekly', options).catch((e) => console.log('OUTSIDE', e.message))
      await api.close()
    })().catch((e) => { console.error('FAILED', e); process.exit(1) })
  `
  const before = Date.now()
  const r = spawnSync(process.execPath, ['-e', script], { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH } })
  fs.rmSync(app, { recursive: true, force: true })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.match(r.stdout, /OUTSIDE unknown profile "biweekly": .*cacheLife/)
  const expired = async (tag) => Number(await redis.cmd('HGET', `${options.prefix}{${options.prefix}}:expired`, tag)) - before
  const near = (ms, seconds) => Math.abs(ms - seconds * 1000) < 10_000
  assert.ok(near(await expired('custom'), 1209600), `custom: ${await expired('custom')} ms`)
  assert.ok(near(await expired('overridden'), 7200), `overridden built-in: ${await expired('overridden')} ms`)
  assert.ok(near(await expired('builtin'), 86400), `built-in: ${await expired('builtin')} ms`)
})

test('revalidateTags: empty lists are no-ops (no connection needed); bad profiles are refused and record nothing', async () => {
  const dead = { redisUrl: `redis://127.0.0.1:${await freePort()}`, prefix: uniquePrefix('dead'), timeoutMs: 200 }
  await api.revalidateTags([], undefined, dead)
  await api.revalidateTags('', 'max', dead)
  await api.revalidateTags([''], undefined, dead)

  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/bad', page('bad'), SET_CTX)
  await assert.rejects(api.revalidateTags('bad', 'hourz', options), /unknown profile "hourz": use one of default, seconds, minutes, hours/)
  await assert.rejects(api.revalidateTags('bad', { expire: -1 }, options), TypeError)
  await assert.rejects(api.revalidateTags('bad', { expire: '10' }, options), TypeError)
  await assert.rejects(api.revalidateTags('bad', 42, options), TypeError)
  assertServed(await new H({}).get('/bad', PAGE_CTX), 'nothing was revalidated')
  assert.equal(api.stats(options).revalidations, 0)
})

test('revalidatePath: the implicit tag of a path, with type, trailing slash, / and /index, non-ASCII (raw and percent-encoded)', async () => {
  const options = opts()
  const H = api.createHandler(options)
  const entries = {
    '/blog/hello': '_N_T_/layout,_N_T_/blog/[slug]/page,_N_T_/blog/hello',
    '/blog/world': '_N_T_/layout,_N_T_/blog/[slug]/page,_N_T_/blog/world',
    '/docs': '_N_T_/layout,_N_T_/docs/page,_N_T_/docs',
    '/home14': '_N_T_/layout,_N_T_/page,_N_T_/index', // Next 14/15 name the home page /index
    '/home16': '_N_T_/layout,_N_T_/page,_N_T_/', // Next 16 uses / (and pairs it with /index)
    '/unicode-raw': '_N_T_/layout,_N_T_/ünï', // 14/15 keep non-ASCII as is
    '/unicode-enc': '_N_T_/layout,_N_T_/%C3%BCn%C3%AF', // 16 percent-encodes it
  }
  for (const [k, tags] of Object.entries(entries)) await new H({}).set(k, page(tags), SET_CTX)
  await sleep(2)
  const expired = async () => {
    const out = []
    for (const k of Object.keys(entries)) if ((await new H({}).get(k, PAGE_CTX)) === null) out.push(k)
    return out
  }

  await api.revalidatePath('/blog/hello', undefined, options)
  assert.deepEqual(await expired(), ['/blog/hello'])
  await api.revalidatePath('/docs/', undefined, options) // trailing slash is removed
  assert.deepEqual(await expired(), ['/blog/hello', '/docs'])
  await api.revalidatePath('/', undefined, options)
  assert.deepEqual(await expired(), ['/blog/hello', '/docs', '/home14', '/home16'])
  await api.revalidatePath('/ünï', undefined, options)
  assert.deepEqual(await expired(), ['/blog/hello', '/docs', '/home14', '/home16', '/unicode-raw', '/unicode-enc'])
  await api.revalidatePath('/blog/[slug]', 'page', options)
  assert.deepEqual((await expired()).length, 7)

  await assert.rejects(api.revalidatePath('blog', undefined, options), TypeError)
  await assert.rejects(api.revalidatePath('/blog', 'route', options), TypeError)
})

test('stats reflect what happened on this store', async () => {
  const options = opts()
  const H = api.createHandler(options)
  const s0 = api.stats(options)
  assert.equal(s0.store, 'redis')
  for (const k of ['gets', 'hits', 'misses', 'sets', 'setErrors', 'revalidations', 'corrupt', 'getErrors']) assert.equal(s0[k], 0, k)
  await new H({}).set('/s', page('s'), SET_CTX)
  await new H({}).get('/s', PAGE_CTX)
  await new H({}).get('/missing', PAGE_CTX)
  await sleep(2)
  await new H({}).revalidateTag('s')
  await new H({}).get('/s', PAGE_CTX)
  await new H({}).revalidateTag(['x'], { expire: 100 })
  await new H({}).set('/s2', page('x'), SET_CTX)
  await sleep(2)
  await new H({}).revalidateTag(['x'], { expire: 100 })
  await new H({}).get('/s2', PAGE_CTX)
  const s = api.stats(options)
  assert.equal(s.sets, 2)
  assert.equal(s.gets, 4)
  assert.equal(s.hits, 1)
  assert.equal(s.misses, 1)
  assert.equal(s.expiredHits, 1)
  assert.equal(s.staleHits, 1)
  assert.equal(s.revalidations, 3)
  assert.equal(s.revalidationErrors, 0)
  assert.ok(s.manifestTags >= 2)
  assert.equal(s.circuitOpen, false)

  const mem = { prefix: uniquePrefix('apimem') }
  const M = api.createHandler(mem)
  await new M({}).set('/m', page('m'), SET_CTX)
  const ms = api.stats(mem)
  assert.equal(ms.store, 'memory')
  assert.equal(ms.memoryEntries, 1)
  assert.ok(ms.memoryBytes > 0)
})

test('close() releases the connections; handlers made before it keep working (they reconnect)', async () => {
  const options = opts()
  const H = api.createHandler(options)
  await new H({}).set('/close', page('c'), SET_CTX)
  const open = await redis.clientCount() // ours plus the one asking
  assert.ok(open >= 2)
  await api.close()
  await waitFor(async () => (await redis.clientCount()) === 1, { timeoutMs: 5000, what: 'connections closed' })
  // Everything still works afterwards, against the same Redis.
  assert.equal((await new H({}).get('/close', PAGE_CTX)).value.html, 'h')
  await api.revalidateTags('c', undefined, options)
  assertMiss(await new H({}).get('/close', PAGE_CTX))
  assert.equal(api.stats(options).store, 'redis')
})
