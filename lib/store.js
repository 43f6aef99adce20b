'use strict'
// Process-wide stores: Next constructs the handler for every request, so connections, the
// L1 and all state live here, keyed by configuration, never on handler instances.

const { createHash } = require('node:crypto')
const { inspect } = require('node:util')
const { Native, CONNECTIVITY, STORE_HEALTH, OUTBOX } = require('./native')
const { resolveConfig } = require('./config')
const { L1 } = require('./l1')
const { Log, checkLogger } = require('./log')
const { latencyHistograms, lagHistogram } = require('./metrics')
const fleet = require('./fleet')
const { Leases } = require('./lease')
const { Cdn } = require('./cdn/deliver')

const REGISTRY = Symbol.for('shared-isr.registry')
const registry = (globalThis[REGISTRY] ??= { caches: new Map(), notified: false })
registry.closing ??= new Set() // stores closed but still recording their pending revalidations

/** What a payload costs decoded: the codec's estimate (`decode.sizeOf`), else its size. */
const sizeOf = (decode, payload) => (typeof decode.sizeOf === 'function' ? decode.sizeOf(payload) : payload.length)
/** Tags a message names, and how much of each: a bulk webhook can send 100k, a tag can be megabytes. */
const NAMED_TAGS = 5
const TAG_SHOWN = 60
/** A tag list for a message: the first few (of `total`), each cut short, then how many more. */
function describeTags(tags, total = tags.length) {
  const shown = tags.slice(0, NAMED_TAGS).map((t) => (t.length > TAG_SHOWN ? `${t.slice(0, TAG_SHOWN)}... (${t.length} chars)` : t))
  const json = JSON.stringify(shown)
  return total > shown.length ? `${json.slice(0, -1)}, ... ${total - shown.length} more]` : json
}
/** How long revalidations kept while Redis failed get to be recorded at close and at exit. */
const GRACE_MS = 2000
const FAILED = Symbol('failed') // the store could not answer (distinct from a miss)
const BAD = Symbol('bad') // an entry we refuse to read (corrupt, foreign): a miss, counted as corrupt
const UNDECODED = Symbol('undecoded') // an L1 copy of our own write, decoded on its first hit

/**
 * The store's health as calls see it: one log line when it starts failing, one when it
 * recovers, none per call; and what `health()` reports, without a call of its own.
 */
