'use strict'
// What compressing shared-isr's stored payload would change: size and CPU time of Node's zlib
// codecs on the exact bytes shared-isr's codec produces for the benchmark pages. Indicative
// only (a Rust implementation could use other codecs); measured in the orchestrator process.

const zlib = require('node:zlib')
const path = require('node:path')
const { entry } = require('./workload')

const CODECS = {
  'gzip -1': { c: (b) => zlib.gzipSync(b, { level: 1 }), d: (b) => zlib.gunzipSync(b) },
  'gzip -6': { c: (b) => zlib.gzipSync(b, { level: 6 }), d: (b) => zlib.gunzipSync(b) },
  'brotli q1': {
    c: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }),
    d: (b) => zlib.brotliDecompressSync(b),
  },
  'brotli q4': {
    c: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }),
    d: (b) => zlib.brotliDecompressSync(b),
  },
}

function timeIt(fn, minMs) {
  let n = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < minMs || n < 5) {
    fn()
    n++
    t = performance.now()
  }
  return ((t - t0) * 1000) / n // µs per call
}

function compressionEstimate(root, payloads = ['real', 'page100k', 'page1m'], minMs = 150) {
  const lib = require(path.join(root, 'lib', 'codec.js'))
  const out = []
  for (const payload of payloads) {
    const encoded = lib.encodeValue(entry(payload, 15, 0, 'z').value)
    const rows = []
    for (const [name, k] of Object.entries(CODECS)) {
      const c = k.c(encoded)
      rows.push({
        codec: name,
        bytes: c.length,
        ratio: encoded.length / c.length,
        compressUs: timeIt(() => k.c(encoded), minMs),
        decompressUs: timeIt(() => k.d(c), minMs),
      })
    }
    out.push({ payload, encodedBytes: encoded.length, rows })
  }
  return out
}

module.exports = { compressionEstimate }
