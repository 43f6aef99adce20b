'use strict'
// Process-wide stores: Next constructs the handler for every request, so connections, the
// L1 and all state live here, keyed by configuration, never on handler instances.

const { createHash } = require('node:crypto')
const { inspect } = require('node:util')
const { Native, CONNECTIVITY, STORE_HEALTH } = require('./native')
const { resolveConfig } = require('./config')
const { L1 } = require('./l1')
const { Log, checkLogger } = require('./log')
const { latencyHistograms, lagHistogram } = require('./metrics')
const fleet = require('./fleet')
const { Leases } = require('./lease')
const { Cdn } = require('./cdn/deliver')

const REGISTRY = Symbol.for('shared-isr.registry')
const registry = (globalThis[REGISTRY] ??= { caches: new Map(), notified: false })

/** What a payload costs decoded: the codec's estimate (`decode.sizeOf`), else its size. */
const sizeOf = (decode, payload) => (typeof decode.sizeOf === 'function' ? decode.sizeOf(payload) : payload.length)
/** A tag list for a message: a few, then how many more (a bulk webhook can send 100k). */
const describeTags = (tags) =>
  tags.length <= 5 ? JSON.stringify(tags) : `${JSON.stringify(tags.slice(0, 5)).slice(0, -1)}, ... ${tags.length - 5} more]`
const FAILED = Symbol('failed') // the store could not answer (distinct from a miss)
const BAD = Symbol('bad') // an entry we refuse to read (corrupt, foreign): a miss, counted as corrupt
const UNDECODED = Symbol('undecoded') // an L1 copy of our own write, decoded on its first hit

/**
 * The store's health as calls see it: one log line when it starts failing, one when it
 * recovers, none per call; and what `health()` reports, without a call of its own.
 */
class HealthLog {
  constructor(store, log) {
    this.store = store
    this.log = log
    this.failing = null // 'connectivity' or the code of the current failure streak
    this.failingSince = 0
    this.lastOkAt = 0
    this.lastError = null // { op, code, message, at }
  }
  ok() {
    this.lastOkAt = Date.now()
    if (this.failing !== null) {
      this.failing = null
      this.log.info({ event: 'store_recovered', store: this.store }, `${this.store} store is healthy again`)
    }
  }
  fail(op, err) {
    const code = err?.code || 'ERR_SHARED_ISR_UNKNOWN'
    this.lastError = { op, code, message: String(err?.message ?? err), at: Date.now() }
    // A timeout and the breaker's fast rejections are one outage, not two.
    const streak = CONNECTIVITY.has(code) ? 'connectivity' : code
    if (this.failing === streak) return
    if (this.failing === null) this.failingSince = this.lastError.at
    this.failing = streak
    this.log.warn(
      { event: 'store_failing', store: this.store, op, code },
      `${op} failed (${code}): ${err?.message ?? err}. ` +
        'Reads are misses (or local copies) and writes are skipped until it recovers; further errors of this kind are not logged.',
    )
  }
}

/** Bad entries are about one key, not the store's health: one line per key, bounded. */
class KeyLog {
  constructor(log, limit = 1000) {
    this.log = log
    this.seen = new Set()
    this.limit = limit
  }
  once(key, message, fields = { event: 'call_failed' }) {
    if (this.seen.has(key)) return
    if (this.seen.size >= this.limit) this.seen.clear()
    this.seen.add(key)
    this.log.warn({ ...fields, key }, message)
  }
}

/** Read outcomes by where the answer came from: `source:result`. */
const READS = ['l1', 'store', 'fallback', 'build'].flatMap((source) =>
  ['fresh', 'stale', 'expired', 'miss', 'error', 'corrupt'].map((result) => `${source}:${result}`),
)

/**
 * The memory store's coherence: every write goes through this process's L1 protocol, so a copy
 * stays valid until its own key is written (which the protocol handles); revalidations move the
 * generation, so remembered verdicts are made anew.
 */
class LocalGeneration {
  constructor() {
    this.gen = 1
  }
  coherence() {
    return this.gen
  }
  isValid() {
    return true
  }
  bump() {
    this.gen++
  }
}

