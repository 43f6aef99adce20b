'use strict'
// Macro benchmark: the e2e app (examples/blog, Next 15) as 3 `next start` instances behind the
// e2e harness's round-robin balancer, one cluster per contender, all started before the first
// measurement; load batches alternate between clusters. Then the invalidation lag: time from
// the CMS webhook's response until every instance serves the new content.

const _fs = require('node:fs')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { BENCH, ROOT } = require('./contenders')

const WORK = path.join(BENCH, '.work')
const DISPATCH = path.join(BENCH, 'handlers', 'dispatch.js')
// App Router ISR pages of the example (revalidate 1 h). /live (10 s) is left out: its
// background regenerations would add noise that has nothing to do with the cache.
const PATHS = [
  '/',
  '/news',
  '/posts/hello-world',
  '/posts/caching-101',
  '/posts/redis-notes',
  '/products/mug',
  '/products/tshirt',
  '/products/sticker',
]
const LAG_PATH = '/posts/hello-world'
const LAG_TAG = 'post:hello-world'

const PROFILES = {
  full: { rounds: 5, duration: 5, warm: 5, lagTrials: 5, lagTimeoutMs: 10_000, connections: 16 },
  quick: { rounds: 1, duration: 2, warm: 1, lagTrials: 2, lagTimeoutMs: 3_000, connections: 16 },
}

const log = (...a) => console.error('[bench]', ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function harness() {
  // Builds and installs go to bench/.work, never to examples/.work: the e2e tests' builds (and
  // their locks) are left alone.
  process.env.SHARED_ISR_E2E_WORK = WORK
  return require(path.join(ROOT, 'scripts', 'e2e', 'harness.js'))
}

function runLoad(opts) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify(opts)], { maxBuffer: 1 << 20 }, (err, stdout) => {
      const line = String(stdout).trim().split('\n').pop()
      try {
        const r = JSON.parse(line)
        if (r.error) return reject(new Error(r.error))
        resolve(r)
      } catch {
        reject(err || new Error(`bad load output: ${stdout}`))
      }
    })
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN
}

