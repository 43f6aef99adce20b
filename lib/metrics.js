'use strict'
// Metrics of every store in this process, in Prometheus's conventions (base units, `_total`
// counters, no key or tag ever a label), three ways:
//   registerMetrics(register)        collectors on a prom-client Registry (the app's own)
//   metricsText()                    the text exposition, for a route without prom-client
//   registerOpenTelemetry(meter?)    observable instruments on an @opentelemetry/api meter
// Neither prom-client nor @opentelemetry/api is loaded unless the app asks for it.

const { OUTBOX } = require('./native')

/** Seconds; a Redis round trip is ~0.1-1 ms, a timeout is `timeoutMs` (1 s by default). */
const BUCKETS = [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** Seconds from a revalidation being recorded to this process applying it (push, then sync). */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** A latency histogram: a few numbers per observation, nothing allocated. */
class Histogram {
  constructor(buckets = BUCKETS) {
    this.buckets = buckets
    this.counts = new Float64Array(buckets.length) // per bucket, not cumulative
    this.sum = 0
    this.count = 0
    this.listeners = []
  }

  observe(seconds) {
    const b = this.buckets
    let i = 0
    while (i < b.length && seconds > b[i]) i++
    if (i < b.length) this.counts[i]++
    this.sum += seconds
    this.count++
    for (const l of this.listeners) l(seconds)
  }

  /** Adds `other`'s observations into this one (same buckets). */
  add(other) {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i]
    this.sum += other.sum
    this.count += other.count
  }
}

const OPS = ['get', 'set', 'revalidate', 'check']

/**
 * Every metric: name, type, help, and how to read its samples from the stores
 * (`[labels, value]` pairs). One list for all three exporters.
 */
const DEFINITIONS = [
  {
    name: 'shared_isr_reads_total',
    type: 'counter',
    help: 'Cache reads by where the answer came from (l1, store, build output) and what it was.',
    samples: (stores) => {
      const out = new Map()
      for (const s of stores) {
        for (const [k, v] of Object.entries(s.readCounts)) out.set(k, (out.get(k) ?? 0) + v)
      }
      return [...out].map(([k, v]) => {
        const [source, result] = k.split(':')
        return [{ source, result }, v]
      })
    },
  },
  {
    name: 'shared_isr_errors_total',
    type: 'counter',
    help: 'Failed store calls by operation and error code.',
    samples: (stores) => {
      const out = new Map()
      for (const s of stores) for (const [k, v] of s.errorCounts) out.set(k, (out.get(k) ?? 0) + v)
      return [...out].map(([k, v]) => {
        const [op, code] = k.split(' ')
        return [{ op, code }, v]
      })
    },
  },
  counter('shared_isr_writes_total', 'Entries written to the store.', 'sets'),
  counter('shared_isr_write_errors_total', 'Writes that failed (too large, store down, ...).', 'setErrors'),
  counter('shared_isr_corrupt_entries_total', 'Entries that could not be decoded (read as misses).', 'corrupt'),
  counter('shared_isr_revalidations_total', 'Revalidation calls (each with one or more tags).', 'revalidations'),
  counter('shared_isr_revalidation_errors_total', 'Revalidation calls that could not be recorded at once.', 'revalidationErrors'),
  counter('shared_isr_revalidations_late_total', 'Tags recorded after a Redis failure, from the outbox.', 'revalidationsLate'),
  counter(
    'shared_isr_revalidations_dropped_total',
    `Tags dropped from a full outbox (over ${OUTBOX.maxTags} tags or ${OUTBOX.maxBytes / 1048576} MiB per process).`,
    'revalidationsDropped',
  ),
  counter('shared_isr_manifest_syncs_total', "Catch-ups of this process's view of the tag stamps.", 'manifestSyncs'),
  gauge('shared_isr_revalidations_pending', 'Tags kept while Redis fails, not recorded yet.', 'revalidationsPending'),
  gauge('shared_isr_circuit_open', '1 while calls to Redis fail fast after a failure.', (s) => (s.circuitOpen ? 1 : 0)),
  gauge('shared_isr_redis_consecutive_failures', 'Consecutive Redis connectivity failures (0 when healthy).', 'redisFailures'),
  gauge('shared_isr_tracking_refused', '1 when Redis refuses CLIENT TRACKING to this user: no L1 copies, every hit reads Redis.', (s) =>
    s.trackingRefused ? 1 : 0,
  ),
  gauge('shared_isr_scripting_refused', '1 when Redis refuses scripting to this user: nothing can be cached.', (s) =>
    s.scriptingRefused ? 1 : 0,
  ),
  gauge('shared_isr_l1_entries', 'Entries in the local L1.', 'l1Entries'),
  gauge('shared_isr_l1_bytes', 'What the L1 copies cost, decoded.', 'l1Bytes'),
  gauge('shared_isr_l1_max_bytes', 'The L1 byte budget.', 'l1MaxBytes'),
  gauge('shared_isr_tag_cache_tags', 'Tags whose stamps this process caches.', 'manifestTags'),
  gauge('shared_isr_tag_cache_bytes', 'Bytes of the cached tag stamps.', 'tagCacheBytes'),
  gauge('shared_isr_memory_store_entries', 'Entries of the in-memory store.', 'memoryEntries'),
  gauge('shared_isr_memory_store_bytes', 'Bytes of the in-memory store.', 'memoryBytes'),
  {
    name: 'shared_isr_caching_off',
    type: 'gauge',
    help: 'Handlers serving uncached because their configuration was refused (the log names the setting).',
    samples: () => [[{}, require('./misconfig').misconfigured().length]],
  },
  ...cdnMetrics(),
  {
    name: 'shared_isr_invalidation_lag_seconds',
    type: 'histogram',
    help: "How long after a revalidation was recorded (by any instance) this process applied it; includes the clocks' skew.",
    histograms: (stores) => {
      const h = new Histogram(LAG_BUCKETS)
      for (const s of stores) h.add(s.invalidationLag())
      return [[{}, h]]
    },
  },
  {
    name: 'shared_isr_store_operation_duration_seconds',
    type: 'histogram',
    help: 'Duration of store calls as the app sees them (Redis round trip and the addon).',
    histograms: (stores) =>
      OPS.map((op) => {
        const h = new Histogram()
        for (const s of stores) h.add(s.latency[op])
        return [{ op }, h]
      }),
  },
]

