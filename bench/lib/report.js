'use strict'
// docs/benchmarks.md and its SVG charts, from one results object (bench/results/latest.json).

const fs = require('node:fs')
const path = require('node:path')
const { barChart } = require('./svg')
const { CONTENDERS } = require('./contenders')

const PEERS_REDIS_GET = ['forte', 'forte3', 'neshca', 'trieb:nomem']
const PEERS_SET = ['forte', 'forte3', 'neshca', 'trieb']
const PEERS_MEMORY = ['forte', 'forte3', 'neshca', 'trieb']

// ------------------------------------------------------------------ formatting

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—')
function ops(n) {
  if (!Number.isFinite(n)) return '—'
  if (n >= 100) return int(n)
  return n.toFixed(n >= 10 ? 1 : 2)
}
function us(v) {
  if (!Number.isFinite(v)) return '—'
  if (v < 10) return `${v.toFixed(1)} µs`
  if (v < 1000) return `${Math.round(v)} µs`
  if (v < 10_000) return `${(v / 1000).toFixed(2)} ms`
  if (v < 1_000_000) return `${(v / 1000).toFixed(1)} ms`
  return `${(v / 1e6).toFixed(2)} s`
}
function bytes(b) {
  if (!Number.isFinite(b)) return '—'
  if (Math.abs(b) < 1024) return `${Math.round(b)} B`
  if (Math.abs(b) < 1024 * 1024) return `${(b / 1024).toFixed(1)} KB`
  return `${(b / 1024 / 1024).toFixed(2)} MB`
}
const x = (r) => (Number.isFinite(r) ? `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×` : '—')
const compact = (n) => {
  if (!Number.isFinite(n)) return '—'
  if (n === 0) return '0'
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`
  return n >= 10 ? String(Math.round(n)) : n.toFixed(1)
}
const PAYLOAD_NAME = {
  page100k: '100 KB APP_PAGE',
  fetch2k: '2 KB FETCH',
  page1m: '1 MB APP_PAGE',
  real: 'real page (23 KB, unpadded)',
  small: 'small page',
}

const NUMERIC = /^(\*\*)?([-—]|[\d][\d,.]*(\s?(µs|ms|s|B|KB|MB|×|%))?)(\*\*)?$/
function table(head, rows) {
  const right = head.map((_, i) => {
    const cells = rows.map((r) => String(r[i] ?? '').trim()).filter((c) => c !== '')
    return cells.length > 0 && cells.filter((c) => NUMERIC.test(c)).length >= cells.length * 0.6
  })
  const out = [`| ${head.join(' | ')} |`, `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`]
  for (const r of rows)
    out.push(
      `| ${r
        .map((c) =>
          String(c ?? '')
            .replace(/\|/g, '\\|')
            .replace(/\n/g, ' '),
        )
        .join(' | ')} |`,
    )
  return out.join('\n')
}

// ------------------------------------------------------------------ lookups

function makeLabels(res) {
  const v = (n) => res.info?.[n]?.version
  const L = {}
  for (const [n, c] of Object.entries(CONTENDERS)) {
    let label = c.label
    if (n === 'forte') label = `@fortedigital ${v(n) || ''}`.trim()
    if (n === 'forte3') label = `@fortedigital ${v(n) || '3.x'} (Next 16 line)`
    if (n === 'neshca') label = `@neshca ${v(n) || ''} (Next 14 shapes)`.replace(' (', ' (')
    if (n === 'trieb') label = `@trieb.work ${v(n) || ''} (10 s in-memory, default)`
    if (n === 'trieb:nomem') label = `@trieb.work ${v('trieb') || v(n) || ''} (in-memory off)`
    if (n === 'next-default') label = `Next ${v(n) || ''} FileSystemCache`
    if (n === 'raw') label = `raw GET/SET, @redis/client ${v(n) || ''}`
    if (c.baseline) label = `shared-isr ${res.baseline?.short || 'baseline'}, L1 ${c.l1 ? 'on' : 'off'}`
    L[n] = label
  }
  return L
}

function pathOf(n) {
  if (n === 'next-default') return 'process memory'
  if (n === 'trieb') return '10 s in-memory copy'
  if (CONTENDERS[n]?.l1) return 'L1'
  return 'Redis'
}

function scen(res, op, payload, concurrency) {
  return res.micro?.scenarios?.find((s) => s.op === op && s.payload === payload && s.concurrency === concurrency)
}
function row(s, n) {
  return s?.rows?.find((r) => r.contender === n && !r.error && Number.isFinite(r.opsPerSec))
}

// ------------------------------------------------------------------ targets

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (!v.length) return NaN
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
/** Median over rounds of a's ops/s / b's ops/s in the same round (paired, robust to outside load). */
function paired(a, b, key = 'rounds') {
  const ra = a?.[key]
  const rb = b?.[key]
  if (!ra || !rb) return NaN
  return median(ra.slice(0, Math.min(ra.length, rb.length)).map((v, i) => v / rb[i]))
}
const both = (agg, pr) => (Number.isFinite(pr) ? `${x(pr)} per-round median, ${x(agg)} overall` : x(agg))

function targets(res) {
  const out = []
  const st = res.status || {}
  const l1On = st['shared-isr:l1'] === 'ok'
  const g1 = scen(res, 'get', 'page100k', 1)
  const s1 = scen(res, 'set', 'page100k', 1)

  // 1. get from Redis
  {
    const s = row(g1, 'shared-isr:redis')
    const floor = row(g1, 'raw')
    const peers = PEERS_REDIS_GET.map((n) => row(g1, n)).filter(Boolean)
    const best = peers.reduce((a, b) => (a && a.opsPerSec >= b.opsPerSec ? a : b), null)
    const worstPeerP99 = peers.length ? Math.min(...peers.map((p) => p.p99us)) : NaN
    if (s && floor) {
      const agg = s.opsPerSec / floor.opsPerSec
      const pr = paired(s, floor)
      const ratio = Number.isFinite(pr) ? pr : agg
      const p99ok = s.p99us < worstPeerP99
      out.push({
        id: 'get-redis',
        target: 'get from Redis (L1 off), 100 KB page, one caller: ≥ 1/1.5 of the raw GET floor, p99 below every peer',
        measured: `${ops(s.opsPerSec)} gets/s = **${both(agg, pr)} the floor** (${ops(floor.opsPerSec)}; needs ≥ 0.67×), ${best ? `${x(s.opsPerSec / best.opsPerSec)} the fastest peer (${ops(best.opsPerSec)})` : ''}; p99 ${us(s.p99us)} vs lowest peer p99 ${us(worstPeerP99)}`,
        met: ratio >= 1 / 1.5 && p99ok,
        parts: { ratio, agg, p99ok },
      })
    } else out.push({ id: 'get-redis', target: 'get from Redis (L1 off)', measured: 'not measured', met: null })
  }
  // 2. get from L1
  {
    const s = row(g1, 'shared-isr:l1')
    const d = row(g1, 'next-default')
    if (!l1On)
      out.push({
        id: 'get-l1',
        target: "get from L1, 100 KB page, one caller: ≥ 1/2 of Next's in-memory cache",
        measured: `L1 ${st['shared-isr:l1'] || 'not measured'}`,
        met: false,
      })
    else if (s && d) {
      const agg = s.opsPerSec / d.opsPerSec
      const pr = paired(s, d)
      const ratio = Number.isFinite(pr) ? pr : agg
      out.push({
        id: 'get-l1',
        target: "get from L1, 100 KB page, one caller: ≥ 1/2 of Next's in-memory cache",
        measured: `${ops(s.opsPerSec)} gets/s = **${both(agg, pr)} Next's default** (${ops(d.opsPerSec)}; needs ≥ 0.5×)`,
        met: ratio >= 0.5,
        parts: { ratio, agg },
      })
    } else out.push({ id: 'get-l1', target: 'get from L1', measured: 'not measured', met: null })
  }
  // 3. set
  {
    const which = l1On ? 'shared-isr:l1' : 'shared-isr:redis'
    const s = row(s1, which)
    const peers = PEERS_SET.map((n) => row(s1, n)).filter(Boolean)
    const best = peers.reduce((a, b) => (a && a.opsPerSec >= b.opsPerSec ? a : b), null)
    if (s && best) {
      const agg = s.opsPerSec / best.opsPerSec
      const pr = paired(s, best)
      const ratio = Number.isFinite(pr) ? pr : agg
      out.push({
        id: 'set',
        target: 'set, 100 KB page, one caller: ≥ 5× the fastest peer (compression included)',
        measured: `${ops(s.opsPerSec)} sets/s (${l1On ? 'L1 on, the default' : 'L1 off'}) = **${both(agg, pr)} the fastest peer** (${ops(best.opsPerSec)}, ${best.contender})`,
        met: ratio >= 5,
        parts: { ratio, agg },
      })
    } else out.push({ id: 'set', target: 'set', measured: 'not measured', met: null })
  }
  // 4. revalidateTag flat
  {
    const levels = (res.micro?.tagScale || [])
      .map((l) => ({ level: l.level, r: l.rows.find((r) => r.contender === 'shared-isr:l1' && Number.isFinite(r.p99us)) }))
      .filter((l) => l.r)
    if (levels.length) {
      const maxP99 = Math.max(...levels.map((l) => l.r.p99us))
      const first = levels[0]
      const last = levels[levels.length - 1]
      const has1M = levels.some((l) => l.level >= 1_000_000)
      out.push({
        id: 'revalidate',
        target: 'revalidateTag flat from 10k to 1M cached entries, p99 under 2 ms',
        measured: `p99 ${levels.map((l) => `${compact(l.level)}: ${us(l.r.p99us)}`).join(', ')}; p50 ${compact(last.level)}/${compact(first.level)} = ${x(last.r.p50us / first.r.p50us)}${has1M ? '' : ' (1M not measured in this run)'}`,
        met: maxP99 >= 2000 ? false : has1M ? true : null,
        parts: { maxP99 },
      })
    } else out.push({ id: 'revalidate', target: 'revalidateTag flat', measured: 'not measured', met: null })
  }
  // 5. memory per entry. Peers are not all given the same value (@neshca gets the Next 14
  // shape, which has no segmentData), so entries are compared per byte of the value stored.
  {
    const parts = []
    let met = true
    let any = false
    for (const payload of ['real', 'page100k']) {
      const m = res.micro?.memory?.find((p) => p.payload === payload)
      const per = (r) => r.bytesPerEntry / r.valueBytes
      const s = m?.rows.find((r) => r.contender === 'shared-isr:redis' && Number.isFinite(r.bytesPerEntry))
      const peers = (m?.rows || []).filter((r) => PEERS_MEMORY.includes(r.contender) && Number.isFinite(r.bytesPerEntry) && r.valueBytes)
      if (!s || !peers.length) continue
      any = true
      const min = peers.reduce((a, b) => (per(a) <= per(b) ? a : b))
      const ratio = per(s) / per(min)
      if (ratio > 0.6) met = false
      parts.push(
        `${PAYLOAD_NAME[payload]}: ${bytes(s.bytesPerEntry)} (${per(s).toFixed(2)} B per value byte) = **${x(ratio)}** the smallest peer (${min.contender}: ${bytes(min.bytesPerEntry)}, ${per(min).toFixed(2)} B per value byte)`,
      )
    }
    out.push({
      id: 'memory',
      target: 'Redis memory per page entry ≤ 0.6× the smallest peer (real page and 100 KB page; per byte of the value stored)',
      measured: any ? parts.join('; ') : 'not measured',
      met: any ? met : null,
    })
  }
  // 6. macro
  {
    const mc = res.macro?.contenders || []
    const s = mc.find((c) => c.name === 'shared-isr' && Number.isFinite(c.rps))
    const d = mc.find((c) => c.name === 'next-default' && Number.isFinite(c.rps))
    const peers = mc.filter((c) => ['forte', 'trieb'].includes(c.name) && Number.isFinite(c.rps))
    const best = peers.reduce((a, b) => (a && a.rps >= b.rps ? a : b), null)
    if (s && d && best) {
      const pPeer = paired(s, best, 'roundsRps')
      const pDef = paired(s, d, 'roundsRps')
      const vsPeer = Number.isFinite(pPeer) ? pPeer : s.rps / best.rps
      const vsDefault = Number.isFinite(pDef) ? pDef : s.rps / d.rps
      out.push({
        id: 'macro',
        target: "macro (3 instances behind the balancer): requests/s ≥ the best peer's and ≥ 0.9× Next's default",
        measured: `${ops(s.rps)} req/s = **${both(s.rps / best.rps, pPeer)} the best peer** (${ops(best.rps)}, ${best.name}) and **${both(s.rps / d.rps, pDef)} Next's default** (${ops(d.rps)})`,
        met: vsPeer >= 1 && vsDefault >= 0.9,
        parts: { vsPeer, vsDefault },
      })
    } else out.push({ id: 'macro', target: 'macro', measured: res.macro?.error ? `failed: ${res.macro.error}` : 'not measured', met: null })
  }
  return out.concat(bridgeTargets(res))
}

