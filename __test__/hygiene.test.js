'use strict'
// Process hygiene: nothing keeps Node alive, and worker threads can be terminated while a
// call is in flight without crashing the process (see research/napi-redis.md §1.10).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { runNode } = require('./helpers/common')
const { redisSuite, LIB } = require('./helpers/suite')

const { redis } = redisSuite({ lib: false })

const run = runNode

test('a process that used the handler (Redis, L1, use-cache) exits on its own without close()', async () => {
  const r = await run(`
    const api = require(${JSON.stringify(LIB)})
    const opts = { redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'hyg:' }
    const H = api.createHandler(opts)
    const U = api.createUseCacheHandler(opts)
    ;(async () => {
      const h = new H({})
      await h.set('/a', { kind: 'APP_ROUTE', body: Buffer.from('x'), status: 200, headers: {} }, { revalidate: 60 })
      await h.get('/a', { kind: 'APP_ROUTE' })
      await h.get('/a', { kind: 'APP_ROUTE' })
      await h.revalidateTag('t')
      await U.refreshTags()
      console.log('done', api.stats(opts).l1Hits)
    })()
  `)
  assert.equal(r.signal, null, `killed after ${r.ms} ms: something kept Node alive\n${r.out}`)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /done [12]\b/, 'the L1 served the repeated read')
})

test('a process whose Redis is down also exits on its own', async () => {
  const r = await run(`
    const api = require(${JSON.stringify(LIB)})
    const H = api.createHandler({ redisUrl: 'redis://127.0.0.1:1', prefix: 'hyg:', timeoutMs: 200, connectTimeoutMs: 200 })
    ;(async () => {
      console.log('get', await new H({}).get('/a', { kind: 'APP_ROUTE' }))
      await new H({}).revalidateTag('t').catch((e) => console.log('rejected', e.code))
    })()
  `)
  assert.equal(r.signal, null, `killed after ${r.ms} ms\n${r.out}`)
  assert.match(r.out, /get null/)
  assert.match(r.out, /rejected ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)/)
})

test('worker threads terminated mid-call, again and again, never crash the process', async () => {
  const r = await run(
    `
    const { Worker } = require('node:worker_threads')
    const src = \`
      const api = require(${JSON.stringify(LIB)})
      // Workers die holding regeneration leases; their successors take them over after a short
      // wait (the default 3 s per worker would only make the test slow, not the addon unsafe).
      const H = api.createHandler({ redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'hygw:', leaseWaitMs: 50 })
      const big = { kind: 'APP_ROUTE', body: Buffer.alloc(256 * 1024, 7), status: 200, headers: { 'x-next-cache-tags': 't' } }
      ;(async () => {
        for (;;) {
          const h = new H({})
          await Promise.all([h.set('/w', big, { revalidate: 60 }), h.get('/w', { kind: 'APP_ROUTE' }), h.revalidateTag('t'), h.get('/w', { kind: 'APP_ROUTE' })])
          require('node:worker_threads').parentPort.postMessage('tick')
        }
      })()
    \`
    ;(async () => {
      for (let i = 0; i < 25; i++) {
        const w = new Worker(src, { eval: true })
        await new Promise((r) => w.once('message', r))
        await new Promise((r) => setTimeout(r, Math.random() * 20))
        await w.terminate()
      }
      // The main thread can still use the addon after all that.
      const api = require(${JSON.stringify(LIB)})
      const H = api.createHandler({ redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'hygm:' })
      await new H({}).set('/m', { kind: 'APP_ROUTE', body: Buffer.from('ok'), status: 200, headers: {} }, { revalidate: 60 })
      console.log('main', (await new H({}).get('/m', { kind: 'APP_ROUTE' })).value.body.toString())
    })()
  `,
    60_000,
  )
  assert.equal(r.signal, null, `signal ${r.signal}\n${r.out.slice(-2000)}`)
  assert.equal(r.code, 0, r.out.slice(-2000))
  assert.match(r.out, /main ok/)
})
