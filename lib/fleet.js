'use strict'
// The fleet view: each process using a Redis store registers itself with a heartbeat (a small
// JSON summary under a key expiring with the instance's own TTL, src/core/store/fleet.rs), so
// `npx shared-isr status` can show every live instance, the builds they serve and how they are doing.
//
// Cheap by construction: one script every `heartbeatSeconds` (default 5) from an unref'd timer, nothing on
// the request path, no log line ever (a failed heartbeat is counted, not logged). The first
// heartbeat goes out as soon as the store's first call succeeds (and again at once when it
// recovers); heartbeats pause while it fails, so they never become the call that discovers an
// outage. Not during `next build`. Closing the store (or the process exiting) leaves the fleet
// at once. How long an instance counts as alive after a heartbeat is ruled by the addon.

const os = require('node:os')
const crypto = require('node:crypto')

/** How long leaving may block close or exit (it is one round trip; Redis may be hung). */
const LEAVE_TIMEOUT_MS = 250
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
    this.startedAt = Date.now()
    this.skewMs = null
    this.sent = 0
    this.failed = 0
    this.inFlight = false
    this.stopped = false
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

  /** Also called by the store when a call succeeds after none did (first use, recovery). */
  async beat() {
    const store = this.store
    // Only while the store is known healthy: never the call that finds an outage.
    if (this.inFlight || this.stopped || !store.answering()) return
    this.inFlight = true
    try {
      const sentAt = Date.now()
      const redisNow = await store.native.heartbeat(this.id, this.summary(), this.periodMs)
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

  /**
   * Leaves the fleet at once (no operator should count on a closed instance), blocking at most
   * LEAVE_TIMEOUT_MS: close and exit have no event loop to wait on. A heartbeat still in flight
   * may land after the leave: the addon is told, so that it does not register us again.
   * Skipped when this instance never sent a heartbeat or the store is failing; then its entry
   * expires with its TTL.
   */
  stop() {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    if ((this.sent > 0 || this.inFlight) && this.store.answering()) {
      try {
        this.store.native.leave(this.id, this.periodMs, this.inFlight, LEAVE_TIMEOUT_MS)
      } catch {
        this.failed++
      }
    }
  }
}

/** Starts the heartbeat of a Redis store every `seconds` (config `heartbeatSeconds`; not during `next build`, not at 0). */
function register(store, seconds) {
  if (store.kind !== 'redis' || process.env.NEXT_PHASE === 'phase-production-build' || !(seconds > 0)) return null
  return new Heartbeat(store, seconds)
}

module.exports = { register, MAX_BUILDS }
