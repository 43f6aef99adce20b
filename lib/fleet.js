'use strict'
// The fleet view: each process using a Redis store registers itself with a heartbeat (a small
// JSON summary under an expiring key, src/core/store/fleet.rs), so `npx shared-isr status` can
// show every live instance, the builds they serve and how they are doing.
//
// Cheap by construction: one script every `heartbeatSeconds` (default 5) from an unref'd timer, nothing on
// the request path, no log line ever (a failed heartbeat is counted, not logged). Heartbeats
// start after the store's first successful call and pause while it fails, so they never
// become the call that discovers an outage. Not during `next build`.

const os = require('node:os')
const crypto = require('node:crypto')

/** An instance counts as alive for this many heartbeat periods after its last one. */
const TTL_PERIODS = 3
/** Build ids a store reports: the few it served recently, never a growing list. */
const MAX_BUILDS = 8

const instanceId = () => `${os.hostname().slice(0, 100)}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`

let nextVersion // resolved once: the app's `next`, when there is one
function appNextVersion() {
  if (nextVersion === undefined) {
    try {
      nextVersion = require(require.resolve('next/package.json', { paths: [process.cwd()] })).version
    } catch {
      nextVersion = null
    }
  }
  return nextVersion
}

/** Registers `store` in the fleet until it closes. */
class Heartbeat {
  constructor(store, seconds) {
    this.store = store
    this.id = instanceId()
    this.periodMs = seconds * 1000
    this.ttlMs = Math.max(1000, this.periodMs * TTL_PERIODS)
    this.startedAt = Date.now()
    this.skewMs = null
    this.sent = 0
    this.failed = 0
    this.inFlight = false
    this.timer = setInterval(() => this.beat(), this.periodMs)
    this.timer.unref()
  }

  /** What an operator sees of this instance. */
  summary() {
    const s = this.store.stats()
    const h = this.store.health()
    let errors = 0
    for (const n of this.store.errorCounts.values()) errors += n
    const lag = this.store.invalidationLag()
    return JSON.stringify({
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      periodMs: this.periodMs,
      clockSkewMs: this.skewMs,
      sharedIsr: require('../package.json').version,
      node: process.version,
      next: appNextVersion(),
      store: this.store.kind,
      builds: [...this.store.builds],
      status: h.status,
      stats: {
        gets: s.gets,
        hits: s.hits,
        staleHits: s.staleHits,
        expiredHits: s.expiredHits,
        misses: s.misses,
        l1Hits: s.l1Hits,
        l1Bytes: s.l1Bytes,
        errors,
        revalidations: s.revalidations,
        revalidationsPending: s.revalidationsPending,
        revalidationsDropped: s.revalidationsDropped,
        circuitOpen: s.circuitOpen,
        invalidations: lag.count,
        invalidationLagMeanMs: lag.count ? Math.round((lag.sum / lag.count) * 1000) : null,
      },
    })
  }

  async beat() {
    const store = this.store
    // Only while the store is known healthy: never the call that finds an outage.
    if (this.inFlight || store.closed || store.healthLog.lastOkAt === 0 || store.healthLog.failing !== null) return
    this.inFlight = true
    try {
      const sentAt = Date.now()
      const redisNow = await store.native.heartbeat(this.id, this.summary(), this.ttlMs)
      const back = Date.now()
      // Our clock minus Redis's, at the middle of the round trip.
      this.skewMs = Math.round((sentAt + back) / 2 - redisNow)
      this.sent++
    } catch {
      this.failed++
    } finally {
      this.inFlight = false
    }
  }

  stop() {
    clearInterval(this.timer)
  }
}

/** Starts the heartbeat of a Redis store every `seconds` (config `heartbeatSeconds`; not during `next build`, not at 0). */
function register(store, seconds) {
  if (store.kind !== 'redis' || process.env.NEXT_PHASE === 'phase-production-build' || !(seconds > 0)) return null
  return new Heartbeat(store, seconds)
}

module.exports = { register, MAX_BUILDS, TTL_PERIODS }
