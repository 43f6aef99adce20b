'use strict'
// The local L1: decoded values in process memory, bounded by bytes, least recently used out
// first. It only stores; whether a copy may be served is decided with the native coherence
// state (see src/core/coherence.rs), so it never serves what another instance replaced.

class L1 {
  constructor(maxBytes) {
    this.maxBytes = maxBytes
    this.bytes = 0
    this.map = new Map() // insertion order = recency (oldest first)
  }

  get(key) {
    const rec = this.map.get(key)
    if (rec !== undefined) {
      this.map.delete(key)
      this.map.set(key, rec)
    }
    return rec
  }

  set(key, rec) {
    this.delete(key)
    // The payload size stands in for the decoded value's; keys count too.
    const size = rec.size + key.length * 2
    if (size > this.maxBytes) return
    rec.l1Size = size
    this.map.set(key, rec)
    this.bytes += size
    for (const [k, old] of this.map) {
      if (this.bytes <= this.maxBytes) break
      this.map.delete(k)
      this.bytes -= old.l1Size
    }
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

module.exports = { L1 }
