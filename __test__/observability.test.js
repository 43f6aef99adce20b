'use strict'
// Metrics (Prometheus text, prom-client, OpenTelemetry), health() and the logger option,
// against a real redis-server that is stopped and started again.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, captureConsole, runNode, sleep } = require('./helpers/common')
const { redisSuite, LIB } = require('./helpers/suite')

const { api, redis } = redisSuite()

const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const route = (body, tag) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': tag } })

/** `name{labels} value` lines of a text exposition, as [name, labels object, number]. */
function parse(text) {
  const out = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-z0-9_]+)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`)
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]))
    out.push([m[1], labels, Number(m[3])])
  }
  return out
}
const sample = (samples, name, labels = {}) =>
  samples.find(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === String(v)))?.[2]

test('the text exposition counts reads by source and result, and store calls by duration', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('m'), buildId: 'm' }
  const H = api.createHandler(options)
  // Connects first: a new connection drops the copies kept before it.
  assert.equal(await new H({}).get('/warm-up', CTX), null)
  const before = parse(api.metricsText())
  const at = (samples, result, source) => sample(samples, 'shared_isr_reads_total', { source, result }) ?? 0
  await new H({}).set('/obs-a', route('a', 'tag-obs'), SET)
  assert.equal(await new H({}).get('/obs-missing', CTX), null)
  await new H({}).get('/obs-a', CTX) // the copy kept on write
  const s = api.stats(options)
  const after = parse(api.metricsText())
  assert.equal(at(after, 'miss', 'store') - at(before, 'miss', 'store'), 1)
  assert.equal(at(after, 'fresh', 'l1') - at(before, 'fresh', 'l1'), 1)
  assert.equal(s.l1Hits, 1)
  assert.equal(s.misses, 2)
  assert.equal(s.gets, 3)
  // Histogram: cumulative buckets, +Inf equal to the count, per operation.
  for (const op of ['get', 'set']) {
    const buckets = after.filter(([n, l]) => n === 'shared_isr_store_operation_duration_seconds_bucket' && l.op === op)
    assert.ok(buckets.length > 5)
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i][2] >= buckets[i - 1][2], 'cumulative')
    const count = sample(after, 'shared_isr_store_operation_duration_seconds_count', { op })
    assert.equal(buckets.at(-1)[1].le, '+Inf')
    assert.equal(buckets.at(-1)[2], count)
    assert.ok(count >= 1, `${op} observed`)
  }
  assert.equal(sample(after, 'shared_isr_l1_entries'), s.l1Entries)
  // Never a key or a tag as a label value.
  for (const [, labels] of after) for (const v of Object.values(labels)) assert.ok(!/obs-/.test(v), v)
})

test('prom-client: collectors on the app registry, read at each scrape, registered once', async () => {
  const client = require('prom-client')
  const register = new client.Registry()
  const names = api.registerMetrics(register)
  assert.deepEqual(api.registerMetrics(register), names, 'a second call is a no-op')
  const options = { redisUrl: redis.url, prefix: uniquePrefix('pc'), buildId: 'pc' }
  const H = api.createHandler(options)
  const first = parse(await register.metrics())
  await new H({}).get('/none', CTX)
  const second = parse(await register.metrics())
  const miss = (x) => sample(x, 'shared_isr_reads_total', { source: 'store', result: 'miss' }) ?? 0
  assert.equal(miss(second) - miss(first), 1, 'values are read at scrape time')
  assert.match(await register.metrics(), /# TYPE shared_isr_store_operation_duration_seconds histogram/)
  const json = await register.getMetricsAsJSON()
  assert.ok(json.some((m) => m.name === 'shared_isr_circuit_open' && m.type === 'gauge'))
  assert.throws(() => api.registerMetrics({}), /prom-client Registry/)
})

test('OpenTelemetry: observable counters and gauges, and the operation histogram', async () => {
  const { MeterProvider, MetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics')
  class Reader extends MetricReader {
    constructor() {
      super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
    }
    async onForceFlush() {}
    async onShutdown() {}
  }
  const reader = new Reader()
  const provider = new MeterProvider({ readers: [reader] })
  api.registerOpenTelemetry(provider.getMeter('test'))
  const options = { redisUrl: redis.url, prefix: uniquePrefix('ot'), buildId: 'ot' }
  const H = api.createHandler(options)
  await new H({}).set('/o', route('o', 'to'), SET)
  await new H({}).get('/o-missing', CTX)
  const { resourceMetrics } = await reader.collect()
  const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)
  const byName = (n) => all.find((m) => m.descriptor.name === n)
  const reads = byName('shared_isr.reads')
  assert.ok(reads, `metrics: ${all.map((m) => m.descriptor.name).join(', ')}`)
  assert.ok(reads.dataPoints.some((p) => p.attributes.source === 'store' && p.attributes.result === 'miss' && p.value >= 1))
  const duration = byName('shared_isr.store_operation_duration')
  assert.equal(duration.descriptor.unit, 's')
  assert.ok(duration.dataPoints.some((p) => p.attributes.op === 'set' && p.value.count >= 1))
  assert.ok(byName('shared_isr.l1_bytes'))
  await provider.shutdown()
})

test('health(), errors by code and the logger while Redis is down and after it is back', async () => {
  const logged = []
  const logger = {
    info: (fields, msg) => logged.push(['info', fields, msg]),
    warn: (fields, msg) => logged.push(['warn', fields, msg]),
    error: (fields, msg) => logged.push(['error', fields, msg]),
  }
  const options = { redisUrl: redis.url, prefix: uniquePrefix('h'), buildId: 'h', timeoutMs: 300, logger }
  const H = api.createHandler(options)
  assert.equal(api.health(options).reachable, null, 'nothing known before the first call')
  await new H({}).set('/h', route('h', 'th'), SET)
  let h = api.health(options)
  assert.equal(h.status, 'ok')
  assert.equal(h.reachable, true)
  assert.equal(h.store, 'redis')

  const cap = captureConsole()
  try {
    await redis.kill()
    const errs = () =>
      parse(api.metricsText())
        .filter(([n]) => n === 'shared_isr_errors_total')
        .reduce((a, [, , v]) => a + v, 0)
    const before = errs()
    assert.equal(await new H({}).get('/h-other', CTX), null)
    h = api.health(options)
    assert.equal(h.status, 'degraded')
    assert.equal(h.reachable, false)
    assert.match(h.lastError.code, /^ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)$/)
    assert.ok(h.failingSince)
    assert.ok(errs() > before, 'failed calls counted by code')
    const failing = logged.find(([, f]) => f.event === 'store_failing')
    assert.ok(failing, JSON.stringify(logged))
    assert.equal(failing[0], 'warn')
    assert.equal(failing[1].name, 'shared-isr')
    assert.match(failing[1].code, /^ERR_SHARED_ISR_/)
    assert.match(failing[2], /failed/)

    await redis.start()
    let ok = false
    for (let i = 0; i < 50 && !ok; i++) {
      await sleep(100)
      await new H({}).get('/h-again', CTX)
      ok = api.health(options).status === 'ok'
    }
    assert.ok(ok, `health back to ok: ${JSON.stringify(api.health(options))}`)
    assert.ok(logged.some(([, f]) => f.event === 'store_recovered'))
    assert.deepEqual(cap.all(), [], 'with a logger, nothing goes to the console')
  } finally {
    cap.restore()
  }
})

test('a logger without info/warn/error is refused; a logger that throws never breaks a read', async () => {
  assert.throws(() => api.health({ prefix: uniquePrefix('bad'), logger: { info() {} } }), { code: 'ERR_SHARED_ISR_CONFIG' })
  const throwing = {
    info() {
      throw new Error('logger down')
    },
    warn() {
      throw new Error('logger down')
    },
    error() {
      throw new Error('logger down')
    },
  }
  const options = { redisUrl: 'redis://127.0.0.1:1', prefix: uniquePrefix('lt'), timeoutMs: 100, connectTimeoutMs: 100, logger: throwing }
  const H = api.createHandler(options)
  assert.equal(await new H({}).get('/x', CTX), null)
  assert.equal(api.health(options).status, 'degraded')
})

test('healthHandler answers 200 while degraded, 503 with failWhenDegraded; the memory store is ok', async () => {
  const down = {
    redisUrl: 'redis://127.0.0.1:1',
    prefix: uniquePrefix('hh'),
    timeoutMs: 100,
    connectTimeoutMs: 100,
    logger: { info() {}, warn() {}, error() {} },
  }
  await new (api.createHandler(down))({}).get('/x', CTX)
  const res = await api.healthHandler(down)()
  assert.equal(res.status, 200)
  assert.equal((await res.json()).status, 'degraded')
  assert.equal((await api.healthHandler({ ...down, failWhenDegraded: true })()).status, 503)
  const mem = { prefix: uniquePrefix('mem'), logger: down.logger }
  assert.deepEqual(
    { status: api.health(mem).status, store: api.health(mem).store, reachable: api.health(mem).reachable },
    { status: 'ok', store: 'memory', reachable: true },
  )
  const text = await (await api.metricsHandler()()).text()
  assert.match(text, /^# HELP shared_isr_reads_total/m)
})

test('prom-client and @opentelemetry/api are not loaded unless asked for', async () => {
  const r = await runNode(`
    const api = require(${JSON.stringify(LIB)})
    const H = api.createHandler({})
    Promise.resolve(new H({}).get('/x', { kind: 'APP_ROUTE' })).then(() => {
      api.metricsText(); api.health()
      const loaded = Object.keys(require.cache).filter((f) => /prom-client|@opentelemetry/.test(f))
      console.log(JSON.stringify(loaded))
    })
  `)
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /^\[\]$/m)
})

test('invalidation lag: a revalidation by another instance is applied here within a bounded, measured lag', async () => {
  const prefix = uniquePrefix('lag')
  const reader = { redisUrl: redis.url, prefix, buildId: 'lag', l1MaxBytes: 0 }
  // Another store on the same Redis and prefix (another config, so another store, as another instance would be).
  const writer = { ...reader, timeoutMs: 999 }
  const R = api.createHandler(reader)
  const W = api.createHandler(writer)
  await new W({}).set('/lag', route('v', 'lag-tag'), SET)
  assert.ok(await new R({}).get('/lag', CTX), 'the reader has a view of the tags')
  const count = () => sample(parse(api.metricsText()), 'shared_isr_invalidation_lag_seconds_count') ?? 0
  const sumNow = () => sample(parse(api.metricsText()), 'shared_isr_invalidation_lag_seconds_sum') ?? 0
  // Well after the tag state was created: a lag measured from anything but the revalidation's
  // own time would show it.
  await new W({}).revalidateTag(['lag-warm'])
  await sleep(1200)
  await new R({}).get('/lag', CTX)
  const before = count()
  const sumBefore = sumNow()
  for (let i = 0; i < 3; i++) {
    await api.revalidateTags(['lag-tag'], undefined, writer)
    assert.equal(await new R({}).get('/lag', CTX), null, 'the reader applied it')
    await new W({}).set('/lag', route(`v${i}`, 'lag-tag'), SET)
    await new R({}).get('/lag', CTX)
  }
  const samples = parse(api.metricsText())
  assert.ok(count() - before >= 3, `samples: ${count() - before}`)
  const mean = (sample(samples, 'shared_isr_invalidation_lag_seconds_sum') - sumBefore) / (count() - before)
  assert.ok(mean < 0.5, `mean lag ${mean} s`)
  assert.equal(sample(samples, 'shared_isr_invalidation_lag_seconds_bucket', { le: '+Inf' }), count(), 'a histogram: +Inf is the count')
})

test('a refused configuration: healthHandler answers 503 saying so, and the metrics show caching is off', async () => {
  const bad = { redisUrl: 'http://not-redis', prefix: uniquePrefix('bad') }
  const res = await api.healthHandler(bad)()
  assert.equal(res.status, 503)
  const body = await res.json()
  assert.equal(body.status, 'misconfigured')
  assert.equal(body.error.code, 'ERR_SHARED_ISR_CONFIG')
  assert.match(body.error.message, /redisUrl/)
  // A handler with that configuration serves uncached (it logs once); the metrics say so.
  const cap = captureConsole()
  try {
    const H = api.createHandler(bad)
    assert.equal(await new H({}).get('/x', CTX), null)
  } finally {
    cap.restore()
  }
  assert.ok(
    cap.all().some((l) => /Caching is OFF/.test(l)),
    cap.all().join('\n'),
  )
  assert.match(api.metricsText(), /^shared_isr_caching_off [1-9]/m)
})