const PAYLOAD_SHORT = { fetch2k: '2 KB fetch entry', page100k: '100 KB page', page1m: '1 MB page' }

/**
 * Issue 15: the Redis path (L1 off) against the raw node-redis client sending the same bytes,
 * and against the peers. One caller unless said; paired per-round ratios, as above.
 */
function bridgeTargets(res) {
  const out = []
  const cs = (r) => (Number.isFinite(r?.csPerOp) ? r.csPerOp.toFixed(1) : '—')
  const vsRaw = (op, payload, concurrency) => {
    const sc = scen(res, op, payload, concurrency)
    const s = row(sc, 'shared-isr:redis')
    const raw = row(sc, 'raw')
    if (!s || !raw) return null
    const pr = paired(s, raw)
    const agg = s.opsPerSec / raw.opsPerSec
    return { sc, s, raw, agg, pr, ratio: Number.isFinite(pr) ? pr : agg }
  }
  // Small entries: ahead of every peer and >= 0.7x the raw client.
  for (const op of ['get', 'set']) {
    const id = `bridge-${op}-2k`
    const target = `${op} of a 2 KB fetch entry from Redis, one caller: ahead of every peer and ≥ 0.7× the raw ${op.toUpperCase()}`
    const m = vsRaw(op, 'fetch2k', 1)
    if (!m) {
      out.push({ id, target, measured: 'not measured', met: null })
      continue
    }
    const peers = (op === 'get' ? PEERS_REDIS_GET : PEERS_SET).map((n) => row(m.sc, n)).filter(Boolean)
    const best = peers.reduce((a, b) => (a && a.opsPerSec >= b.opsPerSec ? a : b), null)
    const vsPeer = best ? (Number.isFinite(paired(m.s, best)) ? paired(m.s, best) : m.s.opsPerSec / best.opsPerSec) : NaN
    out.push({
      id,
      target,
      measured: `${ops(m.s.opsPerSec)}/s = **${both(m.agg, m.pr)} the raw client** (${ops(m.raw.opsPerSec)}; needs ≥ 0.7×)${best ? `, ${x(vsPeer)} the fastest peer (${ops(best.opsPerSec)}, ${best.contender})` : ''}; context switches per call ${cs(m.s)} (raw ${cs(m.raw)})`,
      met: m.ratio >= 0.7 && (!best || vsPeer > 1),
      parts: { ratio: m.ratio, vsPeer },
    })
  }
  // Large pages: >= 0.8x the raw client (compression included for the set).
  for (const op of ['get', 'set']) {
    const id = `bridge-${op}-100k`
    const target = `${op} of a 100 KB page from Redis, one caller: ≥ 0.8× the raw ${op.toUpperCase()} of the same bytes`
    const m = vsRaw(op, 'page100k', 1)
    out.push(
      m
        ? {
            id,
            target,
            measured: `${ops(m.s.opsPerSec)}/s = **${both(m.agg, m.pr)} the raw client** (${ops(m.raw.opsPerSec)}; needs ≥ 0.8×); context switches per call ${cs(m.s)} (raw ${cs(m.raw)})`,
            met: m.ratio >= 0.8,
            parts: { ratio: m.ratio },
          }
        : { id, target, measured: 'not measured', met: null },
    )
  }
  // 16 callers, every size measured: throughput >= 0.8x the raw client's, p99 no worse.
  {
    const parts = []
    let met = true
    let any = false
    for (const payload of ['fetch2k', 'page100k', 'page1m'])
      for (const op of ['get', 'set']) {
        const m = vsRaw(op, payload, 16)
        if (!m) continue
        any = true
        const ok = m.ratio >= 0.8 && m.s.p99us <= m.raw.p99us
        if (!ok) met = false
        parts.push(
          `${op} ${PAYLOAD_SHORT[payload]}: **${x(m.ratio)}**, p99 ${us(m.s.p99us)} vs ${us(m.raw.p99us)}, context switches ${cs(m.s)} vs ${cs(m.raw)}${ok ? '' : ' ✗'}`,
        )
      }
    out.push({
      id: 'bridge-16',
      target: "16 callers, from Redis, every size: throughput ≥ 0.8× the raw client's, p99 no worse than its",
      measured: any ? parts.join('; ') : 'not measured',
      met: any ? met : null,
    })
  }
  return out
}

