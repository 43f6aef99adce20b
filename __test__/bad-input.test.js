'use strict'
// Bytes are planted with raw SETs from the test's own client; the L1 (which would learn of
// them by a push a moment later) is off, since these tests are about reading bad bytes.
// Corrupt or foreign bytes under our keys, other format versions, huge values, values over
// the limit, and awkward keys: each is a clean miss or a clean round trip, never a throw.

const { describe, test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, captureConsole, fixCrc, assertLossless } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { bytes, fetchKey, versions } = require('./helpers/values')

const { api, redis } = redisSuite()
const { encodeValue } = require('../lib/codec')

const PAGE = versions()['16'].values.APP_PAGE.value
const PAGE_CTX = { kind: 'APP_PAGE', isFallback: false }
const SET_CTX = { cacheControl: { revalidate: 60, expire: 3600 }, isRoutePPREnabled: false, isFallback: false }
const FETCH = { kind: 'FETCH', data: { headers: { a: 'b' }, body: 'eyJ4IjoxfQ==', url: 'https://x' }, revalidate: 60 }
const FETCH_GET = { kind: 'FETCH', revalidate: 60, tags: [], softTags: [] }

/** Sets a real entry and returns its Redis key and raw bytes. */
async function realEntry(options, key = '/victim', value = PAGE) {
  const H = api.createHandler(options)
  await new H({}).set(key, value, SET_CTX)
  const keys = await redis.cmd('KEYS', `${options.prefix}*`)
  const redisKey = keys.find((k) => k.endsWith(key))
  assert.ok(redisKey, `found ${key} in ${keys}`)
  const raw = await redis.raw('GET', redisKey)
  assert.ok(Buffer.isBuffer(raw) && raw.length > 100)
  return { H, redisKey, raw }
}

