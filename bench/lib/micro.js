'use strict'
// Micro benchmarks: every contender in its own worker process, one Redis (one database per
// contender), batches run round-robin between contenders (the first contender of a round
// rotates), with the same warm-up batch, payload, pool of keys and concurrency for all.

const { Worker } = require('./proc')
const { Hist } = require('./hist')
const { info, dbMemory } = require('./redis')
const { CONTENDERS } = require('./contenders')

// `shared-isr@base:*` (run.js --baseline=<rev>) sit next to their current configuration, so
// both versions run in the same rounds, back to back.
const ALL = [
  'shared-isr:l1',
  'shared-isr@base:l1',
  'shared-isr:strict',
  'shared-isr:redis',
  'shared-isr@base:redis',
  'forte',
  'forte3',
  'neshca',
  'trieb',
  'trieb:nomem',
  'next-default',
  'raw',
]
const SET = [
  'shared-isr:l1',
  'shared-isr@base:l1',
  'shared-isr:redis',
  'shared-isr@base:redis',
  'forte',
  'forte3',
  'neshca',
  'trieb',
  'next-default',
  'raw',
]
const REVALIDATED = [
  'shared-isr:l1',
  'shared-isr@base:l1',
  'shared-isr:strict',
  'shared-isr:redis',
  'shared-isr@base:redis',
  'forte',
  'neshca',
  'trieb',
  'trieb:nomem',
  'next-default',
]
const TAG_SCALE = ['shared-isr:l1', 'shared-isr@base:l1', 'forte', 'neshca', 'trieb']
const MEMORY = ['shared-isr:redis', 'shared-isr@base:redis', 'forte', 'forte3', 'neshca', 'trieb', 'raw']
const POOL = { page100k: 32, fetch2k: 64, page1m: 8, real: 32 }

const PROFILES = {
  full: {
    payloads: ['page100k', 'fetch2k', 'page1m'],
    batchMs: 150,
    rounds: 10,
    revalidatedOps: 40,
    revalidatedRounds: 4,
    revalidatedPayloads: ['page100k', 'fetch2k'],
    tagLevels: [10_000, 100_000, 1_000_000],
    tagBatchMs: 2500,
    tagRounds: 3,
    tagMaxOps: 150,
    populateCapMs: 5 * 60 * 1000,
    memoryEntries: 20,
    memoryPayloads: ['real', 'page100k', 'fetch2k', 'page1m'],
    wireOps: 50,
  },
  quick: {
    payloads: ['page100k', 'fetch2k'],
    batchMs: 100,
    rounds: 3,
    revalidatedOps: 10,
    revalidatedRounds: 2,
    revalidatedPayloads: ['page100k'],
    tagLevels: [10_000],
    tagBatchMs: 800,
    tagRounds: 2,
    tagMaxOps: 50,
    populateCapMs: 60 * 1000,
    memoryEntries: 5,
    memoryPayloads: ['real', 'page100k'],
    wireOps: 10,
  },
}

const log = (...a) => console.error('[bench]', ...a)

