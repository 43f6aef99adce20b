'use strict'
// One regeneration per key per change, fleet-wide. Next de-duplicates renders within one
// process only; behind a balancer every instance that sees a stale or expired entry would render
// it (and call the CMS). The first instance to need a regeneration takes a short lease in Redis
// (src/core/store/redis/lease.rs); the others
//   - serve the entry as it is, without regenerating, where it may be served (stale), and
//   - wait a bounded time for the holder's new entry where it may not (expired), then render
//     themselves if it has not come.
// The holder releases the lease once its new entry is stored; a holder that crashes, times out
// or whose render fails lets it expire (`leaseMs`). With Redis down every instance renders, as
// without the lease. Nothing here runs on a fresh hit.

const os = require('node:os')
const crypto = require('node:crypto')

/** How often a waiter reads the key without client tracking, and checks for its push with it. */
const POLL_MS = 25
const PUSH_CHECK_MS = 3

class Leases {
  /** `leaseMs` 0 turns leases off (every instance regenerates, as Next alone does). The
   * settings and their defaults are the config's (src/core/config.rs). */
  constructor(store, { leaseMs, leaseWaitMs }) {
    this.store = store
    // Strict mode promises no old answer once a change is recorded; the lease would have
    // non-holders serve the entry as it is, or wait for the holder: off there.
    this.leaseMs = store.kind === 'redis' && !store.strict ? leaseMs : 0
    this.waitMs = leaseWaitMs
    this.prefix = `${os.hostname().slice(0, 60)}:${process.pid}:${crypto.randomBytes(4).toString('hex')}:`
    this.seq = 0
    this.held = new Map() // key -> { token, until }: leases this process holds
    this.counts = { taken: 0, busy: 0, afterTakeover: 0, waited: 0, waitedOut: 0, released: 0, errors: 0 }
  }

  get enabled() {
    return this.leaseMs > 0
  }

  /**
   * Whether this process should regenerate `key` now: true when it took the lease (or leases
   * are off, or Redis cannot say: then as without the lease), false when another holds it.
   * Also true when another instance took the lease over from a holder that did not deliver:
   * the render may be failing, and waiting for it again would add the same delay to every
   * request until the lease expires.
   */
  async take(key, force = false) {
    if (!this.enabled) return true
    // Asked of Redis every time: a lease this process took may have expired and gone to
    // another instance since; one it still holds counts as taken (a render of ours is on it).
    const token = this.prefix + ++this.seq
    let state
    try {
      state = await this.store.native.lease(key, token, this.prefix, this.leaseMs, force)
    } catch (err) {
      // Redis cannot say: regenerate, as without the lease (logged and counted like any call).
      this.counts.errors++
      this.store.trouble('lease', key, err)
      return true
    }
    if (state === 'busy') {
      this.counts.busy++
      return false
    }
    if (state === 'takenOver') {
      this.counts.afterTakeover++
      return true
    }
    this.counts.taken++
    if (this.held.size >= 10_000) this.forgetExpired()
    this.held.set(key, { token, until: Date.now() + this.leaseMs })
    return true
  }

  /** After our new entry for `key` is stored: let the next change be regenerated at once. */
  release(key) {
    const mine = this.held.get(key)
    if (!mine) return
    this.held.delete(key)
    if (mine.until <= Date.now()) return
    this.store.native.release(key, this.prefix).then(
      () => this.counts.released++,
      () => this.counts.errors++,
    )
  }

  /**
   * Another instance regenerates `key`: waits (at most `leaseWaitMs`) for an entry newer than
   * `old` that reads fresh, and returns it; null when it did not come (render yourself).
   */
  async awaitNew(key, old, readTags, decode) {
    this.counts.waited++
    const deadline = Date.now() + this.waitMs
    const l1 = this.store.l1
    let since = Math.abs(l1.generation())
    let looked = 0
    while (Date.now() < deadline) {
      // With client tracking the holder's write arrives as a push about this key: a sync check
      // every few ms, a read only once it came (or now and then, should a push be lost).
      await new Promise((r) => setTimeout(r, since > 0 ? PUSH_CHECK_MS : POLL_MS))
      if (since > 0 && l1.coherence.isValid(key, since) && Date.now() - looked < POLL_MS * 10) continue
      looked = Date.now()
      since = Math.abs(l1.generation())
      // Not counted as reads: the metrics count what requests got, not the polling.
      const hit = await this.store.lookup(key, readTags, decode)
      if (typeof hit === 'object' && hit !== null && hit.writeId !== old.writeId) {
        if (hit.freshness === 'fresh') return hit
        // The holder delivered, but this process judges it expired (it saw the store lose data
        // after the holder began its render): render here, without waiting any longer.
        this.counts.waitedOut++
        return null
      }
    }
    this.counts.waitedOut++
    // The holder did not deliver in time (crashed, stuck, failed): this instance renders and
    // takes the lease over, marked as a takeover, so the others render rather than wait too.
    await this.take(key, true)
    return null
  }

  forgetExpired() {
    const now = Date.now()
    for (const [k, v] of this.held) if (v.until <= now) this.held.delete(k)
  }
}

module.exports = { Leases }