const verdict = (m) => (m === true ? '✅ met' : m === false ? '❌ not met' : '— not measured')

// ------------------------------------------------------------------ charts

function charts(res, L, docsDir) {
  const files = []
  const g1 = scen(res, 'get', 'page100k', 1)
  const g16 = scen(res, 'get', 'page100k', 16)
  if (g1) {
    const names = g1.rows.map((r) => r.contender)
    const rows = names
      .map((n) => ({ n, v1: row(g1, n)?.opsPerSec, v16: row(g16, n)?.opsPerSec }))
      .sort((a, b) => (b.v1 || 0) - (a.v1 || 0))
      .map(({ n, v1, v16 }) => ({
        label: `${L[n]} [${pathOf(n)}]`,
        values: [v1 ?? null, v16 ?? null],
        highlight: n.startsWith('shared-isr'),
        missing: [res.status?.[n] !== 'ok' ? res.status?.[n] : 'n/a', 'n/a'],
      }))
    for (const n of Object.keys(res.status || {})) {
      if (res.status[n] !== 'ok' && !names.includes(n) && n.startsWith('shared-isr'))
        rows.push({ label: `${L[n]} [${pathOf(n)}]`, values: [null, null], missing: [res.status[n], ''], highlight: true })
    }
    fs.writeFileSync(
      path.join(docsDir, 'benchmarks-get.svg'),
      barChart({
        title: 'get of a 100 KB APP_PAGE: gets/s per contender',
        subtitle: `${res.meta.date.slice(0, 10)} · ${res.meta.machine.nproc} cores · Redis ${res.meta.versions.redis} on loopback · same payload, same run`,
        rows,
        series: ['1 caller', '16 concurrent callers'],
        log: true,
        fmt: compact,
      }),
    )
    files.push('benchmarks-get.svg')
  }
  const ts = res.micro?.tagScale || []
  if (ts.length) {
    const names = [...new Set(ts.flatMap((l) => l.rows.map((r) => r.contender)))]
    const rows = names.map((n) => ({
      label: L[n],
      values: ts.map((l) => l.rows.find((r) => r.contender === n)?.p50us / 1000 || null),
      missing: ts.map((l) => (l.rows.find((r) => r.contender === n)?.skipped ? 'skipped' : 'n/a')),
      highlight: n.startsWith('shared-isr'),
    }))
    fs.writeFileSync(
      path.join(docsDir, 'benchmarks-revalidate.svg'),
      barChart({
        title: 'revalidateTag (one tag): p50 latency in ms by number of cached entries',
        subtitle: 'lower is better · each contender populated with its own set()',
        rows,
        series: ts.map((l) => `${compact(l.level)} entries`),
        log: true,
        fmt: (v) => (v >= 1000 ? `${+(v / 1000).toPrecision(3)} s` : v >= 1 ? `${+v.toPrecision(3)} ms` : `${+v.toPrecision(2)} ms`),
      }),
    )
    files.push('benchmarks-revalidate.svg')
  }
  const mc = (res.macro?.contenders || []).filter((c) => Number.isFinite(c.rps))
  if (mc.length) {
    fs.writeFileSync(
      path.join(docsDir, 'benchmarks-macro.svg'),
      barChart({
        title: 'Next.js 15, 3 instances behind a balancer: requests/s on ISR pages',
        subtitle: `autocannon, ${res.macro.profile.connections} connections, ${res.macro.profile.rounds} interleaved rounds of ${res.macro.profile.duration} s`,
        rows: mc.map((c) => ({ label: c.label, values: [c.rps], highlight: c.name.startsWith('shared-isr') })),
        series: ['req/s'],
        fmt: compact,
      }),
    )
    files.push('benchmarks-macro.svg')
  }
  return files
}

// ------------------------------------------------------------------ markdown

