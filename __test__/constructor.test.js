'use strict'
// Next constructs the handler for every request: the constructor must do no I/O, and every
// instance must share the process-wide connection.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, makeBuildDir, sleep, timed } = require('./helpers/common')
const { startBlackHole } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')

const { api, redis } = redisSuite()

test('constructing 10k handlers opens no connection', async () => {
  const serverDistDir = makeBuildDir('ctor')
  const before = await redis.clientCount()
  const H = api.createHandler({ redisUrl: redis.url, prefix: uniquePrefix('ctor') })
  const handlers = []
  for (let i = 0; i < 10_000; i++) handlers.push(new H({ serverDistDir, dev: false, _requestHeaders: {}, revalidatedTags: [] }))
  await sleep(200)
  assert.equal(await redis.clientCount(), before, 'no client connected')
  assert.equal(handlers.length, 10_000)
})

test('construction against an address that never answers touches nothing and does not wait', async () => {
  const hole = await startBlackHole()
  try {
    const H = api.createHandler({ redisUrl: hole.url, prefix: uniquePrefix('ctorbh'), timeoutMs: 5000, connectTimeoutMs: 5000 })
    const [, ms] = await timed(async () => {
      for (let i = 0; i < 10_000; i++) new H({})
    })
    await sleep(200)
    assert.equal(hole.connections(), 0, 'no connection attempt')
    assert.ok(ms < 5000, `10k constructions took ${ms.toFixed(0)} ms, far from any network timeout`)
  } finally {
    await hole.close()
  }
})

test('the connection is process-wide: many handler instances and stores share it', async () => {
  const base = await redis.clientCount()
  const prefixA = uniquePrefix('shareA')
  const A = api.createHandler({ redisUrl: redis.url, prefix: prefixA })
  const B = api.createHandler({ redisUrl: redis.url, prefix: uniquePrefix('shareB') }) // same URL, other app
  await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const H = i % 2 ? A : B
      await new H({}).set(`/s/${i}`, { kind: 'APP_ROUTE', body: Buffer.from(String(i)), status: 200, headers: {} }, { revalidate: 60 })
      await new H({}).get(`/s/${i}`, { kind: 'APP_ROUTE' })
    }),
  )
  await new A({}).revalidateTag('t')
  const used = (await redis.clientCount()) - base
  assert.ok(used >= 1 && used <= 2, `connections opened by 600 handler instances: ${used}`)
})