class Store {
  constructor(config, { logger } = {}) {
    this.config = config
    this.log = new Log(logger)
    const { buildId, strict, cdn, ...nativeOptions } = config
    this.native = new Native(nativeOptions)
    this.kind = this.native.store
    this.closed = false
    this.strict = !!strict
    // Decoded copies in front of either store: a hit then costs no copy, decompression or
    // decode. Redis: kept coherent by client tracking (the addon's generation). Memory: this
    // process is the only writer, so only its own revalidations move the generation. Without
    // copies (l1MaxBytes 0) the L1 still shares reads in flight (single-flight).
    this.localGen = this.kind === 'memory' ? new LocalGeneration() : null
    // Memory: the copies stay within the store's own budget (what fell out of it falls out here too).
    const copies = this.localGen ? Math.min(config.l1MaxBytes, config.memoryMaxBytes) : config.l1MaxBytes
    this.l1 = new L1(copies, copies > 0 ? (this.localGen ?? this.native) : null)
    // Reads as the handler sees them, counted here only (the L1 lives here).
    this.readCounts = Object.fromEntries(READS.map((k) => [k, 0]))
    this.errorCounts = new Map() // 'op code' -> failed calls
    this.latency = latencyHistograms()
    this.lag = lagHistogram()
    this.healthLog = new HealthLog(this.kind, this.log)
    this.badKeys = new KeyLog(this.log)
    this.builds = new Set() // the build ids of the page entries read or written lately
    this.heartbeat = fleet.register(this, config.heartbeatSeconds)
    this.leases = new Leases(this, config)
    // Purges for the CDN in front, if one is set: fleet-wide through Redis, else this process's.
    // Not during `next build`: nothing is served yet, and the build must not need the CDN.
    this.cdn =
      cdn && process.env.NEXT_PHASE !== 'phase-production-build'
        ? new Cdn(cdn, { native: this.kind === 'redis' ? this.native : null, log: this.log })
        : null
  }

  /**
   * Reads `key`: from the L1 when its copy is provably current, else from the store (one
   * round trip shared by concurrent callers). `readTags` are judged in addition to the
   * entry's own. Never rejects; null is a miss.
   * @returns {Promise<{ value: any, lastModified: number, revalidate?: number | false, expire?: number, tags: string[], freshness: 'fresh' | 'stale' | 'expired', writeId: number } | null>}
   */
  async read(key, readTags, decode) {
    const rec = await this.lookup(key, readTags, decode)
    const c = this.readCounts
    if (rec === null) c['store:miss']++
    else if (rec === FAILED) c['store:error']++
    else if (rec === BAD) c['store:corrupt']++
    else {
      c[`${rec.source}:${rec.freshness}`]++
      return rec
    }
    return null
  }

  /** Reads `key` from the store, never from a local copy: the caller knows the copy is older
   * than what the store holds (a lease check found the entry replaced). */
  async reread(key, readTags, decode) {
    this.l1.delete(key)
    return this.read(key, readTags, decode)
  }

  async lookup(key, readTags, decode) {
    const l1 = this.l1
    const gen = l1.generation()
    const local = gen > 0 ? l1.current(key, gen) : undefined
    if (local !== undefined && this.decoded(key, local)) {
      if (!this.strict) return this.judged(local, readTags, gen, 'l1')
      if (await this.stillStored(key, local)) {
        // The check synced the manifest if it moved (bumping the generation): judge anew.
        return this.judged(local, readTags, Math.abs(l1.generation()), 'l1')
      }
      l1.delete(key)
    }
    const rec = await l1.read(key, Math.abs(gen), (flight) => this.load(key, readTags, decode, flight))
    if (rec === FAILED) {
      // Stale-if-error: with the store unreachable, the last copy we had beats a miss.
      const last = l1.fallback(key)
      return last && this.decoded(key, last) ? this.judged(last, readTags, 0, 'fallback') : FAILED
    }
    if (rec === null || rec === BAD) return rec
    return this.judged(rec, readTags, gen, 'store')
  }

  async stillStored(key, rec) {
    const t0 = performance.now()
    try {
      const same = await this.native.check(key, rec.writeId)
      this.latency.check.observe((performance.now() - t0) / 1000)
      return same
    } catch (err) {
      this.trouble('check', key, err)
      return false
    }
  }

