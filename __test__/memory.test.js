'use strict'
// Memory: the L1 stays inside its byte budget under churn, and a long run of requests does
// not grow the process (RSS and heap measured after GC, in a child with --expose-gc).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const { uniquePrefix } = require('./helpers/common')
const { redisSuite, LIB } = require('./helpers/suite')

const { api, redis } = redisSuite()

test('the L1 never holds more than its byte budget, whatever the churn', async (t) => {
  const budget = 4 * 1024 * 1024
  const options = { redisUrl: redis.url, prefix: uniquePrefix('mem'), buildId: 'm', l1MaxBytes: budget }
  const H = api.createHandler(options)
  let peak = 0
  for (let i = 0; i < 400; i++) {
    const body = Buffer.alloc(100 * 1024 + (i % 7) * 1000, i & 255)
    await new H({}).set(`/churn/${i}`, { kind: 'APP_ROUTE', body, status: 200, headers: {} }, { revalidate: 60 })
    await new H({}).get(`/churn/${(i * 7) % (i + 1)}`, { kind: 'APP_ROUTE' })
    peak = Math.max(peak, api.stats(options).l1Bytes)
  }
  const s = api.stats(options)
  t.diagnostic(`L1 after 400 distinct ~100 KB entries: ${s.l1Entries} entries, ${s.l1Bytes} bytes, peak ${peak} (budget ${budget})`)
  assert.ok(peak <= budget, `peak ${peak} > ${budget}`)
  assert.ok(s.l1Entries >= 30, 'the budget is actually used')
  // What fell out of the L1 is still served from Redis.
  assert.equal((await new H({}).get('/churn/0', { kind: 'APP_ROUTE' })).value.body[0], 0)
})

test('a long run of gets, sets and revalidations does not grow the process', async (t) => {
  const code = `
    const api = require(${JSON.stringify(LIB)})
    const opts = { redisUrl: 'redis://127.0.0.1:${redis.port}', prefix: 'memrun:', l1MaxBytes: 8 * 1024 * 1024 }
    const H = api.createHandler(opts)
    const page = (i) => ({ kind: 'APP_PAGE', html: 'x'.repeat(20000) + i, rscData: Buffer.alloc(20000, i & 255), headers: { 'x-next-cache-tags': 'p' + (i % 50) }, status: 200, segmentData: new Map([['/_tree', Buffer.alloc(500)]]) })
    const measure = () => { global.gc(); global.gc(); const m = process.memoryUsage(); return { rss: m.rss, heap: m.heapUsed, ext: m.external + m.arrayBuffers } }
    async function batch(n, off) {
      for (let i = 0; i < n; i++) {
        // As Next does: a miss (or an invalidated page) is rendered and set; now and then a
        // webhook revalidates a tag.
        const k = (i * 31 + off) % 150
        const h = new H({ serverDistDir: '/nonexistent/server' })
        if (i % 97 === 0) await h.revalidateTag('p' + (k % 50))
        else if (!(await h.get('/p/' + k, { kind: 'APP_PAGE', isFallback: false }))) {
          await h.set('/p/' + k, page(k), { cacheControl: { revalidate: 60, expire: 600 } })
        }
      }
    }
    ;(async () => {
      // Warm up (allocator pools, L1 filled), then two equal long runs: a leak grows both.
      await batch(10000, 0)
      const w = measure()
      await batch(25000, 7)
      const a = measure()
      await batch(25000, 13)
      const b = measure()
      console.log(JSON.stringify({ w, a, b, stats: api.stats(opts) }))
      await api.close()
    })()
  `
  const out = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
    let s = ''
    child.stdout.on('data', (d) => (s += d))
    child.on('exit', (c) => (c === 0 ? resolve(s) : reject(new Error(`exit ${c}: ${s}`))))
  })
  const { w, a, b, stats } = JSON.parse(out.trim().split('\n').pop())
  const mb = (x) => (x / 1024 / 1024).toFixed(1)
  const at = (label, m) => `${label}: rss ${mb(m.rss)} MB, heap ${mb(m.heap)} MB, external ${mb(m.ext)} MB`
  t.diagnostic(
    `${at('after 10k ops', w)}; ${at('after 25k more', a)}; ${at('after 25k more', b)}; ` +
      `gets ${stats.gets}, l1Hits ${stats.l1Hits}, l1Bytes ${stats.l1Bytes}`,
  )
  assert.ok(stats.l1Hits > 10000, 'the run exercised the L1')
  assert.ok(b.heap - a.heap < 8 * 1024 * 1024, `heap grew ${mb(b.heap - a.heap)} MB`)
  assert.ok(b.ext - a.ext < 16 * 1024 * 1024, `external memory grew ${mb(b.ext - a.ext)} MB`)
  assert.ok(b.rss - a.rss < 40 * 1024 * 1024, `RSS grew ${mb(b.rss - a.rss)} MB`)
})