function rotate(list, r) {
  const k = r % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

function summarize(parts) {
  const h = new Hist()
  let cpuUs = 0
  let redisCpuUs = 0
  let cs = 0
  let ops = 0
  let elapsedMs = 0
  let misses = 0
  let errors = 0
  let firstError = null
  for (const p of parts) {
    h.merge(p.hist)
    ops += p.ops
    elapsedMs += p.elapsedMs
    misses += p.misses || 0
    errors += p.errors || 0
    firstError ??= p.firstError
    cpuUs += p.cpuUs || 0
    redisCpuUs += p.redisCpuUs || 0
    cs += p.cs || 0
  }
  return {
    ops,
    cpuUsPerOp: ops ? cpuUs / ops : NaN,
    redisCpuUsPerOp: ops ? redisCpuUs / ops : NaN,
    csPerOp: ops ? cs / ops : NaN,
    opsPerSec: elapsedMs ? (ops / elapsedMs) * 1000 : NaN,
    p50us: h.quantile(0.5) / 1e3,
    p99us: h.quantile(0.99) / 1e3,
    meanUs: h.mean() / 1e3,
    maxUs: h.maxNs / 1e3,
    misses,
    errors,
    firstError,
  }
}

class Micro {
  /** baseline: { root, short } of run.js --baseline=<rev>, or null. */
  constructor({ redis, profile, only, baseline = null }) {
    this.redis = redis
    this.baseline = baseline
    this.p = PROFILES[profile]
    this.profileName = profile
    this.only = only ? new Set(only) : null
    this.workers = {}
    this.peers = {}
    this.db = {}
    this.notes = {} // contender -> [why a row is missing]
    this.status = {} // contender -> 'ok' | 'not implemented yet' | 'failed: ...'
    this.info = {}
    this.results = { scenarios: [], revalidated: [], tagScale: [], memory: [], wire: [], anatomy: [], profile }
  }

  want(name) {
    const base = CONTENDERS[name]?.baseline
    // A baseline contender runs when --baseline is given and its current configuration runs
    // (or it is named in --only itself).
    if (base) return !!this.baseline && (!this.only || this.only.has(name) || this.only.has(base))
    return !this.only || this.only.has(name)
  }

  /** What a worker of this contender is initialised with (the baseline's checkout for @base). */
  initArgs(name) {
    return {
      contender: name,
      redisUrl: this.redis.url,
      db: this.db[name],
      ...(CONTENDERS[name]?.baseline ? { root: this.baseline.root } : {}),
    }
  }

  /** How a contender's missing feature is marked: the baseline's revision may predate it. */
  notImplemented(name) {
    return CONTENDERS[name]?.baseline ? `not implemented in ${this.baseline.short}` : 'not implemented yet'
  }

  active(list) {
    return list.filter((n) => this.want(n) && this.status[n] === 'ok')
  }

  async start() {
    let db = 0
    for (const name of ALL) {
      if (!this.want(name)) continue
      this.db[name] = db++
      const w = new Worker(name)
      this.workers[name] = w
      try {
        await w.call('init', this.initArgs(name), 60_000)
        this.status[name] = 'ok'
      } catch (err) {
        const m = /not implemented in this revision: (.*)/.exec(err.message)
        this.status[name] = m ? `${this.notImplemented(name)}: ${m[1]}` : `failed to start: ${firstLine(err.message)}`
        log(`${name}: ${this.status[name]}`)
      }
    }
    // Detect the shared-isr L1 / strict options (they may not exist yet in this checkout, or in
    // the baseline's), and library functions the bench calls that a revision does not have.
    for (const name of ['shared-isr:l1', 'shared-isr@base:l1', 'shared-isr:strict', 'shared-isr:redis', 'shared-isr@base:redis']) {
      if (this.status[name] !== 'ok') continue
      try {
        const i = await this.workers[name].call('info')
        if (i.missing?.length) log(`${name}: the library has no ${i.missing.map((f) => `${f}()`).join(', ')}`)
        if (!CONTENDERS[name].l1) continue
        if (!i.missing?.includes('stats')) await this.workers[name].call('prepare', { payload: 'fetch2k', size: 2, ns: 'detect', warm: 2 })
        const j = await this.workers[name].call('info')
        const l1Active = j.l1Implemented && j.stats?.l1Entries > 0
        if (j.missing?.includes('stats')) this.status[name] = `${this.notImplemented(name)}: stats() (the L1 cannot be detected)`
        else if (!l1Active) this.status[name] = this.notImplemented(name)
        else if (name === 'shared-isr:strict' && !j.strictImplemented) this.status[name] = this.notImplemented(name)
      } catch (err) {
        this.status[name] = `failed to start: ${firstLine(err.message)}`
      }
      if (this.status[name] !== 'ok') log(`${name}: ${this.status[name]} (rows marked, not measured)`)
    }
    for (const name of Object.keys(this.workers)) {
      if (this.status[name] === 'ok') this.info[name] = await this.workers[name].call('info').catch(() => null)
    }
  }

  /** Redis's own CPU time so far (µs, user + system), from INFO cpu. */
  async redisCpu() {
    const c = await info(this.redis.admin, 'cpu')
    return (Number(c.used_cpu_user) + Number(c.used_cpu_sys)) * 1e6
  }

  async flush(names) {
    for (const n of names) {
      const c = await this.redis.db(this.db[n])
      await c.flushDb()
      await c.quit()
    }
  }

  /** Interleaved batches of `op` over `names`; returns rows. */
  async interleave(names, args) {
    const parts = Object.fromEntries(names.map((n) => [n, []]))
    const failed = {}
    const batch = async (n, warm) => {
      if (failed[n]) return
      try {
        const c0 = await this.redisCpu()
        const r = await this.workers[n].call('run', args)
        r.redisCpuUs = (await this.redisCpu()) - c0
        if (!warm) parts[n].push(r)
      } catch (err) {
        failed[n] = firstLine(err.message)
      }
    }
    for (const n of names) await batch(n, true) // warm-up, same for all
    for (let r = 0; r < this.p.rounds; r++) for (const n of rotate(names, r)) await batch(n, false)
    // Per-round ops/s too: adjacent batches of two contenders share whatever else the machine
    // was doing, so the median of per-round ratios is a paired comparison.
    return names.map((n) => ({
      contender: n,
      ...(failed[n] ? { error: failed[n] } : { ...summarize(parts[n]), rounds: parts[n].map((b) => (b.ops / b.elapsedMs) * 1000) }),
    }))
  }

  async prepare(names, payload) {
    const out = {}
    for (const n of names) {
      try {
        const r = await this.workers[n].call('prepare', { payload, size: POOL[payload], ns: nsOf(payload) })
        out[n] = r
        if (!r.verified) log(`${n}: ${payload} round trip FAILED: ${r.verifyError}`)
      } catch (err) {
        out[n] = { verified: false, verifyError: firstLine(err.message) }
      }
    }
    return out
  }

  async runGetSet() {
    for (const payload of this.p.payloads) {
      const names = this.active(ALL)
      log(`micro ${payload}: preparing ${POOL[payload]} entries per contender`)
      const prep = await this.prepare(names, payload)
      const okNames = names.filter((n) => prep[n].verified)
      for (const op of ['get', 'set']) {
        const list = op === 'get' ? okNames : okNames.filter((n) => SET.includes(n))
        for (const concurrency of [1, 16]) {
          log(`micro ${payload} ${op} x${concurrency}: ${list.length} contenders, ${this.p.rounds} rounds`)
          const rows = await this.interleave(list, {
            op,
            payload,
            size: POOL[payload],
            ns: nsOf(payload),
            concurrency,
            durationMs: this.p.batchMs,
          })
          for (const n of names)
            if (!prep[n].verified) rows.push({ contender: n, error: `round trip check failed: ${prep[n].verifyError}` })
          this.results.scenarios.push({ op, payload, concurrency, rows })
        }
      }
      await this.measureWire(okNames, payload)
      if (payload === 'page100k' && this.status['shared-isr:redis'] === 'ok' && this.status.raw === 'ok') await this.runAnatomy(payload)
      await this.flush(names)
    }
  }

  /**
   * The parts of a shared-isr get and set (one caller), interleaved with the whole handler
   * calls and the raw floor, all in the same rounds.
   */
  async runAnatomy(payload) {
    log('micro anatomy of a shared-isr get and set (page100k)')
    const steps = [
      'encode',
      'decode',
      'nativeGet',
      'handlerGet',
      'rawGet',
      'nativeSetSync',
      'nativeSet',
      'handlerSet',
      'handlerSetL1',
      'rawSet',
    ]
    const parts = Object.fromEntries(steps.map((k) => [k, []]))
    let payloadBytes
    const S = this.workers['shared-isr:redis']
    const one = async (step) => {
      const args = { payload, size: POOL[payload], ns: nsOf(payload), durationMs: this.p.batchMs }
      if (step === 'handlerGet') return S.call('run', { ...args, op: 'get', concurrency: 1 })
      if (step === 'handlerSet') return S.call('run', { ...args, op: 'set', concurrency: 1 })
      if (step === 'handlerSetL1')
        return this.status['shared-isr:l1'] === 'ok'
          ? this.workers['shared-isr:l1'].call('run', { ...args, op: 'set', concurrency: 1 })
          : null
      if (step === 'rawGet') return this.workers.raw.call('run', { ...args, op: 'get', concurrency: 1 })
      if (step === 'rawSet') return this.workers.raw.call('run', { ...args, op: 'set', concurrency: 1 })
      const r = await S.call('anatomyStep', { ...args, step })
      payloadBytes = r.payloadBytes
      return r
    }
    try {
      for (const s of steps) await one(s)
      for (let r = 0; r < this.p.rounds; r++)
        for (const s of rotate(steps, r)) {
          const x = await one(s)
          if (x) parts[s].push(x)
        }
      this.results.anatomy.push({
        payload,
        payloadBytes,
        ...Object.fromEntries(steps.filter((k) => parts[k].length).map((k) => [k, summarize(parts[k])])),
      })
    } catch (err) {
      log(`anatomy failed: ${firstLine(err.message)}`)
    }
  }

  /** Bytes on the wire per get / per set (INFO stats deltas, one contender at a time). */
  async measureWire(names, payload) {
    const n = this.p.wireOps
    const stats = async () => {
      const s = await info(this.redis.admin, 'stats')
      return { out: Number(s.total_net_output_bytes), in: Number(s.total_net_input_bytes) }
    }
    // What two INFO calls cost by themselves.
    const a = await stats()
    const b = await stats()
    const base = { out: b.out - a.out, in: b.in - a.in }
    const rows = []
    for (const name of names.filter((x) => x !== 'next-default')) {
      const w = this.workers[name]
      const args = { payload, size: POOL[payload], ns: nsOf(payload), concurrency: 1, durationMs: 60_000 }
      const s0 = await stats()
      await w.call('run', { ...args, op: 'set', maxOps: n })
      const s1 = await stats()
      // Steady state for gets: every pool entry read twice first (an L1 holds them then).
      await w.call('run', { ...args, op: 'get', maxOps: 2 * POOL[payload] })
      const s2 = await stats()
      await w.call('run', { ...args, op: 'get', maxOps: n })
      const s3 = await stats()
      rows.push({
        contender: name,
        inPerSet: (s1.in - s0.in - base.in) / n,
        outPerSet: (s1.out - s0.out - base.out) / n,
        outPerGet: (s3.out - s2.out - base.out) / n,
        inPerGet: (s3.in - s2.in - base.in) / n,
      })
    }
    this.results.wire.push({ payload, ops: n, rows })
  }

  /** Redis memory per entry: MEMORY USAGE of every key the contender wrote, per entry. */
  async runMemory() {
    const names = this.active(MEMORY)
    for (const payload of this.p.memoryPayloads) {
      const rows = []
      for (const name of names) {
        const c = await this.redis.db(this.db[name])
        try {
          await c.flushDb()
          const before = await dbMemory(c)
          const used0 = Number((await info(this.redis.admin, 'memory')).used_memory)
          const r = await this.workers[name].call('prepare', { payload, size: this.p.memoryEntries, ns: `m-${payload}-`, warm: 0 })
          const after = await dbMemory(c)
          const used1 = Number((await info(this.redis.admin, 'memory')).used_memory)
          const n = this.p.memoryEntries
          rows.push({
            contender: name,
            bytesPerEntry: (after.total - before.total) / n,
            valueBytes: r.valueBytes,
            usedMemoryPerEntry: (used1 - used0) / n,
            keys: after.keys.length,
            keyPatterns: [...new Set(after.keys.map((k) => k.replace(/[0-9a-f]{64}/, '<sha256>').replace(/m-[a-z0-9]+-\d+$/, '<i>')))],
            verified: r.verified,
          })
        } catch (err) {
          rows.push({ contender: name, error: firstLine(err.message) })
        } finally {
          await c.flushDb().catch(() => {})
          await c.quit()
        }
      }
      this.results.memory.push({ payload, entries: this.p.memoryEntries, rows })
    }
  }

  /** Get of an entry another instance just revalidated (see README of bench). */
  async runRevalidated() {
    const names = this.active(REVALIDATED)
    for (const name of names) {
      if (name === 'next-default') {
        this.peers[name] = this.workers[name] // no sharing: it can only revalidate itself
        continue
      }
      const w = new Worker(name, { role: 'peer' })
      try {
        await w.call('init', this.initArgs(name), 60_000)
        this.peers[name] = w
      } catch (err) {
        this.notes[name] = (this.notes[name] || []).concat(`peer failed: ${firstLine(err.message)}`)
      }
    }
    const list = names.filter((n) => this.peers[n])
    let seq = 0
    for (const payload of this.p.revalidatedPayloads) {
      for (const concurrency of [1, 16]) {
        log(`micro ${payload} get-after-revalidate x${concurrency}: ${list.length} contenders`)
        const fresh = () => ({ hist: new Hist(), ops: 0, fresh: 0, windows: [], errors: 0, firstError: null })
        const acc = Object.fromEntries(list.map((n) => [n, fresh()]))
        const batch = async (n) => {
          const W = this.workers[n]
          const P = this.peers[n]
          const a = acc[n]
          const lane = async (count) => {
            for (let k = 0; k < count; k++) {
              const i = seq++
              try {
                await P.call('step', { op: 'set', payload, i })
                await W.call('step', { op: 'get', payload, i })
                const { doneNs } = await P.call('step', { op: 'revalidate', payload, i })
                const r = await W.call('step', { op: 'timedGet', payload, i })
                a.hist.record(r.ns)
                a.ops++
                if (r.fresh) {
                  a.fresh++
                  // How long after B's revalidateTag resolved A kept serving the old content.
                  const { seenNs } = await W.call('step', { op: 'untilInvalid', payload, i })
                  a.windows.push(seenNs === null ? null : (seenNs - doneNs) / 1e6)
                }
                await W.call('step', { op: 'forget', payload, i })
                if (P !== W) await P.call('step', { op: 'forget', payload, i })
              } catch (err) {
                a.errors++
                a.firstError ??= firstLine(err.message)
              }
            }
          }
          const per = Math.max(1, Math.round(this.p.revalidatedOps / concurrency))
          await Promise.all(Array.from({ length: concurrency }, () => lane(per)))
        }
        for (const n of list) await batch(n) // warm-up batch, then reset
        for (const n of list) acc[n] = fresh()
        for (let r = 0; r < this.p.revalidatedRounds; r++) for (const n of rotate(list, r)) await batch(n)
        const rows = list.map((n) => {
          const a = acc[n]
          return {
            contender: n,
            ops: a.ops,
            p50us: a.hist.quantile(0.5) / 1e3,
            p99us: a.hist.quantile(0.99) / 1e3,
            meanUs: a.hist.mean() / 1e3,
            servedOld: a.fresh,
            windowsMs: a.windows,
            errors: a.errors,
            firstError: a.firstError,
            sameProcess: n === 'next-default',
          }
        })
        this.results.revalidated.push({ payload, concurrency, rows })
      }
      await this.flush(list)
    }
    for (const n of list) if (this.peers[n] !== this.workers[n]) await this.peers[n].stop()
  }

  /** revalidateTag with 10k / 100k / 1M cached entries, populated with each contender's own set. */
  async runTagScale() {
    const names = this.active(TAG_SCALE)
    const populated = Object.fromEntries(names.map((n) => [n, 0]))
    const rates = {}
    const skipped = {}
    const used = Object.fromEntries(names.map((n) => [n, new Set()]))
    for (const level of this.p.tagLevels) {
      // One contender at a time, so each population rate (and the skip rule) is its own.
      const populateMs = {}
      for (const n of names) {
        if (skipped[n]) continue
        const need = level - populated[n]
        if (rates[n] && need / rates[n] > this.p.populateCapMs) {
          skipped[n] =
            `populating ${level.toLocaleString('en')} entries would take about ${Math.round(need / rates[n] / 60000)} min (${Math.round(rates[n] * 1000)} sets/s); skipped`
          log(`${n}: ${skipped[n]}`)
          continue
        }
        log(`tag scale: ${n} populating ${populated[n].toLocaleString('en')} -> ${level.toLocaleString('en')}`)
        const r = await this.workers[n].call('populate', { from: populated[n], to: level, concurrency: 128 })
        populateMs[n] = r.ms
        rates[n] = need / r.ms
        populated[n] = level
        if (r.errors) log(`${n}: ${r.errors} populate errors: ${firstLine(r.firstError)}`)
      }
      const list = names.filter((n) => !skipped[n])
      const parts = Object.fromEntries(list.map((n) => [n, []]))
      const failed = {}
      // Tags of distinct entries spread over the population; each tag revalidated once.
      let cursor = 0
      const tagsFor = (n, count) => {
        const out = []
        while (out.length < count) {
          const j = Math.floor((((cursor++ * 7919) % 10007) / 10007) * level)
          if (used[n].has(j)) continue
          used[n].add(j)
          out.push(`post:s${j}`)
        }
        return out
      }
      const batch = async (n, warm) => {
        if (failed[n]) return
        try {
          const r = await this.workers[n].call('revalidateRun', {
            tags: tagsFor(n, warm ? 3 : this.p.tagMaxOps),
            durationMs: warm ? 0 : this.p.tagBatchMs,
          })
          if (!warm) parts[n].push(r)
        } catch (err) {
          failed[n] = firstLine(err.message)
        }
      }
      for (const n of list) await batch(n, true)
      for (let r = 0; r < this.p.tagRounds; r++) for (const n of rotate(list, r)) await batch(n, false)
      const rows = names.map((n) => {
        if (skipped[n]) return { contender: n, skipped: skipped[n] }
        if (failed[n]) return { contender: n, error: failed[n] }
        return {
          contender: n,
          ...summarize(parts[n]),
          rounds: parts[n].map((b) => (b.ops / b.elapsedMs) * 1000),
          populateMs: populateMs[n],
          populateRate: rates[n] * 1000,
        }
      })
      this.results.tagScale.push({ level, rows })
    }
    await this.flush(names)
  }

  async stop() {
    for (const w of Object.values(this.workers)) await w.stop()
  }
}

/** Key namespace of a payload's pool: pools of different payloads never share a key. */
function nsOf(payload) {
  return `p-${payload}-`
}

function firstLine(s) {
  return (
    String(s || '')
      .split('\n')
      .find((l) => l.trim()) || ''
  )
}

module.exports = { Micro, PROFILES, ALL, POOL, summarize }
