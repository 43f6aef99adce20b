'use strict'
// Process hygiene: nothing keeps Node alive, and worker threads can be terminated while a
// call is in flight without crashing the process (see research/napi-redis.md §1.10).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { runNode, waitFor, sleep } = require('./helpers/common')
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

test('a call in flight keeps the process alive until it settles, and not a moment longer', async () => {
  // Redis hangs (SIGSTOP) while the call is in flight: nothing but the call itself can keep the
  // child's event loop alive (the connection lives on the addon's own thread), so without the
  // bridge holding a reference for it the child would exit before printing.
  const child = run(`
    const api = require(${JSON.stringify(LIB)})
    const H = api.createHandler({ redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'hygf:', timeoutMs: 5000, l1MaxBytes: 0 })
    const h = new H({})
    h.set('/f', { kind: 'APP_ROUTE', body: Buffer.from('flight'), status: 200, headers: {} }, { revalidate: 60 }).then(async () => {
      const t0 = Date.now()
      const hit = await h.get('/f', { kind: 'APP_ROUTE' })
      console.log('settled', hit.value.body.toString(), Date.now() - t0 >= 300)
    })
  `)
  // Stop Redis once the entry is stored, resume it 600 ms later.
  await waitFor(async () => (await redis.cmd('KEYS', 'hygf:e:*')).length === 1, { what: 'the entry stored', intervalMs: 5 })
  redis.proc.kill('SIGSTOP')
  await sleep(600)
  redis.proc.kill('SIGCONT')
  const r = await child
  assert.equal(r.signal, null, `killed after ${r.ms} ms\n${r.out}`)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /settled flight/, `the process exited with a call in flight\n${r.out}`)
})

test('calls from the main thread and from workers at once each settle in their own thread, with their own values', async () => {
  const r = await run(
    `
    const { Worker } = require('node:worker_threads')
    // One thread's share: 400 set/get pairs at once, values of its own; how many came back wrong.
    const work = async (who) => {
      const api = require(${JSON.stringify(LIB)})
      const H = api.createHandler({ redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'hygt:', l1MaxBytes: 0 })
      const h = new H({})
      const body = (i) => Buffer.from(who + ':' + i + ':' + 'x'.repeat(i % 97))
      let bad = 0
      await Promise.all(Array.from({ length: 400 }, async (_, i) => {
        await h.set('/' + who + '/' + i, { kind: 'APP_ROUTE', body: body(i), status: 200, headers: {} }, { revalidate: 60 })
        const hit = await h.get('/' + who + '/' + i, { kind: 'APP_ROUTE' })
        if (!hit || !hit.value.body.equals(body(i))) bad++
      }))
      return bad
    }
    const src = (who) => \`
      const work = \${work.toString()}
      work('\${who}').then((bad) => require('node:worker_threads').parentPort.postMessage(bad))
    \`
    ;(async () => {
      const workers = ['w1', 'w2'].map((w) => new Worker(src(w), { eval: true }))
      const fromWorkers = workers.map((w) => new Promise((r) => w.once('message', r)))
      const bad = await work('main')
      console.log('bad', bad, ...(await Promise.all(fromWorkers)))
      await Promise.all(workers.map((w) => w.terminate()))
    })()
  `,
    60_000,
  )
  assert.equal(r.signal, null, `killed after ${r.ms} ms\n${r.out}`)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /bad 0 0 0\b/, r.out)
})
