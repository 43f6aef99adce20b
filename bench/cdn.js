#!/usr/bin/env node
'use strict'
// npm run bench:cdn: how long after the webhook answers a real CDN (Varnish with docs/varnish.vcl)
// in front of 3 `next start` instances (Next 16, one Redis, SHARED_ISR_CDN_URL) serves the new
// page, and what the purges cost.
//
//   - expire-now: revalidateTag(tag) (`{ expire: 0 }`), ROUNDS times;
//   - stale-while-revalidate: revalidateTag(tag, 'max'), ROUNDS times (the CDN refetches the stale
//     page; the regenerated entry's write purges it again);
//   - cost: PURGE requests (and keys) per change, counted by a proxy between the instances and
//     Varnish; and a burst of 1,000 tags in one webhook: requests, keys, time to deliver.
//
// Each round: the CDN serves the page from its cache (HIT); the CMS changes; the webhook reaches
// one instance; the CDN is polled every 10 ms until it serves the new revision. Writes
// bench/results/cdn.json; the table goes to docs/benchmarks.md by hand.
//
// Options: --rounds=20  --version=16

const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const h = require(path.join(ROOT, 'scripts', 'e2e', 'harness.js'))
const { startVarnish } = require(path.join(ROOT, 'scripts', 'e2e', 'varnish.js'))
const { freePort } = require(path.join(ROOT, 'scripts', 'lib', 'net.js'))

const arg = (name, def) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def
const ROUNDS = Number(arg('rounds', '20'))
const VERSION = arg('version', '16')
const PAGE = '/posts/redis-notes'
const TAG = 'post:redis-notes'

/** Forwards PURGE requests to Varnish, counting them and their keys. */
async function countingProxy(target, port) {
  const seen = { requests: 0, keys: 0 }
  const server = http.createServer((req, res) => {
    seen.requests++
    seen.keys += String(req.headers.xkey ?? '')
      .split(' ')
      .filter(Boolean).length
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return { port, seen, close: () => server.close() }
}

const revOf = (body) => /data-testid="rev"[^>]*>([^<]*)</.exec(body)?.[1]

async function cdnHit(cdn) {
  for (let i = 0; i < 50; i++) {
    const r = await h.request(`${cdn.url}${PAGE}`)
    if (r.status === 200 && r.headers['x-cache'] === 'HIT') return revOf(r.body)
  }
  throw new Error('the CDN never served a HIT')
}

async function untilServed(cdn, rev, t0) {
  while (Date.now() - t0 < 30_000) {
    const r = await h.request(`${cdn.url}${PAGE}`)
    if (r.status === 200 && revOf(r.body) === rev) return Date.now() - t0
    await h.sleep(10)
  }
  throw new Error(`the CDN did not serve ${rev} within 30 s`)
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

async function rounds(cluster, cdn, proxy, label, body) {
  const ms = []
  const calls = []
  for (let k = 0; k < ROUNDS; k++) {
    await cdnHit(cdn)
    const rev = `${label}-${k}-${Date.now().toString(36)}`
    cluster.setCms(h.cmsWithRev(rev))
    const before = proxy.seen.requests
    const res = await cluster.revalidate(body, { via: cluster.instances[k % cluster.instances.length].url })
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`)
    ms.push(await untilServed(cdn, rev, Date.now()))
    await h.sleep(1200) // let every purge of this change land before counting it
    calls.push(proxy.seen.requests - before)
  }
  return { rounds: ROUNDS, p50: pct(ms, 50), p99: pct(ms, 99), max: Math.max(...ms), ms, purgeRequestsPerChange: calls }
}

async function main() {
  const varnishPort = await freePort()
  const proxyPort = await freePort()
  const cluster = await h.startCluster({
    version: VERSION,
    instances: 3,
    useSharedIsr: true,
    redis: true,
    env: { SHARED_ISR_CDN_URL: `varnish://127.0.0.1:${proxyPort}` },
  })
  let cdn
  let proxy
  try {
    cdn = await startVarnish({ backend: new URL(cluster.lbUrl).host, port: varnishPort })
    proxy = await countingProxy(varnishPort, proxyPort)
    const out = { machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model}`, date: new Date().toISOString(), next: cluster.nextVersion }
    out.expireNow = await rounds(cluster, cdn, proxy, 'x', { tags: [TAG] })
    if (VERSION === '16') out.staleWhileRevalidate = await rounds(cluster, cdn, proxy, 's', { tags: [TAG], profile: 'max' })
    // A burst: 1,000 tags in one webhook.
    const before = { ...proxy.seen }
    const t0 = Date.now()
    const tags = Array.from({ length: 1000 }, (_, i) => `burst-${i}-${Date.now().toString(36)}`)
    const res = await cluster.revalidate({ tags })
    if (res.status !== 200) throw new Error(`burst webhook answered ${res.status}`)
    while (proxy.seen.keys - before.keys < 1000 && Date.now() - t0 < 60_000) await h.sleep(20)
    out.burst = {
      tags: 1000,
      purgeRequests: proxy.seen.requests - before.requests,
      keys: proxy.seen.keys - before.keys,
      ms: Date.now() - t0,
    }
    fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true })
    fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'cdn.json'), `${JSON.stringify(out, null, 2)}\n`)
    console.log(JSON.stringify(out, null, 2))
  } finally {
    proxy?.close()
    await cdn?.stop()
    await cluster.stop()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
