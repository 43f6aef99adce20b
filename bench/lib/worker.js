'use strict'
// One contender in its own process (forked by the orchestrator), so contenders never share a
// heap, an event loop or process-wide state. The orchestrator sends one command at a time to
// one worker at a time (round-robin), so only one contender runs at any moment.

const { createContender, CONTENDERS } = require('./contenders')
const { entry, verify, servedAsFresh, valueBytes } = require('./workload')
const { Hist } = require('./hist')

let c = null
let name = null
const cache = new Map()

function ent(payload, i, ns) {
  const k = `${payload}|${ns}|${i}`
  let e = cache.get(k)
  if (!e) cache.set(k, (e = entry(payload, CONTENDERS[name].shape, i, ns)))
  return e
}

const nowNs = () => process.hrtime.bigint()

/** Context switches (voluntary + involuntary) of every thread of this process so far. */
function contextSwitches() {
  try {
    let n = 0
    for (const t of require('node:fs').readdirSync('/proc/self/task')) {
      const st = require('node:fs').readFileSync(`/proc/self/task/${t}/status`, 'utf8')
      n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] || 0) + Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] || 0)
    }
    return n
  } catch {
    return NaN
  }
}

async function timedLoop({ concurrency, durationMs, maxOps = Infinity, op }) {
  const hist = new Hist()
  let ops = 0
  let misses = 0
  let errors = 0
  let firstError = null
  const cs0 = contextSwitches()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const t0us = Number(nowNs() / 1000n)
  const deadline = t0 + durationMs
  async function caller(w) {
    for (let n = w; performance.now() < deadline && ops < maxOps; n += concurrency) {
      const s = nowNs()
      try {
        const r = await op(n)
        hist.record(Number(nowNs() - s))
        if (r === null || r === undefined) misses++
      } catch (err) {
        hist.record(Number(nowNs() - s))
        errors++
        firstError ??= String(err?.stack || err)
      }
      ops++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => caller(w)))
  const elapsedMs = performance.now() - t0
  const t1us = Number(nowNs() / 1000n)
  const cpu = process.cpuUsage(cpu0) // all threads of the process (getrusage)
  const cs = contextSwitches() - cs0
  // t0us/t1us: the monotonic clock V8's CPU profiler uses, to cut a --cpu-prof to this window.
  return { hist: hist.toJSON(), ops, elapsedMs, misses, errors, firstError, t0us, t1us, cpuUs: cpu.user + cpu.system, cs }
}

