#!/usr/bin/env node
'use strict'
// npm run bench:stampede: reads of the CMS per change, with and without the regeneration lease,
// on 3 and 8 `next start` instances of the example app (Next 16) behind the balancer.
//
// Each round: every instance serves /news from the cache; the CMS changes; the webhook revalidates
// 'news' on one instance; then BURST simultaneous requests hit every instance. Counted: GETs of
// /cms.json the CMS server saw for that change (the page's tagged fetch), non-200 answers, and the
// burst's latency. Writes bench/results/stampede.json; the table goes to docs/benchmarks.md by
// hand (the numbers depend on the machine).
//
// Options: --instances=3,8  --rounds=6  --burst=6  --version=16

const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')

const ROOT = path.resolve(__dirname, '..')
const h = require(path.join(ROOT, 'scripts', 'e2e', 'harness.js'))

const arg = (name, def) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def
const INSTANCES = arg('instances', '3,8').split(',').map(Number)
const ROUNDS = Number(arg('rounds', '6'))
const BURST = Number(arg('burst', '6'))
const VERSION = arg('version', '16')

async function until(inst, rev, ms = 20_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const page = await h.getPage(`${inst.url}/news`)
    if (page.status === 200 && page.markers.rev === rev) return
    await h.sleep(100)
  }
  throw new Error(`${inst.name} never served ${rev}`)
}

async function warm(inst) {
  for (let i = 0; i < 40; i++) {
    const p = await h.getPage(`${inst.url}/news`)
    if (p.status === 200 && p.cache === 'HIT') return
    await h.sleep(250)
  }
}

async function measure(instances, lease) {
  const cluster = await h.startCluster({
    version: VERSION,
    instances,
    useSharedIsr: true,
    redis: true,
    env: lease ? {} : { SHARED_ISR_LEASE_MS: '0' },
  })
  try {
    const reads = []
    const latencies = []
    let failed = 0
    for (let round = 0; round < ROUNDS; round++) {
      for (const inst of cluster.instances) await warm(inst)
      const rev = `stampede-${lease ? 'lease' : 'off'}-${instances}-${round}-${Date.now()}`
      cluster.setCms(h.cmsWithRev(rev))
      const before = cluster.cmsHits
      const hook = await cluster.revalidate({ tags: ['news'] }, { via: cluster.instances[round % instances].url })
      if (hook.status !== 200) throw new Error(`webhook answered ${hook.status}`)
      await Promise.all(
        cluster.instances.flatMap((inst) =>
          Array.from({ length: BURST }, async () => {
            const t0 = performance.now()
            const page = await h.getPage(`${inst.url}/news`)
            latencies.push(performance.now() - t0)
            if (page.status !== 200) failed++
          }),
        ),
      )
      for (const inst of cluster.instances) await until(inst, rev)
      await h.sleep(500)
      reads.push(cluster.cmsHits - before)
    }
    latencies.sort((a, b) => a - b)
    const q = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))])
    const sorted = [...reads].sort((a, b) => a - b)
    return {
      instances,
      lease,
      reads,
      min: sorted[0],
      median: sorted[Math.floor(sorted.length / 2)],
      max: sorted.at(-1),
      failed,
      p50: q(0.5),
      p99: q(0.99),
    }
  } finally {
    await cluster.stop()
  }
}

async function main() {
  const rows = []
  for (const n of INSTANCES) {
    for (const lease of [true, false]) {
      const r = await measure(n, lease)
      console.log(
        `${n} instances, lease ${lease ? 'on ' : 'off'}: CMS reads per change ${r.min} / ${r.median} / ${r.max} (min/median/max), non-200 ${r.failed}, burst p50 ${r.p50} ms, p99 ${r.p99} ms`,
      )
      rows.push(r)
    }
  }
  const out = {
    date: new Date().toISOString(),
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`,
    version: VERSION,
    rounds: ROUNDS,
    burst: BURST,
    rows,
  }
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true })
  fs.writeFileSync(path.join(__dirname, 'results', 'stampede.json'), `${JSON.stringify(out, null, 1)}\n`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