  async load(key, readTags, decode, flight) {
    let hit
    const t0 = performance.now()
    try {
      // Read-time tags go along so their stamps are looked up and judged in the same call.
      hit = await this.native.get(key, readTags)
      this.latency.get.observe((performance.now() - t0) / 1000)
      this.healthLog.ok()
    } catch (err) {
      if (err.code === 'ERR_SHARED_ISR_CORRUPT') {
        this.badKeys.once(key, `ignoring the entry under ${JSON.stringify(key)} (${err.code}): ${err.message}; treated as a miss`, {
          event: 'entry_ignored',
          code: err.code,
        })
        this.l1.delete(key)
        return BAD
      }
      this.trouble('get', key, err)
      return FAILED
    }
    if (!hit) {
      this.l1.delete(key)
      return null
    }
    let value
    try {
      value = decode(hit.payload)
    } catch (err) {
      this.native.noteCorrupt()
      this.badKeys.once(
        key,
        `ignoring the entry under ${JSON.stringify(key)} (ERR_SHARED_ISR_CORRUPT): ${err.message}; treated as a miss`,
        {
          event: 'entry_ignored',
          code: 'ERR_SHARED_ISR_CORRUPT',
        },
      )
      this.l1.delete(key)
      return BAD
    }
    const rec = {
      value,
      lastModified: hit.lastModified,
      revalidate: hit.revalidate,
      expire: hit.expire,
      tags: hit.tags,
      writeId: hit.writeId,
      size: sizeOf(decode, hit.payload),
      deadline: hit.deadline,
      // The store judged it with these read-time tags, under the generation from before the read.
      verdict: { gen: flight.gen, until: hit.until, readTags, freshness: hit.freshness },
      gen: flight.gen,
    }
    this.l1.keep(key, flight, rec)
    return rec
  }

  /** A value that is not in the store (build output while Redis is down), judged locally. */
  async judgeLocal(value, lastModified, tags) {
    const { freshness } = await this.native.judgeTags(tags, lastModified)
    this.readCounts[`build:${freshness}`]++
    return { value, lastModified, revalidate: undefined, expire: undefined, tags, freshness, writeId: 0, source: 'build' }
  }

  /**
   * An L1 copy of our own write keeps its bytes until its first hit. Decoding them cannot fail
   * short of a bug; if it does, the copy is dropped and the read goes to the store.
   */
  decoded(key, rec) {
    if (rec.value !== UNDECODED) return true
    try {
      rec.value = rec.decode(rec.payload)
      rec.payload = rec.decode = null
      return true
    } catch (err) {
      this.l1.delete(key)
      this.badKeys.once(key, `dropping the local copy of ${JSON.stringify(key)}: ${err.message}`, { event: 'copy_dropped' })
      return false
    }
  }

  /**
   * What to answer for `rec` at generation `gen`: the verdict remembered for these read-time
   * tags when it still holds, else judged with this process's view (from the store when a
   * tag's stamps are not known here).
   */
  async judged(rec, readTags, gen, source) {
    let freshness = this.l1.verdict(rec, readTags, gen)
    if (freshness === undefined) {
      const tags = readTags && readTags.length > 0 ? [...rec.tags, ...readTags] : rec.tags
      let j = this.native.judge(tags, rec.lastModified)
      if (j.freshness === 'unknown') j = await this.native.judgeTags(tags, rec.lastModified)
      freshness = j.freshness
      this.l1.remember(rec, readTags, gen, freshness, j.until)
    }
    return this.answer(rec, freshness, source)
  }

  answer(rec, freshness, source) {
    return {
      source,
      value: rec.value,
      lastModified: rec.lastModified,
      revalidate: rec.revalidate,
      expire: rec.expire,
      tags: rec.tags,
      freshness,
      writeId: rec.writeId,
    }
  }