function render(res, { docsDir, notes }) {
  const L = makeLabels(res)
  const T = targets(res)
  const files = charts(res, L, docsDir)
  const m = res.meta
  const st = res.status || {}
  const out = []
  const p = (s = '') => out.push(s)

  p('# Benchmarks')
  p()
  p(`<!-- generated by bench/run.js on ${m.date}; do not edit by hand (hand-written analysis lives in bench/notes.md) -->`)
  p()
  p(
    `shared-isr against every peer, in one run on one machine: the same Redis, the same payloads taken from a real build of the example app, the same warm-up and concurrency for all, batches interleaved round-robin between contenders. ${m.profile === 'quick' ? '**This is a `--quick` smoke run: few short batches, numbers are indicative only.**' : ''}`,
  )
  p()
  p('```sh')
  p(`${m.command}`)
  p('```')
  p()
  p('## Targets (issues 5 and 15), each a ratio measured in this run')
  p()
  p(
    "Ratios are given two ways: the median over rounds of the ratio between the two contenders' batches in the same round (a paired comparison: both batches ran within about a second of each other, so load from other work on the machine affects both), which is what the verdict uses, and the ratio of the totals over the whole run.",
  )
  p()
  p(
    table(
      ['target', 'measured', 'verdict'],
      T.map((t) => [t.target, t.measured, verdict(t.met)]),
    ),
  )
  p()
  if (files.includes('benchmarks-get.svg')) p('![get of a 100 KB page, gets/s per contender](benchmarks-get.svg)')
  p()
  if (res.baseline) for (const line of baselineSection(res, L)) p(line)

  p('## Machine and versions')
  p()
  const mac = m.machine
  p(
    table(
      ['', ''],
      [
        ['date', m.date],
        ['command', `\`${m.command}\``],
        ['CPU', `${mac.cpu} · \`nproc\` = ${mac.nproc}`],
        ['memory', `${mac.memGB} GB`],
        ['load (1-min) at the start of the measured run', `${mac.loadBefore} (${mac.loadWait})`],
        ['load (1-min) at the end', mac.loadAfter],
        [
          'other work on the machine',
          'other sessions build and test on this machine at the same time; absolute numbers are noisy, only same-run ratios are compared',
        ],
        ['Node', m.versions.node],
        ['Redis', `${m.versions.redis} (loopback, \`--save "" --appendonly no\`, one database per contender)`],
        ['Next (micro: FileSystemCache; macro: the e2e app)', m.versions.next],
        [
          'shared-isr',
          `${m.versions.sharedIsr} (this checkout, \`${m.versions.gitHead}\`${m.versions.dirty ? ', with uncommitted changes' : ''})`,
        ],
        ...(res.baseline
          ? [
              [
                'shared-isr baseline',
                `${res.baseline.version} at \`${res.baseline.short}\` (\`--baseline=${res.baseline.rev}\`, ${res.baseline.date.slice(0, 10)}: ${res.baseline.subject.replace(/\|/g, '/')}); ${res.baseline.setup.join('; ')}`,
              ],
            ]
          : []),
        ...Object.entries(m.versions.packages).map(([k, v]) => [k, v]),
      ],
    ),
  )
  p()
  if (m.versions.forte3) p(`@fortedigital 3.x: ${m.versions.forte3}`)
  p()

  p('## Payloads')
  p()
  const fx = res.fixtures
  const src = fx.source
  p(`Taken from \`${src.build}\` (Next ${src.nextVersion}), page \`${src.page}\`, saved in \`bench/fixtures/\`:`)
  p()
  p(
    table(
      ['payload', 'bytes', 'made of', 'gzip -6 ratio', 'brotli q5 ratio'],
      [
        [
          'real page',
          int(fx.sizes.real),
          `the page as built: html ${int(src.realBytes.html)} B + rscData ${int(src.realBytes.rsc)} B + segmentData ${src.realBytes.segments.map(([k, b]) => `\`${k}\` ${int(b)} B`).join(', ')}`,
          fx.compress.real.gzip6.toFixed(1),
          fx.compress.real.brotli5.toFixed(1),
        ],
        [
          '100 KB APP_PAGE',
          int(fx.sizes.page100k),
          `**padded**: the real page is ${int(fx.sizes.real)} B, so each part is the same part of ${src.padded.html.distinctPages} real pages of the build concatenated (html with html, rsc with rsc, each segment with the same segment), cut at the size that keeps the real page's proportions`,
          fx.compress.page100k.gzip6.toFixed(1),
          fx.compress.page100k.brotli5.toFixed(1),
        ],
        [
          '1 MB APP_PAGE',
          int(fx.sizes.page1m),
          'generated at run time: ten copies of each part of the 100 KB page',
          fx.compress.page1m.gzip6.toFixed(1),
          fx.compress.page1m.brotli5.toFixed(1),
        ],
        [
          '2 KB FETCH',
          int(fx.sizes.fetch2k),
          `a real fetch entry of the app (\`${path.basename(src.fetch.from).slice(0, 12)}…\`, ${int(src.fetch.realBytes)} B), its CMS JSON body extended with a copy of its own posts`,
          '',
          '',
        ],
        [
          'small page (revalidateTag populations)',
          int(fx.sizes.small),
          'the first 400 B of the html and 200 B of the rsc of the real page, with its 7 tags',
          '',
          '',
        ],
      ],
    ),
  )
  p()
  p(
    "The padded pages are more compressible than the real one (pages of one app share their layout; the 1 MB page repeats itself), so anything that depends on compression (memory per entry, bytes on the wire, and speed for contenders that compress) looks better on them than on a real page of that size. The memory target is therefore checked on the real page as well. Every entry `i` has its own key and its own tags (`_N_T_/posts/e<i>`, `post:e<i>` in place of the real page's), all other tags as built; values and `ctx` objects are exactly what Next 15.5 passes (Next 14.2 shapes for @neshca: `kind: 'PAGE'`, the flight data as a string in `pageData`, no `segmentData`).",
  )
  p()

  p('## Contenders')
  p()
  const cRows = Object.keys(CONTENDERS)
    .filter((n) => !CONTENDERS[n].baseline || res.baseline)
    .map((n) => [L[n], pathOf(n), contenderSetup(n, res), st[n] === 'ok' ? 'measured' : st[n] || 'not run'])
  p(table(['contender', 'get path', 'set-up', 'status'], cRows))
  p()

  // ---------------------------------------------------------------- micro
  p('## Micro benchmarks (handler API, Node, Redis on loopback)')
  p()
  p(
    '"CPU per get/set" is the contender\'s whole process (every thread: `process.cpuUsage()`) plus the Redis server (`INFO cpu`), per call, over the measured batches of one caller; it depends much less on other load on the machine than calls per second do. "context switches" counts those of every thread of the contender\'s process (`/proc/self/task/*/status`), per call: handing a call to another thread and back costs two or more.',
  )
  p()
  p(
    `Each contender runs in its own process with its own Redis database. Per scenario: one warm-up batch per contender, then ${res.micro.rounds} rounds; in each round every contender runs one batch of ${res.micro.batchMs} ms, the first contender rotating. "1 caller" awaits each call before the next; "16 callers" keeps 16 calls in flight. Gets cycle over a pool of entries (${Object.entries(
      res.micro.pool,
    )
      .filter(([k]) => k !== 'real')
      .map(([k, v]) => `${v} for ${PAYLOAD_NAME[k]}`)
      .join(
        ', ',
      )}), stored first with the contender's own \`set\` and read back once to check the value survives the round trip byte for byte. p50/p99 are per call.`,
  )
  p()
  for (const payload of res.micro.payloads) {
    p(`### get, ${PAYLOAD_NAME[payload]}`)
    p()
    const s1 = scen(res, 'get', payload, 1)
    const s16 = scen(res, 'get', payload, 16)
    const floor1 = row(s1, 'raw')
    const names = unionNames(s1, s16, st)
    p(
      table(
        [
          'contender',
          'path',
          '1 caller: gets/s',
          'p50',
          'p99',
          'CPU per get: client + Redis',
          'context switches per get',
          '16 callers: gets/s',
          'p50',
          'p99',
          'vs floor (1 caller)',
        ],
        names.map((n) => {
          const a = s1?.rows.find((r) => r.contender === n)
          const b = s16?.rows.find((r) => r.contender === n)
          if (st[n] && st[n] !== 'ok') return [L[n], pathOf(n), st[n], '', '', '', '', '', '', '', '']
          return [
            L[n],
            pathOf(n),
            cell(a, 'opsPerSec'),
            cell(a, 'p50us'),
            cell(a, 'p99us'),
            cpuCell(a),
            csCell(a),
            cell(b, 'opsPerSec'),
            cell(b, 'p50us'),
            cell(b, 'p99us'),
            a && floor1 && Number.isFinite(a.opsPerSec) ? x(a.opsPerSec / floor1.opsPerSec) : '',
          ]
        }),
      ),
    )
    p()
    const bad = [...(s1?.rows || []), ...(s16?.rows || [])].filter((r) => r.misses || r.errors || r.error)
    for (const r of bad)
      p(
        `- ${L[r.contender]}: ${r.error ? `failed: ${r.error}` : `${r.misses || 0} misses, ${r.errors || 0} errors${r.firstError ? ` (${firstLine(r.firstError)})` : ''}`}`,
      )
    if (bad.length) p()
  }
  for (const payload of res.micro.payloads) {
    p(`### set, ${PAYLOAD_NAME[payload]}`)
    p()
    const s1 = scen(res, 'set', payload, 1)
    const s16 = scen(res, 'set', payload, 16)
    const names = unionNames(s1, s16, {})
    const peerBest = Math.max(...PEERS_SET.map((n) => row(s1, n)?.opsPerSec || 0))
    p(
      table(
        [
          'contender',
          '1 caller: sets/s',
          'p50',
          'p99',
          'CPU per set: client + Redis',
          'context switches per set',
          '16 callers: sets/s',
          'p50',
          'p99',
          'vs fastest peer (1 caller)',
        ],
        names.map((n) => {
          const a = s1?.rows.find((r) => r.contender === n)
          const b = s16?.rows.find((r) => r.contender === n)
          return [
            L[n],
            cell(a, 'opsPerSec'),
            cell(a, 'p50us'),
            cell(a, 'p99us'),
            cpuCell(a),
            csCell(a),
            cell(b, 'opsPerSec'),
            cell(b, 'p50us'),
            cell(b, 'p99us'),
            a && peerBest && Number.isFinite(a.opsPerSec) ? x(a.opsPerSec / peerBest) : '',
          ]
        }),
      ),
    )
    p()
  }
  p(
    "Next's default writes every set to disk as well (`flushToDisk`, as in production); its memory LRU estimates each value's size with `JSON.stringify(rscData)`.",
  )
  p()

  if (res.micro.revalidated.length) {
    p('### get of an entry another instance just revalidated')
    p()
    p(
      "Per operation: instance B (a second process of the same contender, same Redis) stores entry *i*; instance A reads it (untimed, so an L1 holds it); B calls `revalidateTag` with the entry's own tag; then A's `get` is timed. \"served old content\" counts gets that returned the old value as a fresh hit (what Next would serve without regenerating): it must be 0 for a shared cache. Next's default cannot share: there A revalidates itself.",
    )
    p()
    for (const r of res.micro.revalidated) {
      p(`**${PAYLOAD_NAME[r.payload]}, ${r.concurrency === 1 ? '1 caller' : `${r.concurrency} callers`}**`)
      p()
      p(
        table(
          ['contender', 'gets', 'p50', 'p99', 'served old content', 'for how long after B returned', 'errors'],
          r.rows.map((x_) => [
            L[x_.contender] + (x_.sameProcess ? ' (revalidated in the same process)' : ''),
            x_.ops,
            us(x_.p50us),
            us(x_.p99us),
            x_.servedOld ? `**${x_.servedOld}**` : '0',
            windowText(x_.windowsMs),
            x_.errors ? `${x_.errors} (${x_.firstError})` : '0',
          ]),
        ),
      )
      p()
    }
  }

  if (res.micro.tagScale.length) {
    p('### revalidateTag with 10k, 100k and 1M cached entries')
    p()
    p(
      `Each contender is populated with its own \`set\` (small pages, 128 calls in flight, so node-redis pipelines; one contender at a time, not measured), then revalidates one tag at a time (one caller), each tag belonging to one entry (\`post:s<j>\`, *j* spread over the population): the everyday CMS webhook. Up to ${res.micro.tagMaxOps} calls per batch, batches of at most ${res.micro.tagBatchMs} ms (at least one call), ${res.micro.tagRounds} interleaved rounds. A contender is skipped at a level when populating it would take more than ${Math.round(res.micro.populateCapMs / 60000)} minutes.`,
    )
    p()
    if (files.includes('benchmarks-revalidate.svg')) p('![revalidateTag p50 by number of entries](benchmarks-revalidate.svg)')
    p()
    const names = [...new Set(res.micro.tagScale.flatMap((l) => l.rows.map((r) => r.contender)))]
    const head = ['contender', ...res.micro.tagScale.flatMap((l) => [`${compact(l.level)}: p50`, 'p99', 'calls'])]
    p(
      table(
        head,
        names.map((n) => [
          L[n],
          ...res.micro.tagScale.flatMap((l) => {
            const r = l.rows.find((z) => z.contender === n)
            if (!r) return ['', '', '']
            if (r.skipped) return ['skipped', '', '']
            if (r.error) return ['failed', '', '']
            return [us(r.p50us), us(r.p99us), r.ops]
          }),
        ]),
      ),
    )
    p()
    p(
      table(
        ['contender', ...res.micro.tagScale.map((l) => `sets/s populating to ${compact(l.level)}`)],
        names.map((n) => [
          L[n],
          ...res.micro.tagScale.map((l) => {
            const r = l.rows.find((z) => z.contender === n)
            return r?.skipped ? r.skipped : r?.populateRate ? int(r.populateRate) : ''
          }),
        ]),
      ),
    )
    p()
  }

  if (res.micro.memory.length) {
    p('### Redis memory per entry')
    p()
    p(
      `\`MEMORY USAGE <key> SAMPLES 0\` summed over every key in the contender's database after storing ${res.micro.memory[0].entries} entries (distinct keys and tags) with its own \`set\`, minus before, divided by the number of entries: the entry plus its share of the tag index (hash fields). \`used_memory\` delta per entry as a cross-check.`,
    )
    p()
    p(
      '"per value byte" divides by the bytes of the value the contender was given (html + rscData + segmentData; @neshca\'s Next 14 value has no segmentData, so it is given fewer bytes: the raw comparison flatters it, the per-byte one does not). Redis rounds allocations up to its allocator\'s size classes, which shows in the raw floor too.',
    )
    p()
    const names = [...new Set(res.micro.memory.flatMap((m_) => m_.rows.map((r) => r.contender)))]
    for (const m_ of res.micro.memory) {
      p(`**${PAYLOAD_NAME[m_.payload]}**`)
      p()
      p(
        table(
          ['contender', 'value given', 'Redis bytes per entry', 'per value byte', 'used_memory Δ per entry', 'keys after'],
          names.map((n) => {
            const r = m_.rows.find((z) => z.contender === n)
            if (!r) return [L[n], '', '', '', '', '']
            if (r.error) return [L[n], 'failed', r.error, '', '', '']
            return [
              L[n],
              bytes(r.valueBytes),
              bytes(r.bytesPerEntry),
              r.valueBytes ? (r.bytesPerEntry / r.valueBytes).toFixed(2) : '',
              bytes(r.usedMemoryPerEntry),
              r.keys,
            ]
          }),
        ),
      )
      p()
    }
    const keysOf = res.micro.memory.find((m_) => m_.payload === 'page100k') || res.micro.memory[0]
    p(
      'Keys written: ' +
        keysOf.rows
          .filter((r) => r.keyPatterns)
          .map(
            (r) =>
              `${L[r.contender]}: ${r.keyPatterns
                .slice(0, 4)
                .map((k) => `\`${k}\``)
                .join(', ')}`,
          )
          .join(' · '),
    )
    p()
  }

  if (res.micro.wire.length) {
    p('### Bytes on the wire')
    p()
    p(
      `\`INFO stats\` \`total_net_output_bytes\` / \`total_net_input_bytes\` deltas around ${res.micro.wire[0].ops} sequential calls of one contender (nothing else running), per call, the cost of the INFO calls themselves subtracted. Sets first; gets after every pool entry has been read twice (steady state: a contender with an in-process copy reads nothing from Redis). Out = Redis → handler, in = handler → Redis.`,
    )
    p()
    const names = [...new Set(res.micro.wire.flatMap((w) => w.rows.map((r) => r.contender)))]
    p(
      table(
        ['contender', ...res.micro.wire.flatMap((w) => [`${PAYLOAD_NAME[w.payload]}: out per get`, 'in per set'])],
        names.map((n) => [
          L[n] + ` [${pathOf(n)}]`,
          ...res.micro.wire.flatMap((w) => {
            const r = w.rows.find((z) => z.contender === n)
            return r ? [bytes(r.outPerGet), bytes(r.inPerSet)] : ['', '']
          }),
        ]),
      ),
    )
    p()
  }

  if (res.micro.anatomy.length) {
    p('### Anatomy of a shared-isr get and set (100 KB page, one caller)')
    p()
    p(
      'Each part timed alone (shared-isr\'s own modules called directly), interleaved with the whole handler calls and the raw floor in the same rounds. "sync part" is the time the addon\'s `set` holds the JS thread before returning its promise.',
    )
    p()
    const a = res.micro.anatomy[0]
    const r_ = (label, k) => (a[k] ? [label, ops(a[k].opsPerSec), us(a[k].p50us), us(a[k].meanUs)] : null)
    p(
      table(
        ['step', 'calls/s', 'p50', 'mean'],
        [
          r_(`\`encodeValue\` (JS codec, value → ${bytes(a.payloadBytes)})`, 'encode'),
          r_('`decodeValue` (JS codec, bytes → value)', 'decode'),
          r_('addon `get` (Redis round trip, envelope check, tag check; no JS decode)', 'nativeGet'),
          r_('**handler `get`**, L1 off (all of it)', 'handlerGet'),
          r_('raw `GET` of the page bytes, node-redis (floor)', 'rawGet'),
          r_('addon `set`: sync part only (envelope, CRC)', 'nativeSetSync'),
          r_('addon `set` (envelope + Redis `SET`), encoded bytes given', 'nativeSet'),
          r_('**handler `set`**, L1 off (encode + addon set)', 'handlerSet'),
          r_('**handler `set`**, L1 on (also keeps a decoded copy)', 'handlerSetL1'),
          r_('raw `SET` of the page bytes, node-redis (floor)', 'rawSet'),
        ].filter(Boolean),
      ),
    )
    p()
  }

  // ---------------------------------------------------------------- macro
  p('## Macro benchmark (real Next.js)')
  p()
  const mc = res.macro
  if (!mc || mc.error) p(`Not run: ${mc?.error || 'skipped'}`)
  else {
    p(
      `The e2e app (examples/blog) on Next ${mc.contenders.find((c) => c.nextVersion)?.nextVersion || ''}, one cluster per contender (\`scripts/e2e/harness.js\` \`startCluster({ version: '15', instances: 3 })\`: 3 \`next start\` processes, each with its own copy of the build, behind the harness's round-robin balancer, which opens a new upstream connection per request; own redis-server per cluster). All clusters run at once; load batches alternate between them. Load: autocannon from its own process, ${mc.profile.connections} connections, ${mc.profile.rounds} rounds of ${mc.profile.duration} s per contender after a ${mc.profile.warm} s warm-up, cycling over the ISR pages ${mc.loadPaths.map((x_) => `\`${x_}\``).join(', ')}. p50/p99 are the median over rounds of autocannon's per-round percentiles. The peers plug in through \`bench/handlers/\` (one build for all, \`BENCH_CONTENDER\` picks the handler).`,
    )
    p()
    if (Object.keys(mc.excludedPaths || {}).length) {
      p('Left out of the load because not every contender serves them:')
      for (const [pth, who] of Object.entries(mc.excludedPaths))
        p(
          `- \`${pth}\`: ${who.join('; ')} (a prerendered page of a closed route, \`dynamicParams = false\`: on a cache miss Next answers 404; the handler must serve the build output)`,
        )
      p()
    }
    if (files.includes('benchmarks-macro.svg')) p('![macro requests/s](benchmarks-macro.svg)')
    p()
    const d = mc.contenders.find((c) => c.name === 'next-default' && Number.isFinite(c.rps))
    p(
      table(
        ['contender', 'req/s', 'p50', 'p99', 'vs default', 'rounds (req/s)', 'non-2xx', 'errors', 'after warm-up'],
        mc.contenders.map((c) => [
          c.label,
          c.error && !Number.isFinite(c.rps) ? `failed: ${c.error}` : ops(c.rps),
          Number.isFinite(c.p50ms) ? `${c.p50ms} ms` : '',
          Number.isFinite(c.p99ms) ? `${c.p99ms} ms` : '',
          d && Number.isFinite(c.rps) ? x(c.rps / d.rps) : '',
          (c.roundsRps || []).map((v) => Math.round(v)).join(', '),
          c.non2xx ?? '',
          c.errors ?? '',
          Object.entries(c.cacheAfterWarm || {})
            .map(([k, v]) => `${v}× ${k}`)
            .join(', '),
        ]),
      ),
    )
    p()
    p('### Invalidation lag')
    p()
    p(
      `The CMS content changes, the webhook (\`POST /api/revalidate\` \`{ tags: ["${'post:hello-world'}"] }\`) goes through the balancer to one instance; from its response, every instance is polled directly (\`GET /posts/hello-world\` every 10 ms) until it shows the new revision. ${mc.lag[0]?.trials || ''} trials per contender, interleaved; give-up after ${(mc.lag[0]?.timeoutMs || 0) / 1000} s. The lag includes the regeneration (render) each instance does on its first request after the revalidation.`,
    )
    p()
    p(
      table(
        ['contender', 'all 3 instances updated', 'lag p50', 'lag max', 'webhook response', 'instances updated per trial'],
        mc.lag.map((l) => [
          mc.contenders.find((c) => c.name === l.contender)?.label || l.contender,
          `${l.reachedAll}/${l.trials}`,
          l.lagMedianMs !== null ? `${Math.round(l.lagMedianMs)} ms` : 'never',
          l.lagMaxMs !== null ? `${Math.round(l.lagMaxMs)} ms` : '',
          `${Math.round(l.webhookMedianMs)} ms`,
          l.instancesUpdated.join(', '),
        ]),
      ),
    )
    p()
  }

  // ---------------------------------------------------------------- gaps
  p('## Gaps')
  p()
  const missed = T.filter((t) => t.met === false)
  if (!missed.length) p('Every target measured in this run is met.')
  else p(`Targets not met in this run: ${missed.map((t) => t.id).join(', ')}.`)
  p()
  if (missed.some((t) => t.id === 'set')) {
    const s1 = scen(res, 'set', 'page100k', 1)
    const floor = row(s1, 'raw')
    const peers = PEERS_SET.map((n) => row(s1, n)).filter(Boolean)
    const best = peers.reduce((a, b) => (a && a.opsPerSec >= b.opsPerSec ? a : b), null)
    if (floor && best) {
      p('### set: the floor itself is near the target')
      p()
      p(
        `A raw \`SET\` of the same 100 KB from node-redis (no codec, no envelope, no tags) does ${ops(floor.opsPerSec)} sets/s with one caller = ${x(floor.opsPerSec / best.opsPerSec)} the fastest peer (${best.contender}, ${ops(best.opsPerSec)}). With one caller a set is bounded by moving ~100 KB through the client, the loopback socket and Redis, so 5× the fastest peer needs fewer bytes sent (compression) *and* a per-call cost below the floor's; the anatomy table and the CPU and context-switch columns show where shared-isr's set spends its time.`,
      )
      p()
    }
  }
  // Only while shared-isr stores pages uncompressed (then this is what compression would change).
  const mem100 = res.micro?.memory?.find((z) => z.payload === 'page100k')?.rows.find((r) => r.contender === 'shared-isr:redis')
  const uncompressed = mem100?.valueBytes && mem100.bytesPerEntry / mem100.valueBytes > 0.9
  if (res.compression?.length && uncompressed && missed.some((t) => t.id === 'memory' || t.id === 'set')) {
    p('### What compression would change (memory per entry, bytes per set)')
    p()
    p(
      "Node's zlib on the exact bytes shared-isr's codec produces for each page (one thread, synchronous, in the orchestrator process; indicative: a Rust implementation could use other codecs). \"projected vs smallest peer\" replaces the payload in shared-isr's measured entry by the compressed one and compares per byte of value, as the memory target does.",
    )
    p()
    const rowsOut = []
    for (const c of res.compression) {
      const m = res.micro?.memory?.find((z) => z.payload === c.payload)
      const s = m?.rows.find((r) => r.contender === 'shared-isr:redis' && Number.isFinite(r.bytesPerEntry))
      const peers = (m?.rows || []).filter((r) => PEERS_MEMORY.includes(r.contender) && Number.isFinite(r.bytesPerEntry) && r.valueBytes)
      const minPer = peers.length ? Math.min(...peers.map((r) => r.bytesPerEntry / r.valueBytes)) : NaN
      for (const r of c.rows) {
        const projected = s ? (s.bytesPerEntry - c.encodedBytes + r.bytes) / s.valueBytes : NaN
        rowsOut.push([
          PAYLOAD_NAME[c.payload],
          r.codec,
          `${bytes(c.encodedBytes)} → ${bytes(r.bytes)}`,
          x(r.ratio),
          us(r.compressUs),
          us(r.decompressUs),
          Number.isFinite(projected / minPer) ? x(projected / minPer) : '',
        ])
      }
    }
    p(table(['payload', 'codec', 'bytes', 'ratio', 'compress', 'decompress', 'projected vs smallest peer'], rowsOut))
    p()
  }
  const stale = (res.micro?.revalidated || []).flatMap((r) =>
    r.rows
      .filter((z) => z.contender.startsWith('shared-isr') && z.servedOld)
      .map((z) => ({ ...z, payload: r.payload, concurrency: r.concurrency })),
  )
  if (stale.length) {
    p('### Coherence: old content served right after another instance revalidated')
    p()
    for (const z of stale)
      p(
        `- ${L[z.contender]}: ${z.servedOld} of ${z.ops} gets (${PAYLOAD_NAME[z.payload]}, ${z.concurrency === 1 ? '1 caller' : `${z.concurrency} callers`}) returned the L1 copy as a fresh hit although instance B's \`revalidateTag\` had already resolved (the invalidation push had not arrived); it stopped ${windowText(z.windowsMs)} after B's call returned.`,
      )
    p()
    const strictOld = (res.micro?.revalidated || [])
      .flatMap((r) => r.rows.filter((z) => z.contender === 'shared-isr:strict'))
      .reduce((a, z) => a + (z.servedOld || 0), 0)
    p(
      `This is the window the README documents for the default mode ("a few milliseconds, tens under heavy CPU load"). Strict mode served old content ${strictOld} times in the same tables.`,
    )
    p()
  }
  for (const pr of res.profiles || []) {
    p(`### Profile: ${pr.title}`)
    p()
    p(pr.description)
    p()
    if (pr.js?.length) {
      p(
        `JS (\`node --cpu-prof\`, samples cut to the measured window: ${pr.jsOps ? `${int(pr.jsOps)} calls, ` : ''}${pr.jsTotalMs ? `${Math.round(pr.jsTotalMs)} ms, ` : ''}self time; \`(idle)\` is the event loop waiting, mostly for Redis):`,
      )
      p()
      p(
        table(
          ['function', 'where', 'self %', 'µs per op'],
          pr.js.map((f) => [`\`${f.name}\``, f.where, f.pct.toFixed(1), f.usPerOp != null ? f.usPerOp.toFixed(1) : '']),
        ),
      )
      p()
    }
    if (pr.perf?.length) {
      p(
        `Whole process (\`perf record -e cpu-clock -g\`, ${pr.perfSamples} samples, JS frames named via \`--perf-basic-prof\`), by shared object:`,
      )
      p()
      p(
        table(
          ['shared object', '%'],
          pr.perfDso.map((d_) => [d_.dso, d_.pct.toFixed(1)]),
        ),
      )
      p()
      if (pr.perfThreads?.length) {
        p("By thread (`node` is the JS main thread; the addon's Redis I/O runs on its own runtime threads):")
        p()
        p(
          table(
            ['thread', '%'],
            pr.perfThreads.map((d_) => [d_.dso, d_.pct.toFixed(1)]),
          ),
        )
        p()
      }
      p('Top symbols (self):')
      p()
      p(
        table(
          ['symbol', 'shared object', '%'],
          pr.perf.map((s_) => [`\`${s_.sym.slice(0, 90)}\``, s_.dso, s_.pct.toFixed(1)]),
        ),
      )
      p()
    }
    if (pr.error) p(`(profiling failed: ${pr.error})`)
  }
  if (notes) {
    p(notes.trim())
    p()
  }

  // ---------------------------------------------------------------- peers
  p('## Notes on the peers')
  p()
  for (const n of res.peerNotes || []) p(`- ${n}`)
  p()
  p('## Method and caveats')
  p()
  p(
    '- Every comparison is within one run: contenders alternate batch by batch, so a burst of load from other work on the machine hits all of them; ratios are what the targets are judged on.',
  )
  p(
    '- The raw floor stores the page bytes (html + rsc + segments concatenated) with one `SET` and reads them with one `GET` with Buffer replies: no envelope, no tags, no decode.',
  )
  p(
    '- Peers are configured as their READMEs say, nothing tuned; the exact set-up is in `bench/lib/contenders.js` (micro) and `bench/handlers/` (macro). @neshca gets Next 14 value shapes because it does not support Next 15.',
  )
  p(
    '- `get` results are checked once per contender (the value must come back byte for byte), and gets that miss or fail are counted and listed under the tables.',
  )
  p(
    `- Durations of this run: ${Object.entries(res.durations || {})
      .map(([k, v]) => `${k} ${(v / 1000).toFixed(0)} s`)
      .join(', ')}.`,
  )
  p()
  return out.join('\n')
}

