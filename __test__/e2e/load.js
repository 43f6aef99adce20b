'use strict'
// A small closed-loop HTTP load generator for the e2e tests: `concurrency` loops, each sending
// its next request as soon as the previous one finished, over keep-alive connections, bounded
// in count and in time. Every request is recorded (start/end timestamps, status, latency,
// connection error, the page's `rev` marker and x-nextjs-cache), so a test can cut the run
// into phases afterwards (before / during / after an outage) and compute percentiles.
const http = require('node:http')
const { performance } = require('node:perf_hooks')

const REV_HTML = /data-testid="rev"[^>]*>([^<]*)</
const REV_JSON = /"rev":"([^"]*)"/
const BY_HTML = /data-testid="instance"[^>]*>([^<]*)</
const BY_JSON = /"instance":"([^"]*)"/
const AT_HTML = /data-testid="rendered-at"[^>]*>([^<]*)</
const AT_JSON = /"renderedAt":(\d+)/

// Wall-clock ms with sub-ms resolution, comparable with Date.now() marks.
const now = () => performance.timeOrigin + performance.now()

/**
 * startLoad({ targets: [{ name, url }], paths: [string], concurrency = 8, maxRequests = 200_000,
 *             maxMs = 120_000, timeoutMs = 10_000 })
 * → { records, stop(): Promise<records>, get count() }
 * Request k (global counter) goes to targets[k % T] + paths[floor(k / T) % P], so every
 * (target, path) pair is visited evenly.
 */
function startLoad({ targets, paths, concurrency = 8, maxRequests = 200_000, maxMs = 120_000, timeoutMs = 10_000 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  const freshAgent = new http.Agent({ keepAlive: false }) // retries: always a new connection
  const records = []
  const t0 = now()
  let k = 0
  let stopping = false

  // One GET. As Node's docs advise for idempotent requests, a connection reset on a REUSED
  // keep-alive socket before any response (the server closed it as we sent) is retried once on
  // a fresh connection; the record keeps `retried` and its latency counts from the first try.
  // Any other failure (refused, reset of a new connection, timeout, 5xx) is recorded as is.
  function one(target, path) {
    return new Promise((resolve) => {
      const rec = {
        start: now(),
        end: 0,
        ms: 0,
        target: target.name,
        path,
        status: 0,
        error: null,
        rev: undefined,
        by: undefined,
        renderedAt: undefined,
        cache: undefined,
        upstream: undefined,
        reused: false,
        retried: null,
      }
      const u = new URL(target.url + path)
      let settled = false
      const done = () => {
        if (settled) return
        settled = true
        rec.end = now()
        rec.ms = rec.end - rec.start
        records.push(rec)
        resolve(rec)
      }
      const attempt = (fresh) => {
        let answered = false
        const req = http.request(
          { hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', agent: fresh ? freshAgent : agent },
          (res) => {
            answered = true
            rec.status = res.statusCode
            rec.cache = res.headers['x-nextjs-cache']
            rec.upstream = res.headers['x-e2e-upstream']
            const chunks = []
            res.on('data', (c) => chunks.push(c))
            res.on('end', () => {
              const body = Buffer.concat(chunks).toString('utf8')
              rec.rev = (REV_HTML.exec(body) || REV_JSON.exec(body) || [])[1]
              rec.by = (BY_HTML.exec(body) || BY_JSON.exec(body) || [])[1]
              const at = (AT_HTML.exec(body) || AT_JSON.exec(body) || [])[1]
              rec.renderedAt = at === undefined ? undefined : Number(at)
              done()
            })
            res.on('error', (e) => {
              rec.error = `response: ${e.code || e.message}`
              done()
            })
          },
        )
        req.on('socket', (s) => {
          rec.reused = req.reusedSocket
          s.setNoDelay(true)
        })
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
        req.on('error', (e) => {
          if (!fresh && !answered && req.reusedSocket && e.code === 'ECONNRESET') {
            rec.retried = `${e.code} on a reused socket after ${(now() - rec.start).toFixed(0)} ms`
            attempt(true)
            return
          }
          rec.error = e.code || e.message
          done()
        })
        req.end()
      }
      attempt(false)
    })
  }

  async function loop() {
    while (!stopping && k < maxRequests && now() - t0 < maxMs) {
      const i = k++
      const target = targets[i % targets.length]
      const path = paths[Math.floor(i / targets.length) % paths.length]
      await one(target, path)
    }
  }

  const loops = Promise.all(Array.from({ length: concurrency }, loop))
  return {
    records,
    get count() {
      return records.length
    },
    /** Stops issuing requests, waits for the ones in flight, closes the connections. */
    async stop() {
      stopping = true
      await loops
      agent.destroy()
      freshAgent.destroy()
      return records
    },
    /** Resolves when the generator ended on its own (maxRequests or maxMs) or was stopped. */
    finished: loops,
  }
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

/**
 * Summary of the records that STARTED in [from, to): { n, errors, s5xx, statuses, p50, p99,
 * max, rps, slowest: [record...] }. `filter(rec)` narrows further.
 */
function summarize(records, from = -Infinity, to = Infinity, filter = () => true) {
  const sel = records.filter((r) => r.start >= from && r.start < to && filter(r))
  const lat = sel.map((r) => r.ms).sort((a, b) => a - b)
  const statuses = {}
  let errors = 0
  let s5xx = 0
  let retried = 0
  for (const r of sel) {
    if (r.retried) retried++
    if (r.error) errors++
    else if (r.status >= 500) s5xx++
    const key = r.error ? `error:${r.error}` : String(r.status)
    statuses[key] = (statuses[key] || 0) + 1
  }
  const span = sel.length ? (Math.max(...sel.map((r) => r.end)) - Math.min(...sel.map((r) => r.start))) / 1000 : 0
  return {
    n: sel.length,
    errors,
    retried,
    s5xx,
    statuses,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat.length ? lat[lat.length - 1] : NaN,
    rps: span > 0 ? sel.length / span : 0,
    slowest: [...sel].sort((a, b) => b.ms - a.ms).slice(0, 3),
  }
}

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-')

/** One line: "n=812 5xx=0 err=0 p50=12 p99=140 max=210 ms (96 req/s)". */
function formatSummary(s) {
  return `n=${s.n} 5xx=${s.s5xx} err=${s.errors}${s.retried ? ` (+${s.retried} keep-alive resets retried)` : ''} p50=${fmt(s.p50)} p99=${fmt(s.p99)} max=${fmt(s.max)} ms (${s.rps.toFixed(0)} req/s)`
}

/** "GET app-2 /news 503 @+1234 ms 870 ms" lines for the slowest or failed records. */
function describeRecords(recs, origin) {
  return recs
    .map(
      (r) =>
        `${r.target}${r.upstream ? `->${r.upstream}` : ''} ${r.path} ${r.error ? `ERROR ${r.error}` : r.status} ${r.cache ?? '-'} rev=${r.rev}${r.by ? ` by ${r.by}@+${fmt(r.renderedAt - origin)}` : ''} @+${fmt(r.start - origin)} ms took ${fmt(r.ms)} ms${r.reused ? ' (reused socket)' : ''}${r.retried ? ` (retried: ${r.retried})` : ''}`,
    )
    .join('; ')
}

/** rev -> count, for the records selected. */
function revCounts(records, filter) {
  const out = {}
  for (const r of records) if (filter(r)) out[r.rev ?? '-'] = (out[r.rev ?? '-'] || 0) + 1
  return out
}

module.exports = { startLoad, summarize, formatSummary, describeRecords, revCounts, percentile, now }
