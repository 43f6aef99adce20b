'use strict'
// Tags judged at read time (spec §1.9, §1.10, §7): header tags for pages, ctx.tags and
// ctx.softTags for fetches, revalidateTag with and without Next 16 durations, revalidatePath.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, sleep, assertLossless, assertMiss, assertServed, makeBuildDir } = require('./helpers/common')
const { freePort } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')
const { fetchKey } = require('./helpers/values')

const { api, redis } = redisSuite()

const backends = {
  memory: () => ({ prefix: uniquePrefix('mem'), buildId: 'b' }),
  redis: () => ({ redisUrl: redis.url, prefix: uniquePrefix('red'), buildId: 'b' }),
}

const PAGE_CTX = { kind: 'APP_PAGE', isRoutePPREnabled: false, isFallback: false }
const page = (tags, html = 'old html') => ({
  kind: 'APP_PAGE',
  html,
  rscData: Buffer.from(`rsc:${html}`),
  headers: tags === undefined ? undefined : { 'x-next-cache-tags': tags },
  postponed: undefined,
  status: 200,
  segmentData: new Map([['/_tree', Buffer.from('tree')]]),
})
const setPage = (revalidate = 60, expire = 31536000) => ({
  cacheControl: { revalidate, expire },
  isRoutePPREnabled: false,
  isFallback: false,
})
const fetchValue = (body = 'b2xk', revalidate = 60) => ({ kind: 'FETCH', data: { headers: {}, body, url: 'https://api/x' }, revalidate })
const fetchGet = (tags = [], softTags = [], revalidate = 60) => ({
  kind: 'FETCH',
  revalidate,
  fetchUrl: 'https://api/x',
  fetchIdx: 0,
  tags,
  softTags,
})
const fetchSet = (tags = []) => ({ fetchCache: true, fetchUrl: 'https://api/x', fetchIdx: 0, tags })