// ------------------------------------------------------------------ against a baseline

/**
 * `--baseline=<rev>`: each micro scenario's shared-isr rows, this checkout against the baseline's,
 * both measured in the same interleaved rounds.
 */
function baselineSection(res, L) {
  const b = res.baseline
  const st = res.status || {}
  const out = []
  const pairs = Object.entries(CONTENDERS).filter(([, c]) => c.baseline)
  const head = res.meta.versions.gitHead
  const per = (a, base, key = 'rounds') => {
    const ra = a?.[key]
    const rb = base?.[key]
    if (!ra || !rb) return []
    return ra.slice(0, Math.min(ra.length, rb.length)).map((v, i) => v / rb[i])
  }
  const notOk = (n) => (st[n] && st[n] !== 'ok' ? st[n] : null)
  const rows = []
  const add = (scenario, cur, base, r) => rows.push([scenario, `L1 ${CONTENDERS[cur].l1 ? 'on' : 'off'}`, ...r])
  const throughput = (scenario, unit, s, cur, base) => {
    const a = s?.rows.find((z) => z.contender === cur)
    const z = s?.rows.find((z_) => z_.contender === base)
    if (!a && !z) return
    if (notOk(base) || notOk(cur) || !row(s, cur) || !row(s, base)) {
      const why = (n, r_) => notOk(n) || (r_?.error ? `failed: ${firstLine(r_.error).slice(0, 80)}` : r_ ? '' : 'not run')
      return add(scenario, cur, base, [
        why(base, z) || `${ops(z.opsPerSec)} ${unit}`,
        why(cur, a) || `${ops(a.opsPerSec)} ${unit}`,
        '',
        '',
        '',
        '',
      ])
    }
    const rs = per(a, z)
    add(scenario, cur, base, [
      `${ops(z.opsPerSec)} ${unit}`,
      `${ops(a.opsPerSec)} ${unit}`,
      `**${x(median(rs))}**`,
      x(a.opsPerSec / z.opsPerSec),
      rs.length ? `${x(Math.min(...rs))} – ${x(Math.max(...rs))}` : '',
      rs.length ? `${rs.filter((v) => v > 1).length} of ${rs.length}` : '',
    ])
  }
  for (const payload of res.micro.payloads)
    for (const op of ['get', 'set'])
      for (const c of [1, 16])
        for (const [base, spec] of pairs)
          throughput(
            `${op}, ${PAYLOAD_NAME[payload]}, ${c === 1 ? '1 caller' : `${c} callers`}`,
            `${op}s/s`,
            scen(res, op, payload, c),
            spec.baseline,
            base,
          )
  for (const r of res.micro.revalidated || [])
    for (const [base, spec] of pairs) {
      const cur = spec.baseline
      const a = r.rows.find((z) => z.contender === cur)
      const z = r.rows.find((z_) => z_.contender === base)
      if (!a && !z) continue
      const scenario = `get after another instance's revalidateTag, ${PAYLOAD_NAME[r.payload]}, ${r.concurrency === 1 ? '1 caller' : `${r.concurrency} callers`}`
      const cellOf = (n, r_) => notOk(n) || (r_ ? `p50 ${us(r_.p50us)}, ${r_.servedOld || 0} old of ${r_.ops}` : 'not run')
      const ok = !notOk(cur) && !notOk(base) && a && z && Number.isFinite(a.p50us) && Number.isFinite(z.p50us) && a.ops && z.ops
      add(scenario, cur, base, [cellOf(base, z), cellOf(cur, a), ok ? `**${x(z.p50us / a.p50us)}**` : '', '', '', ''])
    }
  for (const l of res.micro.tagScale || [])
    for (const [base, spec] of pairs) {
      const cur = spec.baseline
      const a = l.rows.find((z) => z.contender === cur)
      const z = l.rows.find((z_) => z_.contender === base)
      if (!a && !z) continue
      const scenario = `revalidateTag, ${compact(l.level)} entries, 1 caller`
      const cellOf = (n, r_) =>
        notOk(n) ||
        (!r_ ? 'not run' : r_.skipped ? 'skipped' : r_.error ? `failed: ${firstLine(r_.error).slice(0, 80)}` : `p50 ${us(r_.p50us)}`)
      const ok = !notOk(cur) && !notOk(base) && Number.isFinite(a?.p50us) && Number.isFinite(z?.p50us)
      const rs = ok ? per(a, z) : []
      add(scenario, cur, base, [
        cellOf(base, z),
        cellOf(cur, a),
        ok ? `**${x(z.p50us / a.p50us)}**` : '',
        ok && Number.isFinite(a.opsPerSec / z.opsPerSec) ? x(a.opsPerSec / z.opsPerSec) : '',
        rs.length ? `${x(Math.min(...rs))} – ${x(Math.max(...rs))}` : '',
        rs.length ? `${rs.filter((v) => v > 1).length} of ${rs.length}` : '',
      ])
    }
  out.push(`## Against the baseline \`${b.short}\``)
  out.push('')
  out.push(
    `shared-isr at \`${b.short}\` (\`--baseline=${b.rev}\`: ${b.subject.replace(/\|/g, '/')}) loaded from its own checkout and its own addon build (\`${b.dir}\`), run as two more contenders in the same interleaved rounds as this checkout (\`${head}\`${res.meta.versions.dirty ? ', with uncommitted changes' : ''}): same payloads, keys, warm-up and concurrency, each with its own Redis database, gets checked byte for byte. The rows are also in every table below.`,
  )
  out.push('')
  out.push(
    '"speed, current / baseline" is > 1 when this checkout is faster. For calls/s it is the median over rounds of current ÷ baseline in the same round (the paired comparison the targets use); "overall" divides the totals, and the range and "rounds faster" show how much the rounds agree. For latency rows (a get after a revalidation, revalidateTag) it is baseline p50 ÷ current p50. Differences within the spread between rounds, or between two runs, are noise; on a shared machine that is easily ±10% in a `--quick` run.',
  )
  out.push('')
  out.push(
    table(
      [
        'scenario',
        'shared-isr',
        `baseline \`${b.short}\``,
        `current \`${head}\``,
        'speed, current / baseline',
        'overall',
        'per-round range',
        'rounds faster',
      ],
      rows,
    ),
  )
  out.push('')
  const missing = Object.entries(res.info || {})
    .filter(([n, i]) => CONTENDERS[n]?.product === 'shared-isr' && i?.missing?.length)
    .map(([n, i]) => `${L[n]}: no ${i.missing.map((f) => `\`${f}()\``).join(', ')}`)
  const marked = [...pairs.map(([n]) => n), ...pairs.map(([, c]) => c.baseline)].filter((n) => notOk(n)).map((n) => `${L[n]}: ${st[n]}`)
  if (missing.length || marked.length) {
    out.push(`Not measured or partly measured: ${[...marked, ...missing].join('; ')}.`)
    out.push('')
  }
  return out
}

function windowText(ws) {
  if (!ws?.length) return ''
  const ok = ws.filter((w) => w !== null)
  const never = ws.length - ok.length
  const med = median(ok)
  return `${ok.length ? `median ${msText(med)}, max ${msText(Math.max(...ok))}` : ''}${never ? `${ok.length ? '; ' : ''}${never} still old after 5 s` : ''}`
}
const msText = (v) => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`)