describe('foreign or damaged bytes under our key are a miss', () => {
  const forge = {
    garbage: () => bytes(777, 99),
    'empty string': () => Buffer.alloc(0),
    'JSON like other handlers write': () =>
      Buffer.from(
        JSON.stringify({
          value: { kind: 'APP_PAGE', html: '<html>', rscData: { type: 'Buffer', data: [1, 2] } },
          lastModified: Date.now(),
          tags: [],
        }),
      ),
    'plain text': () => Buffer.from('hello'),
    'truncated copy of a real entry': (raw) => raw.subarray(0, Math.floor(raw.length / 2)),
    'real entry minus its last byte': (raw) => raw.subarray(0, raw.length - 1),
    'real entry plus one byte': (raw) => Buffer.concat([raw, Buffer.from([0])]),
    'one payload byte flipped': (raw) => {
      const b = Buffer.from(raw)
      b[Math.floor(b.length * 0.75)] ^= 0x10
      return b
    },
    'one header byte flipped': (raw) => {
      const b = Buffer.from(raw)
      b[9] ^= 0x01 // inside lastModified
      return b
    },
    'envelope of another format version (checksum fixed)': (raw) => {
      const b = Buffer.from(raw)
      b[4] = 2
      return fixCrc(b)
    },
    'envelope with unknown flags (checksum fixed)': (raw) => {
      const b = Buffer.from(raw)
      b[5] |= 0x80 // bit 0 means "compressed"; the others are unassigned
      return fixCrc(b)
    },
  }

  for (const [name, make] of Object.entries(forge)) {
    test(name, async () => {
      const options = { redisUrl: redis.url, prefix: uniquePrefix('bad'), buildId: 'bad', l1MaxBytes: 0 }
      const { H, redisKey, raw } = await realEntry(options)
      await redis.raw('SET', redisKey, make(raw))
      const before = api.stats(options)
      const cap = captureConsole()
      let hit
      try {
        hit = await new H({}).get('/victim', PAGE_CTX)
      } finally {
        cap.restore()
      }
      assert.equal(hit, null)
      const after = api.stats(options)
      assert.equal(after.corrupt - before.corrupt, 1, 'counted as corrupt')
      assert.equal(after.hits, before.hits, 'not counted as a hit')
      // A regeneration overwrites it and all is well again.
      await new H({}).set('/victim', PAGE, SET_CTX)
      assertLossless((await new H({}).get('/victim', PAGE_CTX)).value, PAGE)
    })
  }

  test('a valid envelope whose payload is another codec version (a newer shared-isr) is a miss, counted as corrupt', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('badv'), buildId: 'bad', l1MaxBytes: 0 }
    // Small enough to be stored uncompressed, so the payload can be edited in place.
    const small = { kind: 'APP_ROUTE', body: Buffer.from('tiny'), status: 200, headers: {} }
    const { H, redisKey, raw } = await realEntry(options, '/victim', small)
    assert.equal(raw[5], 0, 'stored uncompressed')
    // Envelope layout: 42 fixed bytes (tag count at 40), tags (u16 len + bytes each), u32 payload length, payload, CRC.
    let at = 40
    const count = raw.readUInt16LE(at)
    at += 2
    for (let i = 0; i < count; i++) at += 2 + raw.readUInt16LE(at)
    const payloadLen = raw.readUInt32LE(at)
    at += 4
    const payload = raw.subarray(at, at + payloadLen)
    assert.equal(at + payloadLen + 4, raw.length, 'parsed the envelope')
    const metaLen = payload.readUInt32LE(0)
    const meta = JSON.parse(payload.toString('utf8', 4, 4 + metaLen))
    assert.equal(meta.f, 1)
    const newMeta = Buffer.from(JSON.stringify({ ...meta, f: 2 }))
    const newPayload = Buffer.concat([Buffer.alloc(4), newMeta, payload.subarray(4 + metaLen)])
    newPayload.writeUInt32LE(newMeta.length, 0)
    const head = Buffer.from(raw.subarray(0, at))
    head.writeUInt32LE(newPayload.length, at - 4)
    await redis.raw('SET', redisKey, fixCrc(Buffer.concat([head, newPayload, Buffer.alloc(4)])))

    const before = api.stats(options)
    const cap = captureConsole()
    let hit
    try {
      hit = await new H({}).get('/victim', PAGE_CTX)
    } finally {
      cap.restore()
    }
    assert.equal(hit, null, 'a miss, not garbage')
    const after = api.stats(options)
    assert.equal(after.corrupt - before.corrupt, 1, 'stats().corrupt counts entries that could not be decoded')
  })

  test('reading a corrupt entry again and again among healthy traffic does not log per read', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('badlog'), buildId: 'bad', l1MaxBytes: 0 }
    const { H, redisKey } = await realEntry(options)
    await new H({}).set('/fine', PAGE, SET_CTX)
    await redis.raw('SET', redisKey, bytes(300, 5))
    const cap = captureConsole()
    try {
      for (let i = 0; i < 5; i++) {
        assert.equal(await new H({}).get('/victim', PAGE_CTX), null)
        assert.ok(await new H({}).get('/fine', PAGE_CTX))
      }
    } finally {
      cap.restore()
    }
    const lines = cap.all().filter((l) => l.includes('[shared-isr]'))
    assert.ok(lines.length <= 1, `Redis stayed healthy the whole time; got ${lines.length} lines:\n${lines.join('\n')}`)
    assert.equal(api.stats(options).corrupt, 5)
  })

  test('a non-string Redis type under our key (WRONGTYPE) is a miss, not a throw', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('badt'), buildId: 'bad', l1MaxBytes: 0 }
    const { H, redisKey } = await realEntry(options)
    await redis.cmd('DEL', redisKey)
    await redis.cmd('HSET', redisKey, 'a', 'b')
    const cap = captureConsole()
    try {
      assert.equal(await new H({}).get('/victim', PAGE_CTX), null)
    } finally {
      cap.restore()
    }
  })

  test('a page value under a fetch key (or vice versa) is a miss', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('badk'), buildId: 'bad', l1MaxBytes: 0 }
    const H = api.createHandler(options)
    await new H({}).set(fetchKey('mixed'), FETCH, { fetchCache: true, tags: [] })
    const keys = await redis.cmd('KEYS', `${options.prefix}e:*`) // the entry (the fleet's keys are not)
    const { raw } = await realEntry(options, '/page-bytes')
    await redis.raw('SET', keys[0], raw)
    assert.equal(await new H({}).get(fetchKey('mixed'), FETCH_GET), null)
  })
})

