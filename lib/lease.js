'use strict'
// One regeneration per key per change, fleet-wide. Next de-duplicates renders within one
// process only; behind a balancer every instance that sees a stale or expired entry would render
// it (and call the CMS). The first instance about to render takes a short lease in Redis
// (src/core/store/redis/lease.rs); the others
//   - serve the entry as it is, without regenerating, where it may be served (stale), and
//   - wait a bounded time for the holder's new entry where it may not (expired), then render
//     themselves if it has not come.
// The rule (docs/ARCHITECTURE.md): a lease is taken only when the answer given to Next makes
// it render (the handlers' plans say which answers do), and given back on every path: the
// holder's write, a take that finds the entry already replaced, process exit. Where nothing
// tells us (a render that throws, Next not storing), a waiter waits at most `leaseWaitMs`
// counted from when the holder took it. With Redis down every instance renders, as without
// the lease. Nothing here runs on a fresh hit.

const os = require('node:os')
const crypto = require('node:crypto')

/** How often a waiter reads the key without client tracking, and checks for its push with it. */
const POLL_MS = 25
const PUSH_CHECK_MS = 3
/** How often a waiter asks whether the lease is still held (a holder may let it go unused). */
const PROBE_MS = 50
/** Rounds of "the entry changed, judge it again" before rendering without the lease. */
const ROUNDS = 3
/** At process exit: how long releasing the leases held may block. */
const EXIT_RELEASE_MS = 500

const RENDER = Object.freeze({ state: 'render' })
const NEWER = Object.freeze({ state: 'newer' })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

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
    this.counts = { taken: 0, busy: 0, newer: 0, afterTakeover: 0, waited: 0, waitedOut: 0, released: 0, errors: 0 }
  }

  get enabled() {
    return this.leaseMs > 0
  }

  /**
   * What to answer Next for the entry `hit` read under `key` (null: gone). `plan(hit)` gives
   * `{ answer() }`, plus, when that answer makes Next render, `regenerates: true`, and either
   * `waits: true` (another instance's render is worth waiting for: the entry may not be
   * served) or `busy()` (the answer while another instance renders). The lease is asked for
   * only then; an entry replaced meanwhile is read and planned again.
   */
  async answer(key, hit, plan, readTags, decode) {
    for (let round = 0; ; round++) {
      const p = plan(hit)
      // Build output judged while the store is down is not in the store: nothing to lease.
      if (p.regenerates && hit.source !== 'build' && round < ROUNDS) {
        const lease = await this.take(key, { writeId: hit.writeId })
        if (lease.state === 'newer') {
          hit = await this.store.reread(key, readTags, decode)
          continue
        }
        if (lease.state === 'busy') {
          if (!p.waits) return p.busy()
          const next = await this.awaitNew(key, hit, readTags, decode, lease.leftMs)
          if (next) {
            hit = next
            continue
          }
        }
      }
      return p.answer()
    }
  }

  /**
   * Asks for the lease of `key`, to render the entry read with `writeId`: `{ state: 'render' }`
   * when this process should render (it took the lease; or another took it over from a holder
   * that did not deliver, so the render may be failing and waiting again would add the same
   * delay to every request; or leases are off, or Redis cannot say: then as without the lease),
   * `{ state: 'busy', leftMs }` when another instance holds it (for `leftMs` more at most),
   * `{ state: 'newer' }` when the entry was replaced since it was read (nothing is held).
   */
  async take(key, { writeId, force = false } = {}) {
    if (!this.enabled) return RENDER
    // Asked of Redis every time: a lease this process took may have expired and gone to
    // another instance since; one it still holds counts as taken (a render of ours is on it).
    const token = this.prefix + ++this.seq
    let got
    try {
      got = await this.store.native.lease(key, token, this.prefix, this.leaseMs, force, writeId || undefined)
    } catch (err) {
      // Redis cannot say: regenerate, as without the lease (logged and counted like any call).
      this.counts.errors++
      this.store.trouble('lease', key, err)
      return RENDER
    }
    if (got.state === 'busy') {
      this.counts.busy++
      return { state: 'busy', leftMs: got.leftMs }
    }
    if (got.state === 'newer') {
      this.counts.newer++
      return NEWER
    }
    if (got.state === 'takenOver') {
      this.counts.afterTakeover++
      return RENDER
    }
    this.counts.taken++
    if (this.held.size >= 10_000) this.forgetExpired()
    this.held.set(key, { token, until: Date.now() + this.leaseMs })
    return RENDER
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

  /** At process exit (nothing async runs any more): gives back every lease still held, blocking briefly. */
  releaseAllSync() {
    const now = Date.now()
    const keys = [...this.held].filter(([, v]) => v.until > now).map(([k]) => k)
    this.held.clear()
    if (keys.length > 0) this.store.native.releaseAllSync(keys, this.prefix, EXIT_RELEASE_MS)
  }

  /**
   * Another instance renders `key`, under a lease that lasts `leftMs` more at most: waits for
   * an entry newer than `old` that reads fresh, and returns it; null when this process should
   * render now. The wait ends at `leaseWaitMs` after the holder took the lease (not after this
   * process came: a holder that did not deliver by then makes nobody wait any more), or at
   * once when the lease is let go without a new entry (then this process takes it).
   */
  async awaitNew(key, old, readTags, decode, leftMs = this.leaseMs) {
    this.counts.waited++
    const age = Math.max(0, this.leaseMs - leftMs)
    const deadline = Date.now() + Math.max(0, this.waitMs - age)
    const l1 = this.store.l1
    let since = Math.abs(l1.generation())
    let looked = 0
    let probed = Date.now()
    const newer = async () => {
      looked = Date.now()
      since = Math.abs(l1.generation())
      // Not counted as reads: the metrics count what requests got, not the polling.
      const hit = await this.store.lookup(key, readTags, decode)
      return typeof hit === 'object' && hit !== null && hit.writeId !== old.writeId ? hit : null
    }
    while (Date.now() < deadline) {
      // With client tracking the holder's write arrives as a push about this key: a sync check
      // every few ms, a read only once it came (or now and then, should a push be lost).
      await sleep(since > 0 ? PUSH_CHECK_MS : POLL_MS)
      let read = !(since > 0 && l1.coherence.isValid(key, since) && Date.now() - looked < POLL_MS * 10)
      if (!read && Date.now() - probed >= PROBE_MS) {
        // The lease let go (or expired) without a new entry: the holder is not rendering.
        probed = Date.now()
        const lease = await this.take(key, { writeId: old.writeId })
        if (lease.state === 'render') return null
        read = lease.state === 'newer'
      }
      if (!read) continue
      const hit = await newer()
      if (hit) return this.delivered(hit)
    }
    this.counts.waitedOut++
    // The holder did not deliver in time (crashed, stuck, failed, not rendering): this
    // instance renders and takes the lease over, marked as a takeover, so the others render
    // rather than wait too; unless the entry came just now.
    const lease = await this.take(key, { force: true, writeId: old.writeId })
    const hit = lease.state === 'newer' ? await newer() : null
    return hit ? this.delivered(hit) : null
  }

  /** The holder's entry, if it reads fresh here; null (render here) when this process judges
   * it expired (it saw the store lose data after the holder began its render). */
  delivered(hit) {
    if (hit.freshness === 'fresh') return hit
    this.counts.waitedOut++
    return null
  }

  forgetExpired() {
    const now = Date.now()
    for (const [k, v] of this.held) if (v.until <= now) this.held.delete(k)
  }
}

module.exports = { Leases }
