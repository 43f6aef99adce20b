'use strict'
// The local L1 and its coherence protocol, in one place.
//
// Copies are decoded values in process memory, bounded by bytes, least recently used out
// first. Whether a copy may be served is decided against a *generation* that the addon keeps
// (src/core/coherence.rs): it moves whenever Redis tells this process that a key or the tag
// manifest changed. The rules:
//
// 1. `generation()` > 0: copies may be trusted now; < 0: not now (feed down or behind), but
//    |gen| still names the generation a read starting now may store its result under; 0: no
//    coherence at all (no L1).
// 2. A copy validated at generation g is served at generation G when g === G, or when the
//    addon says no invalidation of its key arrived since g (`isValid`). It is then revalidated
//    at G. Anything else drops it.
// 3. A read stores its result under the generation taken *before* it was sent, so any
//    invalidation that arrives while it is in flight shows on the next use.
// 4. A read that overlaps a write of this process may return either value: it is *tainted*
//    and never becomes a copy; nobody joins it after the write started.
// 5. A write drops the copy it replaces before it is sent, and keeps its own bytes as the copy
//    (under the generation from before it was sent) unless another write of the key overlapped
//    it (which one Redis kept is unknown) or it was conditional (`ifAbsent`).
// 6. A copy is never served past its deadline (when Redis drops the entry at its TTL).
// 7. A copy's verdict (fresh, stale, expired against the tag stamps) is remembered with the
//    generation and the read-time tags it was made for, until the clock alone could change it.
//
// A "coherence" is `{ coherence(): number, isValid(key, gen): boolean }`: the addon, or anything
// that answers like it (tests).

class L1 {
  /**
   * @param {number} maxBytes byte budget of the copies; 0 keeps none (reads are still shared)
   * @param {{ coherence(): number, isValid(key: string, gen: number): boolean } | null} coherence
   */
  constructor(maxBytes, coherence) {
    this.maxBytes = coherence ? maxBytes : 0
    this.coherence = coherence
    this.bytes = 0
    this.map = new Map() // key -> copy; insertion order = recency (oldest first)
    this.flights = new Map() // key -> { promise, tainted, gen }: the read in flight (single-flight)
    this.writing = new Map() // key -> { count, overlapped }: writes of this process in progress
  }

  /** Keeps no copy from now on (they could not be validated); reads are still shared. */
  off() {
    this.maxBytes = 0
    this.clear()
  }

  get enabled() {
    return this.maxBytes > 0
  }

  /** Rule 1: the generation to validate against now (0 without an L1). */
  generation() {
    return this.enabled ? this.coherence.coherence() : 0
  }

  /**
   * Rules 2 and 6: the copy of `key` that may be served at `gen`, revalidated at it; undefined
   * (and the copy dropped) when there is none or it may not be.
   */
  current(key, gen) {
    const copy = this.touch(key)
    if (copy === undefined) return undefined
    if (copy.deadline <= Date.now() || !(gen > 0 && (copy.gen === gen || this.coherence.isValid(key, copy.gen)))) {
      this.delete(key)
      return undefined
    }
    copy.gen = gen
    return copy
  }

  /** Rule 6 only: the copy as a last resort while the store cannot answer (stale-if-error). */
  fallback(key) {
    const copy = this.map.get(key)
    return copy !== undefined && copy.deadline > Date.now() ? copy : undefined
  }

  /**
   * Rules 3 and 4: the read of `key` in flight that a read starting at `gen` may share, else a
   * new one made by `load(flight)`. The loaded copy is kept with `keep`.
   */
  read(key, gen, load) {
    const current = this.flights.get(key)
    if (current && !current.tainted && (current.gen === gen || !this.enabled || this.coherence.isValid(key, current.gen))) {
      return current.promise
    }
    const flight = { promise: null, tainted: this.writing.has(key), gen }
    flight.promise = load(flight).finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key)
    })
    this.flights.set(key, flight)
    return flight.promise
  }

  /** Rule 3: keeps what `flight` read, unless it may predate a write of ours. */
  keep(key, flight, copy) {
    if (this.enabled && flight.gen > 0 && !flight.tainted) this.set(key, copy)
  }

  /** Rule 5, before the write is sent: returns the token `endWrite` needs. */
  beginWrite(key) {
    this.delete(key) // never serve the copy this write replaces
    // Taken before the write is sent: any push about this key after it (another instance's
    // write, even one that landed just before ours) invalidates the copy kept at the end.
    const gen = Math.abs(this.generation())
    let w = this.writing.get(key)
    if (w) w.overlapped = true
    else this.writing.set(key, (w = { count: 0, overlapped: false }))
    w.count++
    const reading = this.flights.get(key)
    if (reading) reading.tainted = true
    return { key, gen, w }
  }

  /** Rule 5, once the write settled: `copy` is what it stored, or null when it failed. */
  endWrite({ key, gen, w }, copy, conditional) {
    if (--w.count === 0) this.writing.delete(key)
    if (copy === null) return
    if (w.overlapped || conditional || gen === 0) {
      this.delete(key)
      return
    }
    copy.gen = gen
    this.set(key, copy)
  }

  /**
   * Rule 7: the verdict remembered on `copy` for `readTags` at `gen`, or undefined when it must
   * be made anew (then `remember` it).
   */
  verdict(copy, readTags, gen) {
    const v = copy.verdict
    if (v === null || gen <= 0 || v.gen !== gen || Date.now() >= v.until || !sameTags(v.readTags, readTags)) return undefined
    return v.freshness
  }

  /** Only under a trusted generation: without one, a change could go unnoticed. */
  remember(copy, readTags, gen, freshness, until) {
    if (gen > 0) copy.verdict = { gen, until, readTags, freshness }
  }

  /** Least recently used first out; a copy larger than the budget is not kept. */
  set(key, copy) {
    this.delete(key)
    const size = copy.size + key.length * 2 // keys count too
    if (size > this.maxBytes) return
    copy.l1Size = size
    this.map.set(key, copy)
    this.bytes += size
    for (const [k, old] of this.map) {
      if (this.bytes <= this.maxBytes) break
      this.map.delete(k)
      this.bytes -= old.l1Size
    }
  }

  touch(key) {
    const copy = this.map.get(key)
    if (copy !== undefined) {
      this.map.delete(key)
      this.map.set(key, copy)
    }
    return copy
  }

  delete(key) {
    const old = this.map.get(key)
    if (old !== undefined) {
      this.map.delete(key)
      this.bytes -= old.l1Size
    }
  }

  clear() {
    this.map.clear()
    this.bytes = 0
  }

  get size() {
    return this.map.size
  }
}

function sameTags(a, b) {
  if (a === b) return true
  const n = a?.length ?? 0
  if (n !== (b?.length ?? 0)) return false
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}

module.exports = { L1 }
