'use strict'
// Delivers purges to the CDN: once per change for the whole fleet, batched, retried with
// backoff, and never lost while any instance lives. With Redis the feed is the manifest's own
// change log plus a queue of paths written anew (src/core/store/cdn.rs): every instance polls
// it, one at a time delivers. With the in-memory store the process is the whole fleet and
// keeps its own queue.

const crypto = require('node:crypto')
const os = require('node:os')
const { headerValue, purgeKeys, pathTags } = require('./keys')

/** Keys per batch taken from the feed (at least 100: one revalidation script holds 50 tags). */
const BATCH = 500
/** Past this many owed keys, one purge of everything replaces them (and is counted and logged). */
const MAX_BACKLOG = 100_000
/** A deliverer that stops answering (killed mid-batch) is replaced after this long. */
const LOCK_MS = 15_000
/** How often each instance looks for purges it did not cause itself (late records, a dead deliverer). */
const POLL_MS = 1000
const BACKOFF_MS = [250, 500, 1000, 2000, 5000, 10_000, 30_000]

/** Entry kinds whose value Next sends with its stored headers (pages, route handlers). */
const TAGGED_KINDS = new Set(['APP_PAGE', 'APP_ROUTE', 'ROUTE', 'PAGE', 'PAGES'])

class LocalFeed {
  constructor() {
    this.owed = new Set()
    this.all = false
  }
  add(tags) {
    for (const t of tags) {
      if (this.owed.size >= MAX_BACKLOG) {
        this.all = true
        this.owed.clear()
        return
      }
      this.owed.add(t)
    }
  }
  async take() {
    if (this.all) return { status: 'all' }
    const tags = [...this.owed].slice(0, BATCH)
    return { status: 'ok', tags, paths: [], scores: [], backlog: this.owed.size }
  }
  async done(batch) {
    if (batch.status === 'all') this.all = false
    for (const t of batch.tags) this.owed.delete(t)
  }
  async enqueue(paths) {
    this.add(paths)
  }
  async pending() {
    return { pending: this.owed.size, all: this.all }
  }
}

class RedisFeed {
  constructor(native) {
    this.native = native
    this.owner = `${os.hostname().slice(0, 60)}:${process.pid}:${crypto.randomBytes(4).toString('hex')}`
  }
  add() {} // recorded by the revalidation itself, in the manifest's log
  take() {
    return this.native.cdnTake(this.owner, LOCK_MS, BATCH, MAX_BACKLOG)
  }
  done(b) {
    return this.native.cdnDone(this.owner, b.cursor, b.status === 'all' ? b.until : null, b.paths, b.scores)
  }
  enqueue(paths) {
    return this.native.cdnEnqueue(paths, MAX_BACKLOG)
  }
  pending() {
    return this.native.cdnPending()
  }
}

class Cdn {
  /** `store`: what reports health and logs; `native`: the addon (Redis), or null (memory). */
  constructor(provider, { native, log, lag, poll = true }) {
    this.provider = provider
    this.log = log
    this.feed = native ? new RedisFeed(native) : new LocalFeed()
    this.running = null
    this.again = false
    this.failures = 0
    this.retry = null
    this.closed = false
    this.failingSince = 0
    this.lastError = null
    this.counts = { purgesSent: 0, purgesFailed: 0, purgeAlls: 0, keysPurged: 0, pathsQueued: 0, queueFailures: 0 }
    this.lastLagMs = null
    this.lag = lag ?? null // seconds from a revalidation being recorded to the CDN confirming its purge
    this.backlog = 0 // owed fleet-wide at the last batch taken, less what this process delivered since
    this.timer = poll ? setInterval(() => this.kick(), POLL_MS) : null
    this.timer?.unref()
  }

  /** Puts the CDN tag header on a page or route value Next will send (cached or just rendered). */
  tag(value, key, tags) {
    if (!value || typeof value !== 'object' || !TAGGED_KINDS.has(value.kind)) return
    const headers = value.headers && typeof value.headers === 'object' ? value.headers : (value.headers = {})
    // A copy served again (the L1's) already has it: the same tags give the same header.
    if (headers[this.provider.header] === undefined)
      headers[this.provider.header] = headerValue([...tags, ...pathTags(key)], this.provider.limits)
  }

  /** Tags recorded as revalidated: purge them (with Redis, the log already holds them). */
  revalidated(tags) {
    this.feed.add(tags)
    this.kick()
  }

