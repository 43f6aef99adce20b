'use strict'
// Profiles of shared-isr where a target is missed: the JS side with `node --cpu-prof`, the
// whole process (Rust addon, V8, kernel) with `perf record` when perf is available.

const fs = require('node:fs')
const _os = require('node:os')
const path = require('node:path')
const { execFile, spawnSync } = require('node:child_process')
const { Worker } = require('./proc')
const { BENCH } = require('./contenders')

const OUT = path.join(BENCH, 'results', 'profiles')
const _log = (...a) => console.error('[bench]', ...a)

function havePerf() {
  return spawnSync('perf', ['--version'], { encoding: 'utf8' }).status === 0
}

/** Self time per function, only for samples inside [window.t0us, window.t1us] when given. */
function summarizeCpuProfile(file, ops, window) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'))
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map()
  let total = 0
  let ts = prof.startTime
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] || 0
    ts += dt
    if (window && (ts < window.t0us || ts > window.t1us)) continue
    const n = byId.get(prof.samples[i])
    if (!n) continue
    const cf = n.callFrame
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : cf.functionName.startsWith('(') ? '' : 'native/builtin'
    const key = `${cf.functionName || '(anonymous)'}\u0000${where}`
    self.set(key, (self.get(key) || 0) + dt)
    total += dt
  }
  const rows = [...self.entries()]
    .map(([k, t]) => {
      const [name, where] = k.split('\u0000')
      return { name, where, us: t, pct: (100 * t) / total, usPerOp: ops ? t / ops : null }
    })
    .sort((a, b) => b.us - a.us)
  return { rows: rows.slice(0, 14), totalMs: total / 1000 }
}

function shortUrl(u) {
  const s = u.replace(/^file:\/\//, '')
  const i = s.indexOf('/node_modules/')
  if (i >= 0) return s.slice(i + 14)
  const root = path.resolve(BENCH, '..')
  return s.startsWith(root) ? path.relative(root, s) : s.replace(/^node:/, 'node:')
}

function parsePerf(text) {
  const out = []
  for (const line of text.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$/.exec(line)
    if (m) out.push({ pct: Number(m[1]), dso: m[2], sym: m[4].trim() })
  }
  return out
}

function perfRecord(pid, seconds, file) {
  return new Promise((resolve) => {
    execFile(
      'perf',
      ['record', '-e', 'cpu-clock', '-F', '1999', '-g', '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)],
      { timeout: (seconds + 20) * 1000 },
      (err, so, se) => resolve({ err, stderr: String(se) }),
    )
  })
}

/**
 * Profiles one shared-isr operation: { contender, op, payload, concurrency }.
 * Returns { title, description, js, jsTotalMs, perf, perfDso, perfSamples }.
 */
async function profileOp({ redisUrl, db, contender, op, payload, pool, concurrency = 1, seconds = 3, title, description }) {
  fs.mkdirSync(OUT, { recursive: true })
  const tag = `${contender.replace(/[:]/g, '-')}-${op}-${payload}`
  const res = { title, description, js: [], perf: [], perfDso: [] }
  // 1. JS: --cpu-prof (the profile is written when the worker exits).
  const dir = fs.mkdtempSync(path.join(OUT, `${tag}-`))
  const w = new Worker(contender, { execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=200'], role: 'profile' })
  try {
    await w.call('init', { contender, redisUrl, db })
    await w.call('prepare', { payload, size: pool, ns: 'p' })
    await w.call('run', { op, payload, size: pool, ns: 'p', concurrency, durationMs: 500 })
    const r = await w.call('run', { op, payload, size: pool, ns: 'p', concurrency, durationMs: seconds * 1000 })
    await w.stop()
    const f = fs
      .readdirSync(dir)
      .filter((x) => x.endsWith('.cpuprofile'))
      .map((x) => path.join(dir, x))[0]
    if (f) {
      const s = summarizeCpuProfile(f, r.ops, r)
      res.jsOps = r.ops
      res.js = s.rows
      res.jsTotalMs = s.totalMs
      res.jsFile = path.relative(path.resolve(BENCH, '..'), f)
    }
    res.opsPerSec = (r.ops / r.elapsedMs) * 1000
  } catch (err) {
    res.error = String(err.message).split('\n')[0]
    await w.stop()
  }
  // 2. perf over the whole process.
  if (havePerf()) {
    const w2 = new Worker(contender, { execArgv: ['--perf-basic-prof'], role: 'perf' })
    const data = path.join(dir, 'perf.data')
    try {
      await w2.call('init', { contender, redisUrl, db })
      await w2.call('prepare', { payload, size: pool, ns: 'p' })
      const running = w2.call('run', { op, payload, size: pool, ns: 'p', concurrency, durationMs: (seconds + 1.5) * 1000 })
      await new Promise((r) => setTimeout(r, 300))
      const rec = await perfRecord(w2.pid, seconds, data)
      await running
      if (fs.existsSync(data)) {
        const dso = spawnSync(
          'perf',
          ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none', '--percent-limit', '0.5'],
          { encoding: 'utf8', maxBuffer: 1 << 26 },
        )
        const sym = spawnSync(
          'perf',
          ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso,sym', '-g', 'none', '--percent-limit', '0.7'],
          { encoding: 'utf8', maxBuffer: 1 << 26 },
        )
        const comm = spawnSync(
          'perf',
          ['report', '-i', data, '--stdio', '--no-children', '--sort', 'comm', '-g', 'none', '--percent-limit', '0.5'],
          { encoding: 'utf8', maxBuffer: 1 << 26 },
        )
        res.perfDso = parseDso(dso.stdout)
        res.perfThreads = parseDso(comm.stdout)
        res.perf = parsePerf(sym.stdout).slice(0, 16)
        const m = /# Samples: (\S+)\s+of event/.exec(sym.stdout)
        res.perfSamples = m ? m[1] : '?'
      } else res.perfError = rec.stderr.slice(0, 300)
    } catch (err) {
      res.perfError = String(err.message).split('\n')[0]
    } finally {
      const pid = w2.pid
      await w2.stop()
      fs.rmSync(`/tmp/perf-${pid}.map`, { force: true })
    }
  }
  return res
}

function parseDso(text) {
  const out = []
  for (const line of text.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S.*)$/.exec(line)
    if (m) out.push({ pct: Number(m[1]), dso: m[2].trim() })
  }
  return out
}

module.exports = { profileOp, havePerf, summarizeCpuProfile }