function contenderSetup(n, res) {
  const base = CONTENDERS[n]?.baseline
  if (base)
    return `as ${CONTENDERS[base].label}, loaded from \`${res?.baseline?.dir}\` (git worktree at \`${res?.baseline?.short}\`, its own addon build)`
  return {
    'shared-isr:l1': '`createHandler({ l1MaxBytes: 64 MiB })` (the default size)',
    'shared-isr:strict': '`createHandler({ l1MaxBytes: 64 MiB, strict: true })`',
    'shared-isr:redis': '`createHandler({ l1MaxBytes: 0 })`',
    forte: '`CacheHandler` + `redis-strings` handler, node-redis 5 client (README)',
    forte3: 'same as 2.x (installed as the npm alias `forte3`; declares Node ≥ 22 and Next ≥ 16.1.5)',
    trieb: '`RedisStringsHandler` defaults (README option B)',
    'trieb:nomem': '`RedisStringsHandler({ inMemoryCachingTime: 0, redisGetDeduplication: false })`',
    neshca: '`CacheHandler` + `redis-strings` handler, node-redis 4 client (README)',
    'next-default': '`FileSystemCache({ flushToDisk: true, maxMemoryCacheSize: 50 MB })` as `next start` builds it',
    raw: 'one `SET`/`GET` of the page bytes, Buffer replies',
  }[n]
}