  /** A page or route entry written anew: purge the objects of its path (see docs/cdn.md). */
  async written(key) {
    const paths = pathTags(key)
    if (paths.length === 0) return
    try {
      await this.feed.enqueue(paths)
      this.counts.pathsQueued += paths.length
      this.kick()
    } catch (err) {
      this.counts.queueFailures++
      this.failing(err)
    }
  }

  /** Delivers what is owed now (coalesced: a call during a run makes it go round once more). */
  kick() {
    if (this.closed) return this.running
    if (this.running) {
      this.again = true
      return this.running
    }
    this.running = this.run().finally(() => {
      this.running = null
    })
    return this.running
  }

  async run() {
    do {
      this.again = false
      try {
        if (await this.drain()) this.recovered()
      } catch (err) {
        this.counts.purgesFailed++
        this.failing(err)
        this.scheduleRetry(err)
        return
      }
    } while (this.again && !this.closed)
  }

  /** Batches until the feed is empty or another instance delivers; true when it delivered. */
  async drain() {
    let delivered = false
    for (;;) {
      const batch = await this.feed.take()
      if (batch.status === 'busy') return delivered
      if (batch.status === 'all') {
        await this.provider.purgeAll()
        this.counts.purgeAlls++
        this.counts.purgesSent++
        await this.feed.done(batch)
        this.log.warn(
          { event: 'cdn_purge_all', provider: this.provider.name },
          `more purges were owed than the bound (${MAX_BACKLOG}) or the store lost its change log: purged everything shared-isr tagged at the CDN`,
        )
        delivered = true
        continue
      }
      const owed = [...batch.tags, ...batch.paths]
      this.backlog = batch.backlog ?? owed.length
      if (owed.length === 0) return delivered
      const keys = purgeKeys(owed, this.provider.limits)
      await this.provider.purge(keys, owed)
      this.counts.purgesSent++
      this.counts.keysPurged += keys.length
      await this.feed.done(batch)
      this.backlog = Math.max(0, this.backlog - owed.length)
      // The epoch a revalidation is logged at starts from its time in ms * 1000.
      const at = Number(batch.cursor) / 1000
      if (batch.tags.length > 0 && Number.isFinite(at) && at > 0) {
        this.lastLagMs = Math.max(0, Date.now() - at)
        this.lag?.observe(this.lastLagMs / 1000)
      }
      delivered = true
      if (owed.length < BATCH) return delivered
    }
  }

  scheduleRetry(err) {
    if (this.closed || this.retry) return
    const wait = err?.retryAfterMs ?? BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)]
    this.retry = setTimeout(() => {
      this.retry = null
      this.kick()
    }, wait)
    this.retry.unref()
  }

  failing(err) {
    this.failures++
    this.lastError = { code: err?.code ?? 'ERR_SHARED_ISR_CDN', message: String(err?.message ?? err), at: Date.now() }
    if (this.failingSince) return
    this.failingSince = this.lastError.at
    this.log.warn(
      { event: 'cdn_failing', provider: this.provider.name, code: this.lastError.code },
      `CDN purge failed (${this.provider.describe()}): ${this.lastError.message}. Purges are kept and retried with backoff; further failures are not logged.`,
    )
  }

  recovered() {
    this.failures = 0
    if (!this.failingSince) return
    this.failingSince = 0
    this.log.info({ event: 'cdn_recovered', provider: this.provider.name }, `CDN purges are delivered again (${this.provider.describe()})`)
  }

  /** Counters, and whether purges fail now. */
  stats() {
    return {
      provider: this.provider.name,
      failing: this.failingSince > 0,
      lastLagMs: this.lastLagMs,
      backlog: this.backlog,
      ...this.counts,
    }
  }

  /** What is owed (fleet-wide with Redis): `{ pending, all }`. */
  pending() {
    return this.feed.pending()
  }

  health() {
    return {
      provider: this.provider.describe(),
      status: this.failingSince ? 'failing' : 'ok',
      failingSince: this.failingSince ? new Date(this.failingSince).toISOString() : null,
      lastError: this.lastError && { ...this.lastError, at: new Date(this.lastError.at).toISOString() },
    }
  }

  close() {
    this.closed = true
    clearInterval(this.timer)
    clearTimeout(this.retry)
  }
}

module.exports = { Cdn, TAGGED_KINDS, BATCH, MAX_BACKLOG, LOCK_MS, POLL_MS }