  /**
   * Stores `payload` and keeps it as this process's L1 copy, decoded from our own bytes on its
   * first hit (the caller's objects are never shared). Never rejects: a failed write is
   * logged and counted.
   */
  async write(key, payload, meta, decode) {
    const l1 = this.l1
    if (!l1.enabled) return (await this.send(key, payload, meta)) !== false
    const token = l1.beginWrite(key)
    let stored = false
    try {
      stored = await this.send(key, payload, meta)
    } finally {
      // Decoded on the first hit, not here: a set does not pay for a read that may never come.
      const copy = stored && {
        value: UNDECODED,
        payload,
        decode,
        lastModified: meta.lastModified,
        revalidate: meta.revalidate,
        expire: meta.expire,
        tags: meta.tags ?? [],
        writeId: stored.writeId,
        size: sizeOf(decode, payload),
        deadline: stored.deadline,
        verdict: null,
        gen: 0,
      }
      l1.endWrite(token, copy || null, !!meta.ifAbsent)
    }
    return stored !== false
  }

  /** The write itself: `{ writeId, deadline }`, or false when it failed (logged and counted). */
  async send(key, payload, meta) {
    const t0 = performance.now()
    try {
      const written = await this.native.set(key, payload, meta)
      this.latency.set.observe((performance.now() - t0) / 1000)
      this.healthLog.ok()
      this.leases.release(key)
      return written
    } catch (err) {
      this.trouble('set', key, err, 'not caching', 'write_skipped')
      return false
    }
  }

  /** A failed call: the store's health log when the store is unwell, else one line per key. */
  trouble(op, key, err, what = `${op} failed for`, event = 'call_failed') {
    const code = err?.code ?? 'ERR_SHARED_ISR_UNKNOWN'
    const counted = `${op} ${code}`
    this.errorCounts.set(counted, (this.errorCounts.get(counted) ?? 0) + 1)
    if (STORE_HEALTH.has(code)) this.healthLog.fail(op, err)
    else this.badKeys.once(`${op}:${key}`, `${what} ${JSON.stringify(key)} (${code}): ${err?.message ?? err}`, { event, op, code })
  }

  /** Rejects when the revalidation could not be recorded: callers must see that. */
  async revalidateTags(tags, durations) {
    const t0 = performance.now()
    try {
      await this.native.revalidateTags(tags, durations)
      this.localGen?.bump()
      this.cdn?.revalidated(tags)
      this.latency.revalidate.observe((performance.now() - t0) / 1000)
      this.healthLog.ok()
    } catch (err) {
      this.trouble('revalidateTag', describeTags(tags), err)
      // Connectivity failures are kept by the store and recorded, with their original time,
      // as soon as Redis answers; the caller still hears of it (a retry is harmless).
      const kept = CONNECTIVITY.has(err.code) ? ' (kept: it is recorded as soon as Redis answers)' : ''
      const wrapped = new Error(`shared-isr could not record the revalidation of ${describeTags(tags)}${kept}: ${err.message}`, {
        cause: err,
      })
      wrapped.code = err.code
      throw wrapped
    }
  }

  /** Never rejects: without the store, this process keeps the view it has. */
  async refreshTags() {
    try {
      await this.native.refreshTags()
      this.healthLog.ok()
    } catch (err) {
      this.trouble('refreshTags', 'tags', err)
    }
  }

  tagExpiration(tags) {
    return this.native.tagExpiration(tags)
  }

  stats() {
    const c = this.readCounts
    const total = (result) => c[`l1:${result}`] + c[`store:${result}`] + c[`fallback:${result}`]
    const l1Hits = c['l1:fresh'] + c['l1:stale'] + c['l1:expired']
    const served = total('fresh') + total('stale') + total('expired')
    return {
      ...this.native.stats(),
      gets: served + c['store:miss'] + c['store:error'] + c['store:corrupt'],
      hits: total('fresh'),
      staleHits: total('stale'),
      expiredHits: total('expired'),
      misses: c['store:miss'],
      l1Hits,
      l1Entries: this.l1.size,
      l1Bytes: this.l1.bytes,
      l1MaxBytes: this.l1.maxBytes,
    }
  }

  /** The invalidation lag histogram, with the samples the addon took since the last look. */
  invalidationLag() {
    if (this.kind === 'redis' && !this.closed) for (const ms of this.native.takeLags()) this.lag.observe(ms / 1000)
    return this.lag
  }

  /** A build whose page entries this store serves (reported in the fleet view; bounded). */
  noteBuild(id) {
    if (this.builds.has(id)) return
    if (this.builds.size >= fleet.MAX_BUILDS) this.builds.delete(this.builds.values().next().value)
    this.builds.add(id)
  }