async function runMacro({ profile, l1Implemented }) {
  const p = PROFILES[profile]
  const h = harness()
  const contenders = [
    { name: 'shared-isr', label: 'shared-isr (defaults)', useSharedIsr: true, env: { BENCH_CONTENDER: 'shared-isr' } },
    ...(l1Implemented
      ? [
          {
            name: 'shared-isr:redis',
            label: 'shared-isr, L1 off',
            useSharedIsr: true,
            env: { BENCH_CONTENDER: 'shared-isr', SHARED_ISR_L1_MAX_MB: '0' },
          },
        ]
      : []),
    { name: 'forte', label: '@fortedigital 2.5.3', useSharedIsr: true, env: { BENCH_CONTENDER: 'forte' } },
    { name: 'trieb', label: '@trieb.work 1.18.0', useSharedIsr: true, env: { BENCH_CONTENDER: 'trieb' } },
    { name: 'next-default', label: "Next's default cache", useSharedIsr: false, env: {} },
  ]
  const out = { paths: PATHS, profile: p, contenders: [], lag: [] }
  const clusters = {}
  try {
    for (const c of contenders) {
      const t0 = Date.now()
      log(`macro: starting 3 instances for ${c.name}`)
      try {
        clusters[c.name] = await h.startCluster({
          version: '15',
          instances: 3,
          useSharedIsr: c.useSharedIsr,
          handler: DISPATCH,
          env: c.env,
        })
        c.startMs = Date.now() - t0
        c.nextVersion = clusters[c.name].nextVersion
        c.buildMs = clusters[c.name].timings?.buildMs
      } catch (err) {
        c.error = String(err.message).split('\n')[0]
        log(`macro: ${c.name} failed to start: ${c.error}`)
      }
    }
    const live = contenders.filter((c) => clusters[c.name])

    // Warm every instance (each path twice, directly), then record what the cache answers.
    for (const c of live) {
      const cl = clusters[c.name]
      for (let k = 0; k < 2; k++)
        for (const inst of cl.instances) for (const pth of PATHS) await h.getPage(inst.url + pth).catch(() => null)
      const seen = {}
      c.statusByPath = Object.fromEntries(PATHS.map((pth) => [pth, []]))
      for (const inst of cl.instances)
        for (const pth of PATHS) {
          const r = await h.getPage(inst.url + pth).catch(() => null)
          const k = r ? `${r.status} ${r.cache || '-'}` : 'error'
          seen[k] = (seen[k] || 0) + 1
          c.statusByPath[pth].push(r ? r.status : 'error')
        }
      c.cacheAfterWarm = seen
    }

    // Load only the paths every contender serves (200 on every instance after warm-up); the
    // others are reported, not measured (a fast 404 is not a cache hit).
    const failing = {}
    for (const c of live) {
      for (const pth of PATHS) {
        const bad = c.statusByPath[pth].filter((s) => s !== 200)
        if (bad.length) (failing[pth] ??= []).push(`${c.name} (${[...new Set(bad)].join(', ')})`)
      }
    }
    const paths = PATHS.filter((pth) => !failing[pth])
    out.loadPaths = paths
    out.excludedPaths = failing
    if (!paths.length) throw new Error(`no path is served by every contender: ${JSON.stringify(failing)}`)
    const load = (c, duration) => runLoad({ url: clusters[c.name].lbUrl, connections: p.connections, duration, paths })
    for (const c of live) await load(c, p.warm).catch(() => null)
    const rounds = Object.fromEntries(live.map((c) => [c.name, []]))
    for (let r = 0; r < p.rounds; r++) {
      const order = live.slice(r % live.length).concat(live.slice(0, r % live.length))
      for (const c of order) {
        try {
          rounds[c.name].push(await load(c, p.duration))
        } catch (err) {
          c.error ??= `load: ${err.message}`
        }
      }
      log(`macro: round ${r + 1}/${p.rounds} done`)
    }
    for (const c of live) {
      const rs = rounds[c.name]
      if (!rs.length) continue
      const total = rs.reduce((a, x) => a + x.requests, 0)
      const secs = rs.reduce((a, x) => a + x.durationS, 0)
      c.rps = total / secs
      c.p50ms = median(rs.map((x) => x.latency.p50))
      c.p99ms = median(rs.map((x) => x.latency.p99))
      c.non2xx = rs.reduce((a, x) => a + x.non2xx, 0)
      c.errors = rs.reduce((a, x) => a + x.errors + x.timeouts, 0)
      c.requests = total
      c.roundsRps = rs.map((x) => x.rps)
    }

    // Invalidation lag, trials alternating between contenders.
    const lags = Object.fromEntries(live.map((c) => [c.name, []]))
    const base = h.readBaseCms()
    for (let t = 0; t < p.lagTrials; t++) {
      for (const c of live) {
        const cl = clusters[c.name]
        const rev = `lag-${t}-${Date.now()}`
        cl.setCms(h.cmsWithRev(rev, base))
        const t0 = performance.now()
        let res
        try {
          res = await cl.revalidate({ tags: [LAG_TAG] })
        } catch (err) {
          lags[c.name].push({ error: err.message })
          continue
        }
        const tResp = performance.now()
        const per = await Promise.all(
          cl.instances.map(async (inst) => {
            while (performance.now() - tResp < p.lagTimeoutMs) {
              const pg = await h.getPage(inst.url + LAG_PATH).catch(() => null)
              if (pg && pg.markers.rev === rev) return performance.now() - tResp
              await sleep(10)
            }
            return null
          }),
        )
        lags[c.name].push({
          webhookMs: tResp - t0,
          status: res.status,
          perInstanceMs: per,
          allMs: per.every((x) => x !== null) ? Math.max(...per) : null,
        })
        await sleep(200)
      }
    }
    for (const c of live) {
      const ok = lags[c.name].filter((x) => x.allMs !== null && x.allMs !== undefined)
      out.lag.push({
        contender: c.name,
        trials: lags[c.name].length,
        reachedAll: ok.length,
        lagMedianMs: ok.length ? median(ok.map((x) => x.allMs)) : null,
        lagMaxMs: ok.length ? Math.max(...ok.map((x) => x.allMs)) : null,
        webhookMedianMs: median(lags[c.name].filter((x) => x.webhookMs).map((x) => x.webhookMs)),
        instancesUpdated: lags[c.name].map((x) => (x.perInstanceMs || []).filter((v) => v !== null).length),
        timeoutMs: p.lagTimeoutMs,
        statuses: [...new Set(lags[c.name].map((x) => x.status))],
      })
    }
  } finally {
    for (const [name, cl] of Object.entries(clusters)) {
      await cl.stop().catch((err) => log(`macro: stopping ${name}: ${err.message}`))
    }
  }
  out.contenders = contenders.map(({ env, ...c }) => ({ ...c, env }))
  return out
}

module.exports = { runMacro, PATHS, WORK, DISPATCH }