for (const [backend, optionsFor] of Object.entries(backends)) {
  describe(`${backend} store`, () => {
    test('page tags come from headers["x-next-cache-tags"]; revalidated pages of open routes are a miss', async () => {
      const H = api.createHandler(optionsFor())
      const v = page('_N_T_/layout,_N_T_/blog/page,posts')
      await new H({}).set('/blog', v, setPage(60, 3600))
      await new H({}).set('/other', page('_N_T_/layout,_N_T_/other/page'), setPage())
      await new H({}).set('/untagged', page(undefined), setPage())
      assertServed(await new H({}).get('/blog', PAGE_CTX))

      await new H({}).revalidateTag(['posts'])
      assertMiss(await new H({}).get('/blog', PAGE_CTX), 'a miss: Next renders fresh content at once')
      assertServed(await new H({}).get('/other', PAGE_CTX), 'other tags untouched')
      assertServed(await new H({}).get('/untagged', PAGE_CTX))

      await new H({}).revalidateTag('_N_T_/layout')
      assertMiss(await new H({}).get('/other', PAGE_CTX))
      assertServed(await new H({}).get('/untagged', PAGE_CTX))
    })

    test('closed routes (fallback: false / dynamicParams = false) get the old value with lastModified -1, never a miss (it would 404)', async () => {
      const H = api.createHandler(optionsFor())
      const serverDistDir = makeBuildDir('closed', {
        routes: {
          '/closed/a': '/closed/[slug]',
          '/closed/b': '/closed/[slug]',
          '/': '/[[...slug]]',
          '/open/a': '/open/[slug]',
          '/static': null,
        },
        closedRoutes: ['/closed/[slug]', '/[[...slug]]'],
      })
      const keys = {
        '/closed/a': 'closed', // 14.2 - 15.5.26 / 16.3.7 keys: the normalized path
        '/route-cache/APP_PAGE/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/$/closed/b': 'closed', // 15.5.27+ / 16.3.8+
        '/index': 'closed', // the home page, normalized
        '/open/a': 'open', // dynamicParams = true: a miss renders it
        '/static': 'open',
        '/closed/not-prerendered': 'open',
      }
      const v = page('_N_T_/layout,closed-tag')
      for (const k of Object.keys(keys)) await new H({ serverDistDir }).set(k, v, setPage(60, 3600))
      await new H({ serverDistDir }).set('/closed/gone-404', null, setPage())
      await sleep(2)
      await new H({ serverDistDir }).revalidateTag('closed-tag')
      for (const [k, kind] of Object.entries(keys)) {
        const hit = await new H({ serverDistDir }).get(k, PAGE_CTX)
        if (kind === 'open') {
          assertMiss(hit, k)
          continue
        }
        assert.ok(hit, `${k}: must not be a miss`)
        assert.equal(hit.lastModified, -1, `${k}: regenerate`)
        assertLossless(hit.value, v)
        assert.deepEqual(hit.cacheControl, { revalidate: 60, expire: 3600 })
      }
      // Without the build's manifest (another dir, next dev) nothing is known to be closed.
      assertMiss(await new H({ serverDistDir: makeBuildDir('closed') }).get('/closed/a', PAGE_CTX))
    })

    test('tags header given as an array works too', async () => {
      const H = api.createHandler(optionsFor())
      await new H({}).set('/arr', page(['a,b', 'c']), setPage())
      await new H({}).revalidateTag('c')
      assertMiss(await new H({}).get('/arr', PAGE_CTX))
    })

    test('route handlers (APP_ROUTE) and 14.2 PAGE entries are invalidated by their header tags', async () => {
      const H = api.createHandler(optionsFor())
      const route = { kind: 'APP_ROUTE', body: Buffer.from('{}'), status: 200, headers: { 'x-next-cache-tags': '_N_T_/api/route,api' } }
      await new H({}).set('/api', route, setPage())
      await new H({}).set(
        '/p14',
        { kind: 'PAGE', html: 'x', pageData: 'rsc', headers: { 'x-next-cache-tags': 'api' }, status: 200 },
        { revalidate: 30 },
      )
      await new H({}).revalidateTag(['api'])
      assertMiss(await new H({}).get('/api', { kind: 'APP_ROUTE' }))
      assertMiss(await new H({}).get('/p14', { kindHint: 'app' }))
    })

    test('a cached 404 (value null) that was revalidated is a miss', async () => {
      const H = api.createHandler(optionsFor())
      await new H({}).set('/gone', null, setPage())
      assert.equal((await new H({}).get('/gone', { kind: 'PAGES' })).value, null)
      await new H({}).revalidateTag('_N_T_/layout')
      // null carries no tags: it is unaffected by a tag, and stays a cached 404.
      assert.equal((await new H({}).get('/gone', { kind: 'PAGES' })).value, null)
    })

    test('fetch entries: ctx.tags at set time invalidate; revalidated fetches are null', async () => {
      const H = api.createHandler(optionsFor())
      const k = fetchKey(`${backend}-tags`)
      await new H({}).set(k, fetchValue(), fetchSet(['posts', 'post-1']))
      assert.ok(await new H({}).get(k, fetchGet(['posts', 'post-1'])))
      await new H({}).revalidateTag('post-1')
      assert.equal(await new H({}).get(k, fetchGet(['posts', 'post-1'])), null)
      // Stored tags count even when the reader does not pass them.
      assert.equal(await new H({}).get(k, fetchGet([])), null)
    })

    test('fetch entries: value.tags are stored too (14.2 / unstable_cache)', async () => {
      const H = api.createHandler(optionsFor())
      const k = fetchKey(`${backend}-valuetags`)
      await new H({}).set(k, { ...fetchValue(), tags: ['from-value'] }, fetchSet([]))
      await new H({}).revalidateTag('from-value')
      assert.equal(await new H({}).get(k, fetchGet([])), null)
    })

    test('fetch entries: ctx.tags and ctx.softTags given only at read time are judged', async () => {
      const H = api.createHandler(optionsFor())
      const k = fetchKey(`${backend}-soft`)
      await new H({}).set(k, fetchValue(), fetchSet(['explicit']))
      const soft = ['_N_T_/layout', '_N_T_/blog/layout', '_N_T_/blog/[slug]/page', '_N_T_/blog/hello']
      await new H({}).revalidateTag('_N_T_/blog/hello')
      assert.equal(await new H({}).get(k, fetchGet(['explicit'], soft)), null, 'soft tag of the reading page')
      assert.ok(await new H({}).get(k, fetchGet(['explicit'], ['_N_T_/layout', '_N_T_/other'])), 'another page reading it is unaffected')

      const k2 = fetchKey(`${backend}-readtag`)
      await new H({}).set(k2, fetchValue(), fetchSet([]))
      await sleep(2)
      await new H({}).revalidateTag('added-later')
      assert.equal(await new H({}).get(k2, fetchGet(['added-later'])), null, 'explicit tag known only at read time')
      assert.ok(await new H({}).get(k2, fetchGet([])))
    })

    test('revalidateTag accepts a string or an array; every listed tag counts', async () => {
      const H = api.createHandler(optionsFor())
      for (const t of ['s1', 'a1', 'a2']) await new H({}).set(`/t/${t}`, page(t), setPage())
      await new H({}).revalidateTag('s1')
      await new H({}).revalidateTag(['a1', 'a2', 'a1'])
      for (const t of ['s1', 'a1', 'a2']) assertMiss(await new H({}).get(`/t/${t}`, PAGE_CTX), t)
    })

    test('revalidateTag([]), revalidateTag(""), revalidateTag([""]) are no-ops', async () => {
      const options = optionsFor()
      const H = api.createHandler(options)
      await new H({}).set('/noop', page('_N_T_/layout,x'), setPage())
      const before = api.stats(options).revalidations
      await new H({}).revalidateTag([])
      await new H({}).revalidateTag('')
      await new H({}).revalidateTag([''])
      assert.equal(api.stats(options).revalidations, before, 'nothing recorded')
      assertServed(await new H({}).get('/noop', PAGE_CTX))
    })

    test('an entry set after a revalidation is fresh', async () => {
      const H = api.createHandler(optionsFor())
      const k = fetchKey(`${backend}-again`)
      await new H({}).set('/again', page('again'), setPage())
      await new H({}).set(k, fetchValue(), fetchSet(['again']))
      await sleep(2)
      await new H({}).revalidateTag('again')
      assertMiss(await new H({}).get('/again', PAGE_CTX))
      await sleep(3) // Next's rule: an entry written in the same ms as the revalidation counts as older
      const t0 = Date.now()
      await new H({}).set('/again', page('again', 'new html'), setPage())
      const hit = await new H({}).get('/again', PAGE_CTX)
      assert.ok(hit.lastModified >= t0, `fresh, got lastModified ${hit.lastModified}`)
      assert.equal(hit.value.html, 'new html')

      assert.equal(await new H({}).get(k, fetchGet(['again'])), null)
      await new H({}).set(k, fetchValue('bmV3'), fetchSet(['again']))
      assert.equal((await new H({}).get(k, fetchGet(['again']))).value.data.body, 'bmV3')
    })

    test('Next 16 revalidateTag(tags, { expire }): stale now, expired after `expire` seconds', async () => {
      const H = api.createHandler(optionsFor())
      await new H({}).set('/swr/60', page('swr'), setPage(60, 3600))
      await new H({}).set('/swr/false', page('swr'), setPage(false, 3600))
      await new H({}).set('/swr/unknown', page('swr'), {}) // no lifetime known
      const k = fetchKey(`${backend}-swr`)
      await new H({}).set(k, fetchValue('c3dy', 60), fetchSet(['swr']))
      await new H({}).set('/swr/other', page('not-swr'), setPage(60, 3600))

      await sleep(2)
      await new H({}).revalidateTag(['swr'], { expire: 1 })
      const now = Date.now()

      const p60 = await new H({}).get('/swr/60', PAGE_CTX)
      assert.notEqual(p60.lastModified, -1, 'stale, not expired: served while regenerating')
      assert.ok(now - p60.lastModified > 60_000, `old enough that age > revalidate (lastModified ${now - p60.lastModified} ms ago)`)
      assert.equal(p60.value.html, 'old html', 'the old value')
      assert.equal((await new H({}).get('/swr/false', PAGE_CTX)).lastModified, -1, 'revalidate false: no age can be stale, so -1')
      assert.equal((await new H({}).get('/swr/unknown', PAGE_CTX)).lastModified, -1, 'revalidate unknown: -1')
      const f = await new H({}).get(k, fetchGet(['swr'], [], 60))
      assert.ok(f, 'stale fetch is still served')
      assert.ok(now - f.lastModified > 60_000, 'with a lastModified older than its revalidate')
      assert.equal(f.value.data.body, 'c3dy')
      assert.ok(Date.now() - (await new H({}).get('/swr/other', PAGE_CTX)).lastModified < 60_000, 'other pages fresh')

      await sleep(1200)
      assertMiss(await new H({}).get('/swr/60', PAGE_CTX), 'expired after `expire`')
      assert.equal(await new H({}).get(k, fetchGet(['swr'], [], 60)), null, 'expired fetch is a miss')
    })

    test('Next 16 durations without expire: stale only; a later plain revalidateTag expires now', async () => {
      const H = api.createHandler(optionsFor())
      await new H({}).set('/stale-only', page('so'), setPage(60, 3600))
      await sleep(2)
      await new H({}).revalidateTag(['so'], {})
      const hit = await new H({}).get('/stale-only', PAGE_CTX)
      assert.notEqual(hit.lastModified, -1)
      assert.ok(Date.now() - hit.lastModified > 60_000)
      await new H({}).revalidateTag(['so'])
      assertMiss(await new H({}).get('/stale-only', PAGE_CTX))
    })

    test('revalidatePath (programmatic API) revalidates the implicit _N_T_ tags', async () => {
      const options = optionsFor()
      const H = api.createHandler(options)
      const tagsFor = (p) => `_N_T_/layout,_N_T_/blog/layout,_N_T_/blog/[slug]/layout,_N_T_/blog/[slug]/page,_N_T_${p}`
      await new H({}).set('/blog/hello', page(tagsFor('/blog/hello')), setPage())
      await new H({}).set('/blog/world', page(tagsFor('/blog/world')), setPage())
      await new H({}).set('/about', page('_N_T_/layout,_N_T_/about/page,_N_T_/about'), setPage())
      const k = fetchKey(`${backend}-path`)
      await new H({}).set(k, fetchValue(), fetchSet([]))

      await api.revalidatePath('/blog/hello', undefined, options)
      assertMiss(await new H({}).get('/blog/hello', PAGE_CTX))
      assertServed(await new H({}).get('/blog/world', PAGE_CTX))
      assert.equal(await new H({}).get(k, fetchGet([], ['_N_T_/layout', '_N_T_/blog/hello'])), null, 'fetch read by that page')
      assert.ok(await new H({}).get(k, fetchGet([], ['_N_T_/layout', '_N_T_/about'])), 'same fetch read by another page')

      await api.revalidatePath('/blog/[slug]', 'page', options)
      assertMiss(await new H({}).get('/blog/world', PAGE_CTX))
      assertServed(await new H({}).get('/about', PAGE_CTX))

      await api.revalidatePath('/', 'layout', options)
      assertMiss(await new H({}).get('/about', PAGE_CTX), "revalidatePath('/', 'layout') reaches everything")
    })
  })
}