/** Runs `fn(i)` for i in [from, to) with `concurrency` in flight. */
async function pool(from, to, concurrency, fn) {
  let next = from
  let errors = 0
  let firstError = null
  async function lane() {
    while (next < to) {
      const i = next++
      try {
        await fn(i)
      } catch (err) {
        errors++
        firstError ??= String(err?.stack || err)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  return { errors, firstError }
}

const commands = {
  async init({ contender, redisUrl, db, dir, root }) {
    name = contender
    c = createContender(contender, { redisUrl, db, dir, root })
    await c.init()
    return { pid: process.pid }
  },

  info: () => c.info(),

  /** Stores pool entries with the contender's own set, checks one round trip, warms reads. */
  async prepare({ payload, size, ns = 'p', warm = 2 }) {
    const t0 = performance.now()
    for (let i = 0; i < size; i++) await c.set(ent(payload, i, ns))
    let verified = true
    let verifyError = null
    try {
      verify(ent(payload, 0, ns), await c.get(ent(payload, 0, ns)), CONTENDERS[name].shape)
    } catch (err) {
      verified = false
      verifyError = String(err.message || err)
    }
    for (let k = 0; k < warm; k++) for (let i = 0; i < size; i++) await c.get(ent(payload, i, ns))
    return { ms: performance.now() - t0, verified, verifyError, valueBytes: valueBytes(ent(payload, 0, ns).value) }
  },

  async run({ op, payload, size, ns = 'p', concurrency, durationMs, maxOps }) {
    const fn =
      op === 'set'
        ? (n) => c.set(ent(payload, n % size, ns)).then(() => true)
        : op === 'revalidate'
          ? (n) => c.revalidate([`bench-prof:${process.pid}:${n}`]).then(() => true)
          : (n) => c.get(ent(payload, n % size, ns))
    return timedLoop({ concurrency, durationMs, maxOps, op: fn })
  },

  /** One step of the "get of a revalidated entry" sequence (driven by the orchestrator). */
  async step({ op, payload, i, ns = 'r' }) {
    const e = ent(payload, i, ns)
    if (op === 'set') await c.set(e)
    else if (op === 'get') await c.get(e)
    else if (op === 'revalidate') {
      await c.revalidate([e.tag])
      return { doneNs: Number(nowNs()) } // CLOCK_MONOTONIC: comparable across processes
    } else if (op === 'untilInvalid') {
      // After a get served the old content: how long until this process stops serving it.
      const t0 = performance.now()
      while (performance.now() - t0 < 5000) {
        if (!servedAsFresh(await c.get(e))) return { seenNs: Number(nowNs()) }
        await new Promise((r) => setImmediate(r))
      }
      return { seenNs: null }
    } else if (op === 'timedGet') {
      const s = nowNs()
      const r = await c.get(e)
      const ns_ = Number(nowNs() - s)
      return { ns: ns_, fresh: servedAsFresh(r) }
    }
    if (op === 'forget') cache.delete(`${payload}|${ns}|${i}`)
    return true
  },

  /** Small entries [from, to) stored with the contender's own set, `concurrency` in flight. */
  async populate({ payload = 'small', from, to, concurrency = 128, ns = 's' }) {
    const shape = CONTENDERS[name].shape
    const t0 = performance.now()
    const r = await pool(from, to, concurrency, (i) => c.set(entry(payload, shape, i, ns)))
    return { ms: performance.now() - t0, ...r }
  },

  /** Sequential revalidateTag calls of the given tags (one caller), stopping at durationMs. */
  async revalidateRun({ tags, durationMs }) {
    const hist = new Hist()
    const t0 = performance.now()
    let ops = 0
    let errors = 0
    let firstError = null
    for (const tag of tags) {
      if (ops > 0 && performance.now() - t0 > durationMs) break
      const s = nowNs()
      try {
        await c.revalidate([tag])
      } catch (err) {
        errors++
        firstError ??= String(err?.stack || err)
      }
      hist.record(Number(nowNs() - s))
      ops++
    }
    return { hist: hist.toJSON(), ops, elapsedMs: performance.now() - t0, errors, firstError }
  },

  /**
   * shared-isr only: one part of a get, timed alone (one caller):
   * encode / decode (JS codec on the 100 KB value), nativeGet (the addon's get: Redis round
   * trip, envelope, tag check, no JS decode).
   */
  async anatomyStep({ step, payload, size, ns = 'p', durationMs }) {
    const { lib, store } = c.internals()
    const e0 = ent(payload, 0, ns)
    const encoded = lib.encodeValue(e0.value)
    const key = (n) => {
      const e = ent(payload, n % size, ns)
      return e.kind === 'FETCH' ? `f:${e.key}` : `p:bench:${e.key}`
    }
    const meta = () => ({ lastModified: Date.now(), revalidate: 3600, expire: 31536000, tags: e0.tags })
    if (step === 'nativeSetSync') {
      // Only the synchronous part of the addon's set (envelope built on the JS thread); the
      // promise is awaited outside the timed section.
      const hist = new Hist()
      let ops = 0
      const t0 = performance.now()
      while (performance.now() - t0 < durationMs) {
        const s = nowNs()
        const p = store.native.set(key(ops), encoded, meta())
        hist.record(Number(nowNs() - s))
        await p
        ops++
      }
      return { hist: hist.toJSON(), ops, elapsedMs: performance.now() - t0, payloadBytes: encoded.length }
    }
    const fn = {
      encode: async () => lib.encodeValue(e0.value),
      decode: async () => lib.decodeValue(encoded),
      nativeGet: (n) => store.native.get(key(n)),
      nativeSet: (n) => store.native.set(key(n), encoded, meta()).then(() => true),
    }[step]
    const r = await timedLoop({ concurrency: 1, durationMs, op: fn })
    return { ...r, payloadBytes: encoded.length }
  },

  async close() {
    await c?.close()
    return true
  },
}

process.on('message', async (msg) => {
  const { id, cmd, args } = msg
  try {
    const result = await commands[cmd](args || {})
    process.send({ id, ok: true, result })
  } catch (err) {
    process.send({ id, ok: false, error: String(err?.stack || err) })
  }
})
process.on('disconnect', () => process.exit(0))
// Peers log connection noise on shutdown; keep the bench output readable.
process.on('unhandledRejection', (err) => {
  if (process.env.BENCH_DEBUG) console.error(`[worker ${name}] unhandled rejection:`, err)
})