describe('sizes', () => {
  test('a 20 MB value round-trips through Redis and the memory store', async () => {
    const big = {
      kind: 'APP_PAGE',
      html: '<html>' + 'ü'.repeat(2 * 1024 * 1024) + '</html>',
      rscData: bytes(12 * 1024 * 1024, 21),
      headers: { 'x-next-cache-tags': 'big' },
      postponed: undefined,
      status: 200,
      segmentData: new Map([['/_full', bytes(4 * 1024 * 1024, 22)]]),
    }
    assert.ok(encodeValue(big).length > 20 * 1024 * 1024)
    for (const options of [
      { redisUrl: redis.url, prefix: uniquePrefix('big'), buildId: 'b', timeoutMs: 20_000 },
      { prefix: uniquePrefix('bigm'), buildId: 'b' },
    ]) {
      const H = api.createHandler(options)
      await new H({}).set('/big', big, SET_CTX)
      const hit = await new H({}).get('/big', PAGE_CTX)
      assert.ok(hit, `${options.redisUrl ? 'redis' : 'memory'}: hit`)
      assertLossless(hit.value, big)
      assert.equal(api.stats(options).setErrors, 0)
    }
  })

  test('a value over maxValueBytes is refused: set resolves, get misses, counted and logged', async () => {
    const options = { redisUrl: redis.url, prefix: uniquePrefix('max'), buildId: 'b', maxValueBytes: 64 * 1024 }
    const H = api.createHandler(options)
    const small = { kind: 'APP_ROUTE', body: bytes(1000, 1), status: 200, headers: {} }
    const large = { kind: 'APP_ROUTE', body: bytes(100 * 1024, 2), status: 200, headers: {} }
    const cap = captureConsole()
    try {
      await new H({}).set('/small', small, SET_CTX)
      await new H({}).set('/large', large, SET_CTX) // must resolve
    } finally {
      cap.restore()
    }
    assert.ok(await new H({}).get('/small', { kind: 'APP_ROUTE' }))
    assert.equal(await new H({}).get('/large', { kind: 'APP_ROUTE' }), null)
    assert.equal(api.stats(options).setErrors, 1)
    assert.equal((await redis.cmd('KEYS', `${options.prefix}*`)).filter((k) => k.endsWith('/large')).length, 0, 'nothing written')
    const w = cap.lines.warn.filter((l) => l.includes('[shared-isr]'))
    assert.equal(w.length, 1)
    assert.match(w[0], /ERR_SHARED_ISR_TOO_LARGE/)

    const mem = { prefix: uniquePrefix('maxm'), maxValueBytes: 64 * 1024 }
    const M = api.createHandler(mem)
    const cap2 = captureConsole()
    try {
      await new M({}).set('/large', large, SET_CTX)
    } finally {
      cap2.restore()
    }
    assert.equal(await new M({}).get('/large', { kind: 'APP_ROUTE' }), null)
    assert.equal(api.stats(mem).setErrors, 1)
  })

  test('the memory store stays within memoryMaxBytes, evicting least recently used entries', async () => {
    const options = { prefix: uniquePrefix('lru'), memoryMaxBytes: 64 * 1024 }
    const H = api.createHandler(options)
    for (let i = 0; i < 100; i++)
      await new H({}).set(`/lru/${i}`, { kind: 'APP_ROUTE', body: bytes(2000, i + 1), status: 200, headers: {} }, SET_CTX)
    const s = api.stats(options)
    assert.ok(s.memoryBytes <= 64 * 1024, `memoryBytes ${s.memoryBytes}`)
    assert.ok(s.memoryEntries > 10 && s.memoryEntries < 100, `entries ${s.memoryEntries}`)
    assert.equal(await new H({}).get('/lru/0', { kind: 'APP_ROUTE' }), null, 'oldest evicted')
    assert.ok((await new H({}).get('/lru/99', { kind: 'APP_ROUTE' })).value.body.equals(bytes(2000, 100)), 'newest kept')
  })
})

describe('awkward keys round-trip and never collide', () => {
  const keys = [
    '/blog/[slug]',
    '/blog/[[...catchall]]',
    '/route-cache/APP_PAGE/088d2957a1c2b3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbcc/$/closed/a',
    '/route-cache/PAGES/de6be4d4/$/pt/[id]',
    '/$/$$/$1',
    '/with space/and+plus',
    '/with%20space/and+plus',
    '/ünï/東京/🚀',
    '/%C3%BCn%C3%AF',
    '/{hashtag}/x',
    '/a}b{c',
    '/a:b:c',
    '/*?[glob]',
    '/line\nbreak\ttab',
    '/UPPER',
    '/upper',
    '/trailing/',
    '/trailing',
    'x'.repeat(2048),
    'x'.repeat(2047) + 'y',
    '/' + 'é'.repeat(1024),
  ]

  for (const backend of ['redis', 'memory']) {
    test(`${backend}: ${keys.length} keys, page and fetch namespaces`, async () => {
      const options =
        backend === 'redis'
          ? { redisUrl: redis.url, prefix: uniquePrefix('keys'), buildId: 'k' }
          : { prefix: uniquePrefix('keysm'), buildId: 'k' }
      const H = api.createHandler(options)
      for (const [i, key] of keys.entries()) {
        await new H({}).set(
          key,
          { kind: 'APP_ROUTE', body: Buffer.from(`page ${i}`), status: 200, headers: { 'x-next-cache-tags': `tag-${i}` } },
          SET_CTX,
        )
        await new H({}).set(key, { ...FETCH, data: { ...FETCH.data, body: `fetch ${i}` } }, { fetchCache: true, tags: [`ftag-${i}`] })
      }
      for (const [i, key] of keys.entries()) {
        const page = await new H({}).get(key, { kind: 'APP_ROUTE' })
        assert.equal(page?.value?.body?.toString(), `page ${i}`, JSON.stringify(key))
        const f = await new H({}).get(key, FETCH_GET)
        assert.equal(f?.value?.data?.body, `fetch ${i}`, JSON.stringify(key))
      }
      if (backend === 'redis') {
        // Entries only: the fleet's keys (written from the first call) are not entries.
        const stored = await redis.cmd('KEYS', `${options.prefix}e:*`)
        assert.equal(stored.length, keys.length * 2, 'one Redis key per entry')
      }
      // Revalidating one awkward tag touches only its entry.
      await new Promise((r) => setTimeout(r, 2))
      await new H({}).revalidateTag(['tag-7', 'ftag-7', 'ünï/[slug] $'])
      for (const [i, key] of keys.entries()) {
        const page = await new H({}).get(key, { kind: 'APP_ROUTE' })
        assert.equal(page === null, i === 7, JSON.stringify(key))
      }
    })
  }
})