describe('redis only', () => {
  test('revalidateTag([]) / ("") never touch Redis (they resolve even when it is unreachable)', async () => {
    const H = api.createHandler({
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      prefix: uniquePrefix('noop'),
      timeoutMs: 200,
      connectTimeoutMs: 200,
    })
    await new H({}).revalidateTag([])
    await new H({}).revalidateTag('')
    await api.revalidateTags([], undefined, { redisUrl: `redis://127.0.0.1:${await freePort()}`, timeoutMs: 200 })
  })

  test('revalidation cost does not depend on the number of entries: no KEYS/SCAN, only the manifest keys are written', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('cost'), buildId: 'b' }
    const H = api.createHandler(options)
    for (let i = 0; i < 200; i++) await new H({}).set(`/many/${i}`, page(`_N_T_/layout,many,m${i}`), setPage())
    const keysBefore = (await redis.cmd('KEYS', `${options.prefix}*`)).length
    await redis.cmd('CONFIG', 'RESETSTAT')
    await new H({}).revalidateTag(['many'])
    await new H({}).revalidateTag(['m1', 'm2'], { expire: 100 })
    for (let i = 0; i < 5; i++) assertMiss(await new H({}).get(`/many/${i}`, PAGE_CTX))
    const stats = await redis.cmd('INFO', 'commandstats') // before our own KEYS below
    for (const cmd of ['keys', 'scan', 'sscan', 'hscan', 'zscan', 'del', 'unlink', 'flushdb']) {
      assert.ok(!new RegExp(`^cmdstat_${cmd}:`, 'm').test(stats), `no ${cmd.toUpperCase()} issued:\n${stats}`)
    }
    // The manifest: stale, expired, log, epoch and born, and deadlines (when a deadline was
    // set: the second revalidation's `expire`). The reads above took regeneration
    // leases (`<prefix>l:`, one per expired entry read, each expiring): not the revalidation's.
    const all = (await redis.cmd('KEYS', `${options.prefix}*`)).map(String)
    const leases = all.filter((k) => k.startsWith(`${options.prefix}l:`))
    assert.equal(leases.length, 5, 'one lease per expired entry read')
    for (const k of leases) assert.ok(Number(await redis.cmd('PTTL', k)) > 0, `${k} expires`)
    const keysAfter = all.length - leases.length
    assert.ok(keysAfter - keysBefore <= 6, `revalidation added ${keysAfter - keysBefore} keys (only the manifest)`)
    for (const k of all.filter((k) => !k.startsWith(`${options.prefix}e:`) && !k.startsWith(`${options.prefix}l:`))) {
      assert.ok(k.startsWith(`${options.prefix}{${options.prefix}}:`), `${k}: only keys in the manifest's slot besides entries and leases`)
    }
  })
})