  /**
   * How the store is doing, from what calls saw (no call of its own): `ok`, or `degraded`
   * while Redis fails (the site still serves: reads are misses or local copies).
   */
  health() {
    const n = this.native.stats()
    const h = this.healthLog
    const failing = (this.kind === 'redis' && (h.failing !== null || n.circuitOpen)) || !!this.cdn?.failingSince
    return {
      status: this.closed ? 'closed' : failing ? 'degraded' : 'ok',
      store: this.kind,
      // null until a call has reached Redis (the store connects on first use).
      reachable: this.kind === 'memory' ? true : h.failing === 'connectivity' || n.circuitOpen ? false : h.lastOkAt > 0 ? true : null,
      circuitOpen: n.circuitOpen,
      redisFailures: n.redisFailures,
      failingSince: failing && h.failingSince ? new Date(h.failingSince).toISOString() : null,
      lastOkAt: h.lastOkAt ? new Date(h.lastOkAt).toISOString() : null,
      lastError: h.lastError && { ...h.lastError, at: new Date(h.lastError.at).toISOString() },
      revalidationsPending: n.revalidationsPending,
      // Only with a CDN set: purges failing make the store degraded (the CDN serves old pages).
      ...(this.cdn ? { cdn: this.cdn.health() } : {}),
    }
  }

  /** What `util.inspect` shows: the config without secrets, never the native handle. */
  [inspect.custom](depth, opts, insp) {
    return `Store ${insp(this.toJSON(), opts)}`
  }

  toJSON() {
    return { kind: this.kind, closed: this.closed, config: this.config.toJSON() }
  }

  close() {
    this.closed = true
    this.heartbeat?.stop()
    this.cdn?.close()
    this.l1.clear()
    this.native.close()
  }
}

// At exit (Next's servers exit on SIGTERM), revalidations kept during a Redis failure get a
// short grace period to be recorded: a blocking wait, as nothing async runs any more.
const EXIT_GRACE_MS = 2000

function flushOnExit() {
  for (const store of registry.caches.values()) {
    if (store.kind !== 'redis' || store.closed) continue
    // First the leases this process holds: its renders stop here, nobody should wait on them.
    store.leases.releaseAllSync()
    if (store.native.stats().revalidationsPending > 0) store.native.flushPending(EXIT_GRACE_MS)
  }
}

/** The process-wide store for these options (environment used for what they leave out). */
function getStore(options = {}) {
  const config = resolveConfig(options)
  const logger = checkLogger(options.logger)
  // A digest of every setting, the password included (two passwords are two stores), so the
  // registry holds no secret in the clear.
  const id = createHash('sha256')
    .update(JSON.stringify(Object.entries(config)))
    .digest('hex')
  let store = registry.caches.get(id)
  if (!store) {
    store = new Store(config, { logger })
    registry.caches.set(id, store)
    if (store.kind === 'redis' && !registry.exitHook) {
      registry.exitHook = true
      process.once('exit', flushOnExit)
    }
    // One line naming the Redis in use (password redacted), as the in-memory store has its own.
    if (store.kind === 'redis') {
      const { redisUrl: url, prefix } = config.toJSON()
      store.log.info(
        { event: 'redis_store', store: 'redis', url, prefix },
        `Using the Redis store at ${url} (prefix ${JSON.stringify(prefix)}): instances with this URL and prefix share the cache.`,
      )
    }
    if (store.kind === 'memory' && !registry.notified) {
      registry.notified = true
      store.log.info(
        { event: 'memory_store' },
        'No SHARED_ISR_REDIS_URL or REDIS_URL set: using the in-memory store. The cache works, but instances do not share it.',
      )
    }
  }
  return store
}

/** Closes every store of this process; later calls create fresh ones. */
function closeAll() {
  for (const store of registry.caches.values()) store.close()
  registry.caches.clear()
}

function allStores() {
  return [...registry.caches.values()]
}

/** Called by every page handler class made in this process (`createHandler`). */
function notePageHandler() {
  registry.pageHandler = true
}

/** Whether this process made one: Next loads the page handler before any render. */
function hasPageHandler() {
  return registry.pageHandler === true
}

module.exports = { getStore, closeAll, allStores, notePageHandler, hasPageHandler, Store }