class HealthLog {
  /**
   * `onAnswering(recovered)`: called when a call succeeds after none did (first use) or after a
   * failure streak (`recovered` true).
   */
  constructor(store, log, onAnswering) {
    this.store = store
    this.log = log
    this.onAnswering = onAnswering
    this.failing = null // 'connectivity' or the code of the current failure streak
    this.failingSince = 0
    this.lastOkAt = 0
    this.lastError = null // { op, code, message, at }
  }
  ok() {
    const first = this.lastOkAt === 0
    const recovered = this.failing !== null
    this.lastOkAt = Date.now()
    if (recovered) {
      this.failing = null
      this.log.info({ event: 'store_recovered', store: this.store }, `${this.store} store is healthy again`)
    } else if (!first) return
    this.onAnswering?.(recovered)
  }
  /** The store has answered a call and is not failing now. */
  answering() {
    return this.lastOkAt > 0 && this.failing === null
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

/**
 * Revalidations the outbox dropped to stay within its bound (oldest first): one line per streak
 * of drops, which ends once the store is healthy again; never one per call.
 */
class DropLog {
  constructor(log) {
    this.log = log
    this.seen = 0 // tags dropped so far (the addon's count)
    this.streak = false
  }
  note(dropped) {
    if (dropped <= this.seen) return
    if (!this.streak) {
      this.log.error(
        { event: 'revalidations_dropped', tags: dropped - this.seen },
        `dropped pending revalidations of ${dropped - this.seen} tag(s): Redis is failing and the revalidations kept for it ` +
          `are over ${OUTBOX.maxTags} tags or ${OUTBOX.maxBytes / 1048576} MiB in this process, so the oldest go first. Other ` +
          'instances serve their pages until they revalidate by time: revalidate them again once Redis is back. ' +
          'Further drops are not logged until the store recovers (stats().revalidationsDropped counts them).',
      )
    }
    this.streak = true
    this.seen = dropped
  }
  recovered() {
    this.streak = false
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
    this.closing = null // close()'s promise
    this.shut = false // the addon's side is closed
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
    this.drops = new DropLog(this.log)
    // The fleet hears of this instance as soon as the store answers, not one period later; a
    // recovery also ends a streak of dropped revalidations.
    this.healthLog = new HealthLog(this.kind, this.log, (recovered) => {
      if (recovered) this.drops.recovered()
      this.heartbeat?.beat()
    })
    this.capsKnown = this.kind !== 'redis' // what the server allows is said once, when learnt
    // During `next build` the store may see few calls: ask at once, so a Redis that refuses
    // what the package needs is said at build time too. Never fails the build.
    if (this.kind === 'redis' && process.env.NEXT_PHASE === 'phase-production-build') {
      this.native.probe().then(
        () => this.learnCapabilities(),
        () => {},
      )
    }
    this.badKeys = new KeyLog(this.log)
    this.builds = new Set() // the build ids of the page entries read or written lately
    this.heartbeat = fleet.register(this, config.heartbeatSeconds)
    this.leases = new Leases(this, config)
    // Purges for the CDN in front, if one is set: fleet-wide through Redis, else this process's.
    // Not during `next build`: nothing is served yet, and the build must not need the CDN.
    this.cdn =
      cdn && process.env.NEXT_PHASE !== 'phase-production-build'
        ? new Cdn(cdn, { native: this.kind === 'redis' ? this.native : null, log: this.log, lag: lagHistogram() })
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
      this.learnCapabilities()
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
      this.learnCapabilities()
      this.leases.release(key)
      return written
    } catch (err) {
      this.trouble('set', key, err, 'not caching', 'write_skipped')
      return false
    }
  }

  /**
   * Once the store has connected: says, once, what the server refuses and what that costs
   * (the words and the fix are the addon's). Without CLIENT TRACKING, no copy is kept: none
   * could be validated. One sync call until then, none after.
   */
  learnCapabilities() {
    if (this.capsKnown || this.closed) return
    const caps = this.native.capabilities()
    if (caps.tracking === null && caps.scripting === null) return
    this.capsKnown = true
    if (caps.tracking === false && this.l1.enabled) {
      this.l1.off()
      this.log.warn({ event: 'tracking_refused', store: 'redis' }, caps.trackingNote)
    }
    if (caps.scripting === false) this.log.error({ event: 'scripting_refused', store: 'redis' }, caps.scriptingNote)
  }

  /** A failed call: the store's health log when the store is unwell, else one line per key. */
  trouble(op, key, err, what = `${op} failed for`, event = 'call_failed') {
    this.learnCapabilities()
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
      this.learnCapabilities()
      this.localGen?.bump()
      this.cdn?.revalidated(tags)
      this.latency.revalidate.observe((performance.now() - t0) / 1000)
      this.healthLog.ok()
    } catch (err) {
      this.trouble('revalidateTag', describeTags(tags), err)
      // Connectivity failures are kept by the store and recorded, with their original time,
      // as soon as Redis answers; the caller still hears of it (a retry is harmless). A closed
      // store keeps nothing (what it gave up on is logged when it closes).
      const connectivity = CONNECTIVITY.has(err.code)
      if (connectivity && this.kind === 'redis') this.drops.note(this.native.stats().revalidationsDropped)
      const kept = connectivity && !this.closed ? ' (kept: it is recorded as soon as Redis answers)' : ''
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

  /** Whether calls reach the store now: it answered one and is not failing. */
  answering() {
    return this.healthLog.answering()
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
    const caps = this.kind === 'redis' && !this.closed ? this.native.capabilities() : null
    const failing =
      (this.kind === 'redis' && (h.failing !== null || n.circuitOpen || caps?.scripting === false)) || !!this.cdn?.failingSince
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
      // Redis only, null until connected. `tracking: false`: the server refuses CLIENT TRACKING,
      // so no L1 copy is kept (mode 'untracked': every hit reads Redis). `scripting: false`:
      // nothing can be cached (degraded).
      ...(caps
        ? {
            tracking: caps.tracking,
            scripting: caps.scripting,
            mode: caps.tracking === null ? null : caps.tracking && this.config.l1MaxBytes > 0 ? 'tracked' : 'untracked',
            problems: [caps.trackingNote, caps.scriptingNote].filter(Boolean),
          }
        : {}),
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

  /**
   * Closes the store: calls are refused from now on. Revalidations kept while Redis failed get
   * `graceMs` to be recorded first; those that are not are logged, never dropped silently.
   * Resolves with them (`{ revalidations, tags, first }`), or null when none was lost.
   */
  close(graceMs = GRACE_MS) {
    if (this.closing) return this.closing
    this.closed = true
    this.heartbeat?.stop() // leaves the fleet, before the connection goes
    this.cdn?.close()
    this.l1.clear()
    registry.closing.add(this)
    this.closing = this.settle(graceMs, 'the store was closed').finally(() => registry.closing.delete(this))
    return this.closing
  }

  async settle(graceMs, when) {
    // Whatever the flush met, what it left is said by shutDown.
    if (this.kind === 'redis' && this.native.stats().revalidationsPending > 0) await this.native.flush(graceMs).catch(() => false)
    return this.shutDown(when, graceMs)
  }

  /** At process exit: as `close`, blocking (nothing async runs any more). */
  settleAtExit() {
    if (this.shut || this.kind !== 'redis') return
    // First the leases this process holds: its renders stop here, nobody should wait on them.
    this.leases.releaseAllSync()
    if (this.native.stats().revalidationsPending > 0) this.native.flushPending(GRACE_MS)
    this.heartbeat?.stop() // leaves the fleet, while the connection is still there
    this.shutDown('the process exited', GRACE_MS)
  }

  /** Closes the addon's side, and says what it gave up on. */
  shutDown(when, graceMs) {
    if (this.shut) return null
    this.shut = true
    const left = this.native.close(NAMED_TAGS)
    if (left) {
      this.log.error(
        { event: 'revalidations_lost', revalidations: left.revalidations, tags: left.tags },
        `${left.revalidations} revalidation(s) of ${left.tags} tag(s) ${describeTags(left.first, left.tags)} were not recorded ` +
          `before ${when}: Redis did not answer within ${graceMs} ms. Other instances serve those pages until ` +
          'they revalidate by time: revalidate them again once Redis is back.',
      )
    }
    return left
  }
}

// At exit (Next's servers exit on SIGTERM), revalidations kept during a Redis failure get a
// short grace period to be recorded, and those that are not are logged; then the instance
// leaves the fleet (blocking briefly too), so it is not listed as alive once gone.
function settleOnExit() {
  for (const store of new Set([...registry.caches.values(), ...registry.closing])) store.settleAtExit()
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
      process.once('exit', settleOnExit)
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

/** Closes every store of this process (see `Store.close`); later calls create fresh ones. */
async function closeAll() {
  const stores = [...registry.caches.values()]
  registry.caches.clear()
  await Promise.all(stores.map((store) => store.close()))
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

module.exports = { getStore, closeAll, allStores, notePageHandler, hasPageHandler, Store, describeTags, GRACE_MS }
