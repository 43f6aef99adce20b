'use strict'
// What an adversarial review found (each case failed before its fix): a panic that aborted
// Node, lone-surrogate keys and tags that collided, a decompression bomb, secrets in printable
// objects, glob characters in prefixes, settings that wrapped around or were accepted and then
// failed every write, and error messages that hid later errors or echoed 100k tags.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const util = require('node:util')
const { uniquePrefix, captureConsole, fixCrc, runNode } = require('./helpers/common')
const { freePort } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')

const { api, redis } = redisSuite()
const { encodeValue } = require('../lib/codec')
const { allStores } = require('../lib/store')
const { resolveConfig } = require('../lib/config')
const NATIVE = require.resolve('../lib/native')

const FETCH = (body = 'eA==') => ({ kind: 'FETCH', data: { headers: {}, body, url: 'https://x' }, revalidate: 60 })
const FETCH_GET = (tags = []) => ({ kind: 'FETCH', revalidate: 60, fetchUrl: 'https://x', fetchIdx: 0, tags, softTags: [] })
const FETCH_SET = (tags = []) => ({ fetchCache: true, tags })

test('no input panics: non-ASCII, lone surrogates and NULs into every native entry are JS errors or results, never an abort', async () => {
  const { code, signal, out } = await runNode(`
    const { NativeCache } = require(${JSON.stringify(NATIVE)})
    const odd = ['redis:/éx', 'é', '\\uD800', 'a\\uDC00b', '\\u0000', 'redis://\\uD800:1', 'rediss+cluster://é:1,\\uDFFF', 'redis+sentinel://h:1/é?sentinelPassword=%é', '%'.repeat(3) + 'é']
    let thrown = 0
    const attempt = (f) => { try { const r = f(); if (r && r.catch) r.catch(() => {}) } catch (e) { if (!(e instanceof Error)) throw e; thrown++ } }
    for (const s of odd) {
      attempt(() => new NativeCache({ redisUrl: s }))
      attempt(() => new NativeCache({ prefix: s }))
      attempt(() => new NativeCache({ tlsCaFile: s, redisUrl: 'rediss://h:1' }))
    }
    const c = new NativeCache({ prefix: 'odd:' })
    ;(async () => {
      for (const s of odd) {
        await c.set(s, Buffer.from('v'), { lastModified: 1, tags: [s] }).catch(() => {})
        await c.get(s, [s]).catch(() => {})
        c.isValid(s, 1); c.judge([s], 1)
        await c.judgeTags([s], 1); await c.revalidateTags([s]).catch(() => {}); await c.tagExpiration([s])
      }
      console.log('survived, thrown ' + thrown)
    })()
  `)
  assert.equal(signal, null, out)
  assert.equal(code, 0, out)
  assert.match(out, /survived/)
  assert.doesNotMatch(out, /panicked/)
})

for (const [name, options] of [
  ['memory', () => ({ prefix: uniquePrefix('sur') })],
  ['redis', () => ({ redisUrl: redis.url, prefix: uniquePrefix('sur') })],
]) {
  describe(`${name} store: lone UTF-16 surrogates keep keys and tags apart`, () => {
    test('keys that differ only in a lone surrogate are different entries', async () => {
      const H = api.createHandler(options())
      await new H({}).set('/s\uD800', FETCH('QQ=='), FETCH_SET())
      for (const other of ['/s\uDC00', '/s\uDBFF', '/s\uFFFD', `\uFFFF${Buffer.from('/s\uD800', 'utf16le').toString('hex')}`]) {
        assert.equal(await new H({}).get(other, FETCH_GET()), null, `${JSON.stringify(other)} was never written`)
      }
      await new H({}).set('/s\uFFFD', FETCH('Qg=='), FETCH_SET())
      assert.equal((await new H({}).get('/s\uD800', FETCH_GET())).value.data.body, 'QQ==')
      assert.equal((await new H({}).get('/s\uFFFD', FETCH_GET())).value.data.body, 'Qg==')
    })

    test('tags that differ only in a lone surrogate revalidate only themselves', async () => {
      const o = options()
      const H = api.createHandler(o)
      await new H({}).set('k', FETCH(), FETCH_SET(['\uD800']))
      await new Promise((r) => setTimeout(r, 5))
      await api.revalidateTags(['\uDC00', '\uFFFD'], undefined, o)
      assert.ok(await new H({}).get('k', FETCH_GET(['\uD800'])), 'other tags left it alone')
      await api.revalidateTags(['\uD800'], undefined, o)
      assert.equal(await new H({}).get('k', FETCH_GET(['\uD800'])), null)
    })
  })
}