/** The CDN's, by provider, from the stores that have one (lib/cdn/deliver.js). */
function cdnMetrics() {
  const byProvider = (read) => (stores) => {
    const out = new Map()
    for (const s of stores) {
      if (!s.cdn) continue
      const st = s.cdn.stats()
      out.set(st.provider, (out.get(st.provider) ?? 0) + read(st))
    }
    return [...out].map(([provider, v]) => [{ provider }, v])
  }
  const metric = (type, name, help, read) => ({ name, type, help, samples: byProvider(read) })
  return [
    metric('counter', 'shared_isr_cdn_purges_total', 'Purge batches the CDN confirmed (sent by this process).', (st) => st.purgesSent),
    metric(
      'counter',
      'shared_isr_cdn_purge_failures_total',
      'Purge batches the CDN did not confirm (retried with backoff).',
      (st) => st.purgesFailed,
    ),
    metric(
      'counter',
      'shared_isr_cdn_purge_all_total',
      'Purges of everything, instead of a backlog past its bound or a lost change log.',
      (st) => st.purgeAlls,
    ),
    metric('counter', 'shared_isr_cdn_keys_purged_total', 'CDN keys purged (tags, path tags and the overflow key).', (st) => st.keysPurged),
    metric(
      'counter',
      'shared_isr_cdn_paths_queued_total',
      'Path tags queued for a purge because their entry was written anew.',
      (st) => st.pathsQueued,
    ),
    metric(
      'counter',
      'shared_isr_cdn_queue_failures_total',
      'Path tags that could not be queued (Redis failing).',
      (st) => st.queueFailures,
    ),
    metric(
      'gauge',
      'shared_isr_cdn_pending',
      'Keys owed to the CDN (fleet-wide with Redis) when this process last looked.',
      (st) => st.backlog,
    ),
    metric('gauge', 'shared_isr_cdn_failing', '1 while purges fail.', (st) => (st.failing ? 1 : 0)),
    {
      name: 'shared_isr_cdn_purge_lag_seconds',
      type: 'histogram',
      help: "From a revalidation being recorded to the CDN confirming its purge (batches this process delivered); includes the clocks' skew.",
      histograms: (stores) => {
        const out = new Map()
        for (const s of stores) {
          if (!s.cdn?.lag) continue
          const p = s.cdn.stats().provider
          if (!out.has(p)) out.set(p, new Histogram(LAG_BUCKETS))
          out.get(p).add(s.cdn.lag)
        }
        return [...out].map(([provider, h]) => [{ provider }, h])
      },
    },
  ]
}

function counter(name, help, field) {
  return { name, type: 'counter', help, samples: sum(field) }
}
function gauge(name, help, field) {
  return { name, type: 'gauge', help, samples: sum(field) }
}
function sum(field) {
  const read = typeof field === 'function' ? field : (s) => s[field] ?? 0
  return (stores) => [[{}, stores.reduce((acc, s) => acc + read(s.stats()), 0)]]
}

