'use strict'
// Lifetimes (spec §1.5, §1.8): cacheControl stored and returned, the "fresh -> lastModified = now"
// rule for instances that did not render a path, and Redis TTL from `expire`, never `revalidate`.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, sleep } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { fetchKey } = require('./helpers/values')

const { api, redis } = redisSuite()

const YEAR_MS = 31536000 * 1000
const route = (s = 'x') => ({ kind: 'APP_ROUTE', body: Buffer.from(s), status: 200, headers: {} })
const ROUTE_CTX = { kind: 'APP_ROUTE', isFallback: false }
const fetchValue = (revalidate = 30) => ({ kind: 'FETCH', data: { headers: {}, body: 'eA==', url: '' }, revalidate })

const backends = {
  memory: () => ({ prefix: uniquePrefix('mem'), buildId: 'life' }),
  redis: () => ({ redisUrl: redis.url, prefix: uniquePrefix('red'), buildId: 'life' }),
}

/** The Redis key of a page entry (layout documented in docs/ARCHITECTURE.md). */
const pageKey = (options, key) => `${options.prefix}e:p:${options.buildId}:${key}`
const fetchRedisKey = (options, key) => `${options.prefix}e:f:${key}`

for (const [backend, optionsFor] of Object.entries(backends)) {
  describe(`${backend} store`, () => {
    test('get returns cacheControl as stored, for every set ctx shape', async () => {
      const H = api.createHandler(optionsFor())
      const cases = [
        [
          '16 / 15.2+',
          { cacheControl: { revalidate: 60, expire: 3600 }, isRoutePPREnabled: false, isFallback: false },
          { revalidate: 60, expire: 3600 },
        ],
        [
          'never revalidates',
          { cacheControl: { revalidate: false, expire: 31536000 }, isRoutePPREnabled: false, isFallback: false },
          { revalidate: false, expire: 31536000 },
        ],
        ['cacheControl without expire', { cacheControl: { revalidate: 5, expire: undefined } }, { revalidate: 5, expire: undefined }],
        ['15.0-15.1', { revalidate: 30, isRoutePPREnabled: false, isFallback: false }, { revalidate: 30, expire: undefined }],
        ['14.2', { revalidate: 0 }, { revalidate: 0, expire: undefined }],
        ['14.2 revalidate false', { revalidate: false }, { revalidate: false, expire: undefined }],
      ]
      for (const [name, setCtx, expected] of cases) {
        await new H({}).set(`/cc/${name}`, route(name), setCtx)
        const hit = await new H({}).get(`/cc/${name}`, ROUTE_CTX)
        assert.deepEqual(hit.cacheControl, expected, name)
      }
      await new H({}).set('/cc/none', route(), {})
      assert.equal((await new H({}).get('/cc/none', ROUTE_CTX)).cacheControl, undefined, 'nothing known: no cacheControl')
    })

    test('while fresh by its stored revalidate, lastModified is reported as now; after it, the real lastModified', async () => {
      const H = api.createHandler(optionsFor())
      const t0 = Date.now()
      await new H({}).set('/fresh/1s', route(), { cacheControl: { revalidate: 1, expire: 3600 } })
      await new H({}).set('/fresh/never', route(), { cacheControl: { revalidate: false, expire: 3600 } })
      await new H({}).set('/fresh/unknown', route(), {})
      const t1 = Date.now()
      await sleep(20)

      const before = Date.now()
      const hit = await new H({}).get('/fresh/1s', ROUTE_CTX)
      assert.ok(hit.lastModified >= before, 'fresh: reported as just written (Next < 16.4 would assume 1 s otherwise)')
      const never = await new H({}).get('/fresh/never', ROUTE_CTX)
      assert.ok(never.lastModified >= before, 'revalidate false: always fresh')
      const unknown = await new H({}).get('/fresh/unknown', ROUTE_CTX)
      assert.ok(unknown.lastModified >= t0 && unknown.lastModified <= t1, 'unknown lifetime: the real lastModified')

      await sleep(1100)
      const later = await new H({}).get('/fresh/1s', ROUTE_CTX)
      assert.ok(later.lastModified >= t0 && later.lastModified <= t1, `past revalidate: real lastModified (${later.lastModified - t0})`)
      assert.ok(Date.now() - later.lastModified > 1000, 'so that Next sees it as stale')
      assert.equal(later.value.body.toString(), 'x', 'and it is still served (stale-while-revalidate)')
      assert.ok((await new H({}).get('/fresh/never', ROUTE_CTX)).lastModified >= Date.now() - 50)
    })

    test('fetch entries report their real lastModified (Next judges them with ctx.revalidate)', async () => {
      const H = api.createHandler(optionsFor())
      const t0 = Date.now()
      await new H({}).set(fetchKey('lm'), fetchValue(30), { fetchCache: true, tags: [] })
      const t1 = Date.now()
      await sleep(15)
      const hit = await new H({}).get(fetchKey('lm'), { kind: 'FETCH', revalidate: 30, tags: [], softTags: [] })
      assert.ok(hit.lastModified >= t0 && hit.lastModified <= t1)
    })
  })
}

