'use strict'
// A log-bucketed latency histogram (about 1% resolution from 50 ns to 100 s) that is cheap
// to record into, small to send over IPC (sparse counts) and mergeable across batches.

const MIN_NS = 50
const GROWTH = 1.01
const LOG_G = Math.log(GROWTH)
const BUCKETS = Math.ceil(Math.log(100e9 / MIN_NS) / LOG_G) + 1

class Hist {
  constructor() {
    this.counts = new Uint32Array(BUCKETS)
    this.n = 0
    this.sumNs = 0
    this.maxNs = 0
  }

  /** Records one latency in nanoseconds. */
  record(ns) {
    const i = ns <= MIN_NS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ns / MIN_NS) / LOG_G))
    this.counts[i]++
    this.n++
    this.sumNs += ns
    if (ns > this.maxNs) this.maxNs = ns
  }

  merge(other) {
    const o = other instanceof Hist ? other : Hist.fromJSON(other)
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += o.counts[i]
    this.n += o.n
    this.sumNs += o.sumNs
    if (o.maxNs > this.maxNs) this.maxNs = o.maxNs
    return this
  }

  /** Latency in ns at quantile q (0..1): the upper bound of the bucket holding it. */
  quantile(q) {
    if (this.n === 0) return NaN
    const rank = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]
      if (seen >= rank) return Math.min(this.maxNs, MIN_NS * GROWTH ** i)
    }
    return this.maxNs
  }

  mean() {
    return this.n ? this.sumNs / this.n : NaN
  }

  toJSON() {
    const sparse = []
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]) sparse.push(i, this.counts[i])
    return { s: sparse, n: this.n, sum: this.sumNs, max: this.maxNs }
  }

  static fromJSON(j) {
    const h = new Hist()
    for (let k = 0; k < j.s.length; k += 2) h.counts[j.s[k]] = j.s[k + 1]
    h.n = j.n
    h.sumNs = j.sum
    h.maxNs = j.max
    return h
  }
}

module.exports = { Hist }