/** prom-client's sample shape: histograms as `_bucket` (cumulative, `le`), `_sum`, `_count`. */
function samplesOf(def, stores) {
  if (def.type !== 'histogram') return def.samples(stores).map(([labels, value]) => ({ labels, value }))
  const out = []
  for (const [labels, h] of def.histograms(stores)) {
    let cumulative = 0
    h.buckets.forEach((le, i) => {
      cumulative += h.counts[i]
      out.push({ metricName: `${def.name}_bucket`, labels: { ...labels, le }, value: cumulative })
    })
    out.push({ metricName: `${def.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count })
    out.push({ metricName: `${def.name}_sum`, labels, value: h.sum })
    out.push({ metricName: `${def.name}_count`, labels, value: h.count })
  }
  return out
}

const escapeLabel = (v) => String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labelText = (labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

/** The Prometheus text exposition (version 0.0.4) of `stores` (all of this process's by default). */
function metricsText(stores = defaultStores()) {
  let text = ''
  for (const def of DEFINITIONS) {
    text += `# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n`
    for (const { metricName, labels, value } of samplesOf(def, stores)) text += `${metricName ?? def.name}${labelText(labels)} ${value}\n`
  }
  return text
}

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** A route handler for `app/metrics/route.js`: `export const GET = metricsHandler()`. */
function metricsHandler() {
  return async () => new Response(metricsText(), { headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' } })
}

/**
 * Registers every metric as a collector on a prom-client Registry (e.g. `register` from
 * `require('prom-client')`); values are read from the stores at each scrape. Returns the
 * names registered. Calling it again for the same registry is a no-op.
 */
function registerMetrics(register) {
  if (!register || typeof register.registerMetric !== 'function' || typeof register.getSingleMetric !== 'function') {
    throw new TypeError("registerMetrics expects a prom-client Registry (require('prom-client').register)")
  }
  for (const def of DEFINITIONS) {
    if (register.getSingleMetric(def.name)) continue
    register.registerMetric({
      name: def.name,
      help: def.help,
      type: def.type,
      aggregator: 'sum',
      get: async () => ({ name: def.name, help: def.help, type: def.type, aggregator: 'sum', values: samplesOf(def, defaultStores()) }),
      reset() {},
    })
  }
  return DEFINITIONS.map((d) => d.name)
}

/**
 * Observable instruments on an OpenTelemetry meter (default: `metrics.getMeter('shared-isr')`
 * from `@opentelemetry/api`, which the app must have). Histograms are recorded as operations
 * happen. OpenTelemetry names use dots (`shared_isr.reads`), units in `unit`.
 */
function registerOpenTelemetry(meter) {
  if (!meter) {
    const { metrics } = require('@opentelemetry/api')
    meter = metrics.getMeter('shared-isr')
  }
  const otelName = (name) =>
    name
      .replace(/^shared_isr_/, 'shared_isr.')
      .replace(/_total$/, '')
      .replace(/_seconds$/, '')
  for (const def of DEFINITIONS) {
    if (def.type === 'histogram') continue
    const make = def.type === 'counter' ? 'createObservableCounter' : 'createObservableGauge'
    const instrument = meter[make](otelName(def.name), { description: def.help, unit: def.name.endsWith('_bytes') ? 'By' : '1' })
    instrument.addCallback((result) => {
      for (const [labels, value] of def.samples(defaultStores())) result.observe(value, labels)
    })
  }
  const help = (name) => DEFINITIONS.find((d) => d.name === name).help
  const duration = meter.createHistogram('shared_isr.store_operation_duration', {
    description: help('shared_isr_store_operation_duration_seconds'),
    unit: 's',
  })
  otelListeners.push((op, seconds) => duration.record(seconds, { op }))
  const lag = meter.createHistogram('shared_isr.invalidation_lag', { description: help('shared_isr_invalidation_lag_seconds'), unit: 's' })
  otelLagListeners.push((seconds) => lag.record(seconds))
}

/** Listeners of every observation of every store (OpenTelemetry's histograms). */
const otelListeners = []
const otelLagListeners = []

/** The invalidation lag histogram of a store. */
function lagHistogram() {
  const h = new Histogram(LAG_BUCKETS)
  h.listeners.push((seconds) => {
    for (const l of otelLagListeners) l(seconds)
  })
  return h
}

function defaultStores() {
  return require('./store').allStores()
}

/** One histogram per operation, for a store. */
function latencyHistograms() {
  const out = {}
  for (const op of OPS) {
    const h = new Histogram()
    h.listeners.push((seconds) => {
      for (const l of otelListeners) l(op, seconds)
    })
    out[op] = h
  }
  return out
}

module.exports = {
  lagHistogram,
  metricsText,
  metricsHandler,
  registerMetrics,
  registerOpenTelemetry,
  latencyHistograms,
  Histogram,
  CONTENT_TYPE,
}