describe('redis TTL', () => {
  test('PTTL comes from expire', async () => {
    const options = backends.redis()
    const H = api.createHandler(options)
    await new H({}).set('/ttl/expire', route(), { cacheControl: { revalidate: 10, expire: 3600 } })
    const pttl = await redis.cmd('PTTL', pageKey(options, '/ttl/expire'))
    assert.ok(pttl > 3590_000 && pttl <= 3600_000, `PTTL ${pttl}`)
  })

  test('without expire the TTL is the default (one year), never revalidate', async () => {
    const options = backends.redis()
    const H = api.createHandler(options)
    await new H({}).set('/ttl/14.2', route(), { revalidate: 5 })
    await new H({}).set('/ttl/false', route(), { cacheControl: { revalidate: false, expire: undefined } })
    await new H({}).set(fetchKey('ttl'), fetchValue(5), { fetchCache: true, revalidate: 5, tags: [] })
    for (const key of [pageKey(options, '/ttl/14.2'), pageKey(options, '/ttl/false'), fetchRedisKey(options, fetchKey('ttl'))]) {
      const pttl = await redis.cmd('PTTL', key)
      assert.ok(pttl > YEAR_MS - 60_000 && pttl <= YEAR_MS, `${key}: PTTL ${pttl}`)
    }
  })

  test('defaultTtlSeconds sets the TTL used when Next gives no expire', async () => {
    const options = { ...backends.redis(), defaultTtlSeconds: 500 }
    const H = api.createHandler(options)
    await new H({}).set('/ttl/default', route(), { revalidate: 5 })
    const pttl = await redis.cmd('PTTL', pageKey(options, '/ttl/default'))
    assert.ok(pttl > 490_000 && pttl <= 500_000, `PTTL ${pttl}`)
  })

  test('an entry outlives its revalidate (so it can be served stale), and dies at expire', async () => {
    const redisOptions = backends.redis()
    const memOptions = backends.memory()
    const R = api.createHandler(redisOptions)
    const M = api.createHandler(memOptions)
    await new R({}).set('/outlive', route('stale but here'), { cacheControl: { revalidate: 1, expire: 3600 } })
    await new M({}).set('/outlive', route('stale but here'), { cacheControl: { revalidate: 1, expire: 3600 } })
    await new M({}).set('/dies', route(), { cacheControl: { revalidate: 1, expire: 1 } })
    await new R({}).set('/dies', route(), { cacheControl: { revalidate: 1, expire: 1 } })
    assert.ok(await new M({}).get('/dies', ROUTE_CTX))
    await sleep(1300)
    assert.equal(await redis.cmd('EXISTS', pageKey(redisOptions, '/outlive')), 1)
    assert.equal((await new R({}).get('/outlive', ROUTE_CTX)).value.body.toString(), 'stale but here')
    assert.equal((await new M({}).get('/outlive', ROUTE_CTX)).value.body.toString(), 'stale but here')
    assert.equal(await new M({}).get('/dies', ROUTE_CTX), null, 'memory store honours expire')
    assert.equal(await new R({}).get('/dies', ROUTE_CTX), null, 'redis honours expire')
  })
})