test('a decompression bomb under our key is a quick miss, never 4 MiB of JSON to parse', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('bomb'), l1MaxBytes: 0 }
  const H = api.createHandler(options)
  // LZ4 block: 3 literals `[],`, then one match (offset 3) repeating them for 4 MiB, then the 5
  // literals a block must end with: ~16 KB that expand 256x.
  const n = 4 << 20
  const extra = n - 4 - 15
  const block = Buffer.concat([
    Buffer.from([0x3f]),
    Buffer.from('[],'),
    Buffer.from([3, 0]),
    Buffer.alloc(Math.floor(extra / 255), 255),
    Buffer.from([extra % 255]),
    Buffer.from([0x50]),
    Buffer.from('[],[]'),
  ])
  const orig = 3 + n + 5
  const section = Buffer.concat([Buffer.alloc(4), block])
  section.writeUInt32LE(orig, 0)
  const head = Buffer.alloc(42)
  head.write('SISR', 0)
  head[4] = 1
  head[5] = 1 // compressed
  head.writeBigUInt64LE(7n, 8)
  head.writeDoubleLE(Date.now(), 16)
  const len = Buffer.alloc(4)
  len.writeUInt32LE(section.length, 0)
  await redis.raw('SET', `${options.prefix}e:f:bomb`, fixCrc(Buffer.concat([head, len, section, Buffer.alloc(4)])))
  const log = captureConsole()
  const t0 = Date.now()
  let hit
  try {
    hit = await new H({}).get('bomb', FETCH_GET())
  } finally {
    log.restore()
  }
  assert.equal(hit, null)
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`)
  assert.match(log.all().join('\n'), /expand/)
  assert.ok(api.stats(options).corrupt >= 1)
})

test('the L1 counts what a decoded value costs, not its encoded size', async () => {
  const budget = 2 << 20
  const options = { redisUrl: redis.url, prefix: uniquePrefix('cost'), l1MaxBytes: budget }
  const H = api.createHandler(options)
  // 600 KB of meta JSON (Pages Router props kept inline): counted as several times that.
  const value = { kind: 'PAGES', html: '<p>x</p>', pageData: { list: Array.from({ length: 200_000 }, () => []) }, headers: {}, status: 200 }
  const encoded = encodeValue(value)
  assert.ok(encoded.length < budget / 2, `${encoded.length} bytes encoded`)
  await new H({}).set('/props', value, { revalidate: 60 })
  const stats = api.stats(options)
  assert.equal(stats.l1Entries, 0, `a value costing more than the budget decoded is not kept (${stats.l1Bytes} bytes counted)`)
  await new H({}).set('/small', { ...value, pageData: { list: [] } }, { revalidate: 60 })
  assert.equal(api.stats(options).l1Entries, 1)
})

test('no password in anything printable: inspect and JSON of stores, configs and the registry', async () => {
  const redisUrl = `redis://user:hunter2@127.0.0.1:${redis.port}`
  const sentinel = 'redis+sentinel://127.0.0.1:1/mymaster?sentinelPassword=swordfish'
  api.createHandler({ redisUrl, prefix: uniquePrefix('sec') })
  api.stats({ redisUrl, prefix: uniquePrefix('sec') })
  const seen = [
    util.inspect(allStores(), { depth: 10 }),
    JSON.stringify(allStores()),
    util.inspect(resolveConfig({ redisUrl })),
    JSON.stringify(resolveConfig({ redisUrl })),
    util.inspect(resolveConfig({ redisUrl: sentinel })),
    util.inspect(globalThis[Symbol.for('shared-isr.registry')], { depth: 10 }),
  ].join('\n')
  assert.doesNotMatch(seen, /hunter2|swordfish/)
  assert.match(seen, /user:\*\*\*@|\*\*\*@/)
  // Two passwords are still two stores.
  const a = api.stats({ redisUrl: `redis://u:one@127.0.0.1:${redis.port}`, prefix: 'same:' })
  const b = api.stats({ redisUrl: `redis://u:two@127.0.0.1:${redis.port}`, prefix: 'same:' })
  assert.equal(a.store, 'redis')
  assert.equal(b.store, 'redis')
  assert.equal(allStores().filter((s) => s.config.prefix === 'same:').length, 2)
})