function unionNames(a, b, st) {
  const names = [...new Set([...(a?.rows || []), ...(b?.rows || [])].map((r) => r.contender))]
  for (const n of Object.keys(st)) if (st[n] !== 'ok' && n.startsWith('shared-isr') && !names.includes(n)) names.unshift(n)
  const order = Object.keys(CONTENDERS)
  return names.sort((p_, q) => order.indexOf(p_) - order.indexOf(q))
}

function cpuCell(r) {
  if (!r || r.error || !Number.isFinite(r.cpuUsPerOp)) return ''
  const f = (v) => (v < 10 ? v.toFixed(1) : Math.round(v))
  return Number.isFinite(r.redisCpuUsPerOp) && r.redisCpuUsPerOp > 0.05
    ? `${f(r.cpuUsPerOp)} + ${f(r.redisCpuUsPerOp)} µs`
    : `${f(r.cpuUsPerOp)} µs`
}
function csCell(r) {
  if (!r || r.error || !Number.isFinite(r.csPerOp)) return ''
  return r.csPerOp < 0.01 ? '0' : r.csPerOp.toFixed(r.csPerOp < 10 ? 2 : 1)
}

function cell(r, k) {
  if (!r) return ''
  if (r.error) return k === 'opsPerSec' ? `failed: ${firstLine(r.error).slice(0, 80)}` : ''
  if (k === 'opsPerSec') return ops(r[k])
  return us(r[k])
}

function firstLine(s) {
  return (
    String(s || '')
      .split('\n')
      .find((l) => l.trim()) || ''
  )
}

module.exports = { render, targets, makeLabels, windowText }
