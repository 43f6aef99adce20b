'use strict'
// Every kind of every Next version goes through the handler and comes back lossless, on the
// memory store and on Redis.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, assertLossless } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { versions, bytes, fetchKey } = require('./helpers/values')

const { api, redis } = redisSuite()

const backends = {
  memory: () => ({ prefix: uniquePrefix('mem'), buildId: 'b1' }),
  redis: () => ({ redisUrl: redis.url, prefix: uniquePrefix('red'), buildId: 'b1' }),
}

/** The get ctx and set ctx Next would pass for a sample value. */
function contexts(version, v, sample) {
  const isFetch = sample.value?.kind === 'FETCH'
  if (version === '14.2') {
    return isFetch ? [v.getCtx.fetch(['t']), v.setCtx.fetch(['t'])] : [v.getCtx[sample.ctx], v.setCtx.page(60)]
  }
  return isFetch ? [v.getCtx.FETCH(['t']), v.setCtx.fetch(['t'])] : [v.getCtx[sample.ctx], v.setCtx.page(60, 3600)]
}

for (const [backend, optionsFor] of Object.entries(backends)) {
  describe(`${backend} store`, () => {
    for (const [version, v] of Object.entries(versions())) {
      for (const [name, sample] of Object.entries(v.values)) {
        test(`Next ${version} ${name} comes back lossless`, async () => {
          const options = optionsFor()
          const Handler = api.createHandler(options)
          const [getCtx, setCtx] = contexts(version, v, sample)
          const key = sample.value?.kind === 'FETCH' ? fetchKey(name) : `/lossless/${encodeURIComponent(name)}`
          await new Handler({}).set(key, sample.value, setCtx)
          const hit = await new Handler({}).get(key, getCtx)
          assert.ok(hit, 'hit')
          assert.equal(typeof hit.lastModified, 'number')
          assert.ok(hit.lastModified > 0, `lastModified ${hit.lastModified}`)
          if (sample.value === null) {
            assert.equal(hit.value, null, 'a cached 404 is { value: null }')
          } else {
            assertLossless(hit.value, sample.value)
            for (const f of ['rscData', 'postponed', 'segmentData', 'headers', 'status']) {
              if (f in sample.value && sample.value[f] === undefined) assert.equal(typeof hit.value[f], 'undefined', f)
            }
            if (sample.value.segmentData instanceof Map) {
              assert.ok(hit.value.segmentData instanceof Map)
              assert.equal(hit.value.segmentData.get('/blog/__PAGE__').length, 0)
              assert.ok(Buffer.isBuffer(hit.value.segmentData.get('/blog/__PAGE__')))
            }
          }
          // A second reader (another handler instance) gets the same thing.
          const again = await new Handler({}).get(key, getCtx)
          assertLossless(again.value, sample.value)
        })
      }
    }

    test('Next 15.5.27+/16.3.8+ set ctx with `kind` is understood', async () => {
      const Handler = api.createHandler(optionsFor())
      const value = versions()['16'].values.APP_ROUTE.value
      await new Handler({}).set('/route-cache/APP_ROUTE/abc/$/img', value, {
        kind: 'APP_ROUTE',
        cacheControl: { revalidate: 10, expire: 100 },
        isRoutePPREnabled: false,
        isFallback: false,
      })
      const hit = await new Handler({}).get('/route-cache/APP_ROUTE/abc/$/img', { kind: 'APP_ROUTE', isFallback: false })
      assertLossless(hit.value, value)
      assert.deepEqual(hit.cacheControl, { revalidate: 10, expire: 100 })
    })

    test('FETCH set without ctx.revalidate (15.2+) is read back with the value', async () => {
      const Handler = api.createHandler(optionsFor())
      const value = { kind: 'FETCH', data: { headers: {}, body: 'e30=', url: 'https://x' }, revalidate: 45 }
      await new Handler({}).set(fetchKey('15.2'), value, { fetchCache: true, fetchUrl: 'https://x', fetchIdx: 0, tags: [] })
      const hit = await new Handler({}).get(fetchKey('15.2'), { kind: 'FETCH', revalidate: 45, tags: [], softTags: [] })
      assertLossless(hit.value, value)
    })

    test('the value is copied at set(): mutating the input afterwards changes nothing', async () => {
      const Handler = api.createHandler(optionsFor())
      const arena = bytes(10_000, 3)
      const body = arena.subarray(100, 5100)
      const original = Buffer.from(body)
      const value = { kind: 'APP_ROUTE', body, status: 200, headers: { 'set-cookie': ['a=1'] } }
      const pending = new Handler({}).set('/mutate', value, { cacheControl: { revalidate: 60, expire: 600 } })
      arena.fill(0) // Next may reuse its buffers as soon as set() returns its promise
      value.headers['set-cookie'].push('b=2')
      await pending
      const hit = await new Handler({}).get('/mutate', { kind: 'APP_ROUTE' })
      assert.ok(hit.value.body.equals(original), 'bytes as they were when set() was called')
      assert.deepEqual(hit.value.headers['set-cookie'], ['a=1'])
    })

    // With the L1 on, values are shared between requests as in Next's own memory cache
    // (Next never mutates them); this is about what comes out of the store.
    test('returned Buffers belong to the caller: mutating one does not change the cache', async () => {
      const Handler = api.createHandler({ ...optionsFor(), l1MaxBytes: 0 })
      const rsc = bytes(3000, 4)
      const value = {
        kind: 'APP_PAGE',
        html: 'h',
        rscData: rsc,
        headers: {},
        postponed: undefined,
        status: 200,
        segmentData: new Map([['/_tree', bytes(50, 2)]]),
      }
      await new Handler({}).set('/own', value, { cacheControl: { revalidate: 60, expire: 600 } })
      const first = await new Handler({}).get('/own', { kind: 'APP_PAGE' })
      first.value.rscData.fill(0)
      first.value.segmentData.get('/_tree').fill(0)
      const second = await new Handler({}).get('/own', { kind: 'APP_PAGE' })
      assertLossless(second.value, value)
    })

    test('page and fetch entries with the same key do not collide', async () => {
      const Handler = api.createHandler(optionsFor())
      const page = { kind: 'APP_ROUTE', body: Buffer.from('page'), status: 200, headers: {} }
      const data = { kind: 'FETCH', data: { headers: {}, body: 'ZmV0Y2g=', url: '' }, revalidate: 60 }
      await new Handler({}).set('same-key', page, { cacheControl: { revalidate: 60, expire: 600 } })
      await new Handler({}).set('same-key', data, { fetchCache: true, tags: [] })
      assertLossless((await new Handler({}).get('same-key', { kind: 'APP_ROUTE' })).value, page)
      assertLossless((await new Handler({}).get('same-key', { kind: 'FETCH', tags: [], softTags: [] })).value, data)
    })

    test('a later set() replaces the value; unknown keys are a miss (null)', async () => {
      const Handler = api.createHandler(optionsFor())
      const ctx = { cacheControl: { revalidate: 60, expire: 600 } }
      await new Handler({}).set('/replace', { kind: 'APP_ROUTE', body: Buffer.from('one'), status: 200, headers: {} }, ctx)
      await new Handler({}).set('/replace', { kind: 'APP_ROUTE', body: Buffer.from('two'), status: 201, headers: {} }, ctx)
      const hit = await new Handler({}).get('/replace', { kind: 'APP_ROUTE' })
      assert.equal(hit.value.body.toString(), 'two')
      assert.equal(hit.value.status, 201)
      assert.equal(await new Handler({}).get('/never-set', { kind: 'APP_PAGE', isFallback: false }), null)
      assert.equal(await new Handler({}).get(fetchKey('never'), { kind: 'FETCH', tags: [], softTags: [] }), null)
    })

    test('IMAGE values are not stored (Next keeps them in its own cache)', async () => {
      const Handler = api.createHandler(optionsFor())
      await new Handler({}).set(
        '/_next/image?url=x',
        { kind: 'IMAGE', etag: 'e', buffer: Buffer.from('png'), extension: 'png' },
        { revalidate: 60 },
      )
      assert.equal(await new Handler({}).get('/_next/image?url=x', { kind: 'IMAGE' }), null)
      assert.equal(new Handler({}).resetRequestCache(), undefined)
    })
  })
}

test('redis holds the bytes themselves: no base64 or JSON inflation of binary fields', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('raw'), buildId: 'b1' }
  const Handler = api.createHandler(options)
  const rsc = bytes(100_000, 77)
  const seg = bytes(50_000, 78)
  const value = {
    kind: 'APP_PAGE',
    html: '<html></html>',
    rscData: rsc,
    headers: { 'x-next-cache-tags': 'a,b' },
    postponed: undefined,
    status: 200,
    segmentData: new Map([['/_full', seg]]),
  }
  await new Handler({}).set('/raw', value, { cacheControl: { revalidate: 60, expire: 600 } })
  // The entry (the fleet's keys, written at the first call, are not entries).
  const [key] = await redis.cmd('KEYS', `${options.prefix}e:*`)
  const stored = await redis.raw('GET', key)
  assert.ok(stored.indexOf(rsc) > 0, 'rscData stored verbatim')
  assert.ok(stored.indexOf(seg) > 0, 'segment stored verbatim')
  assert.ok(stored.length < rsc.length + seg.length + 2048, `stored ${stored.length} bytes for ${rsc.length + seg.length} bytes of binary`)
})