describe('settings refused with ERR_SHARED_ISR_CONFIG instead of misbehaving later', () => {
  const refused = (options, what) => {
    assert.throws(
      () => api.stats({ redisUrl: redis.url, ...options }),
      (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && what.test(err.message),
      JSON.stringify(options),
    )
  }
  test('glob characters in the prefix (the ACL pattern would match other apps, or refuse ours)', () => {
    for (const prefix of ['app[12]:', 'app?:', 'a*', 'a\\b']) refused({ prefix }, /glob/)
  })
  test('timeouts past 32 bits (they wrapped: 2^32+5 ms became 5 ms) and other out-of-range values', () => {
    refused({ prefix: 'r:', timeoutMs: 2 ** 32 + 5 }, /timeoutMs/)
    refused({ prefix: 'r:', connectTimeoutMs: 2 ** 32 }, /connectTimeoutMs/)
    refused({ prefix: 'r:', maxStalenessMs: 2 ** 40 }, /maxStalenessMs/)
    refused({ prefix: 'r:', defaultTtlSeconds: 1e17 }, /defaultTtlSeconds/)
    assert.throws(
      () => api.stats({ redisUrl: 'redis://127.0.0.1:0' }),
      (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && /port 0/.test(err.message),
    )
  })
})

test("an `expire` from Next beyond any TTL Redis takes (1e17 s) is stored with the retention's TTL, not refused at every write", async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('ttl') }
  const H = api.createHandler(options)
  const page = {
    kind: 'APP_PAGE',
    html: '<p>x</p>',
    rscData: Buffer.from('r'),
    headers: {},
    status: 200,
    postponed: undefined,
    segmentData: undefined,
  }
  await new H({}).set('/huge-expire', page, { cacheControl: { revalidate: 60, expire: 1e17 }, isRoutePPREnabled: false, isFallback: false })
  assert.equal(api.stats(options).setErrors, 0)
  const key = (await redis.cmd('KEYS', `${options.prefix}e:*`))[0]
  const ttl = Number(await redis.cmd('TTL', key))
  assert.ok(ttl > 0 && ttl <= 31_536_000, `TTL ${ttl} s`)
  assert.ok(await new H({}).get('/huge-expire', { kind: 'APP_PAGE', isFallback: false }))
})

test('per-key failures never hide the store failing later, and a failed bulk revalidation does not echo every tag', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('err'), maxValueBytes: 1000 }
  const H = api.createHandler(options)
  const log = captureConsole()
  try {
    await new H({}).set('/big', FETCH('x'.repeat(5000)), FETCH_SET())
    await new H({}).set('/big', FETCH('x'.repeat(5000)), FETCH_SET())
    const down = { ...options, redisUrl: `redis://127.0.0.1:${await freePort()}`, timeoutMs: 200, connectTimeoutMs: 200 }
    const D = api.createHandler(down)
    await new D({}).set('/big', FETCH('x'.repeat(5000)), FETCH_SET())
    await new D({}).set('/k', FETCH(), FETCH_SET())
    const tags = Array.from({ length: 100_000 }, (_, i) => `tag-${i}`)
    const err = await api.revalidateTags(tags, undefined, down).then(
      () => null,
      (e) => e,
    )
    assert.ok(api.isSharedIsrError(err), `typed: ${err?.code}`)
    assert.ok(!api.isSharedIsrError(new Error('other')) && !api.isSharedIsrError(undefined))
    assert.ok(err.message.length < 1000, `${err.message.length} characters`)
    assert.match(err.message, /99995 more/)
  } finally {
    log.restore()
  }
  const text = log.all().join('\n')
  assert.match(text, /ERR_SHARED_ISR_TOO_LARGE/)
  assert.match(text, /(set|revalidateTag) failed \(ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)\)/, 'the outage is logged after the per-key error')
  assert.equal(text.match(/\/big/g).length, 2, 'one line per key and store: not repeated')
})
