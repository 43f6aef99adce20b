'use strict'
// Next.js cache value <-> one Buffer. Binary fields stay binary (never base64 or JSON
// arrays), large strings skip JSON escaping, and `undefined` stays `undefined`.
//
// Layout: [u32 LE length of meta JSON][meta JSON][blob 0][blob 1]...
// meta = { v: value without the fields below, r: refs, b: blob lengths }
// ref  = [field, 'b', blob]             Buffer / Uint8Array
//      | [field, 's', blob]             string of STRING_BLOB_MIN chars or more
//      | [field, 'm', [[k, blob|null, json?]...]]   Map (segmentData): Buffer values by blob
// `field` 'data.body' addresses FETCH bodies (base64 or JSON text, often large).

const STRING_BLOB_MIN = 1024
const FORMAT = 1

class CodecError extends Error {
  constructor(message) {
    super(message)
    this.name = 'CodecError'
    this.code = 'ERR_SHARED_ISR_CORRUPT'
  }
}

function isBytes(v) {
  return v instanceof Uint8Array
}

function encodeValue(value) {
  const blobs = []
  const lens = []
  const refs = []
  let blobBytes = 0
  const addBytes = (b) => {
    blobs.push(b)
    lens.push(b.byteLength)
    blobBytes += b.byteLength
    return blobs.length - 1
  }
  const addString = (s) => {
    const len = Buffer.byteLength(s, 'utf8')
    blobs.push(s)
    lens.push(len)
    blobBytes += len
    return blobs.length - 1
  }

  let v = value
  if (value !== null && typeof value === 'object') {
    v = {}
    for (const k of Object.keys(value)) {
      const f = value[k]
      if (isBytes(f)) refs.push([k, 'b', addBytes(f)])
      else if (typeof f === 'string' && f.length >= STRING_BLOB_MIN) refs.push([k, 's', addString(f)])
      else if (f instanceof Map) {
        const entries = []
        for (const [mk, mv] of f) {
          entries.push(isBytes(mv) ? [mk, addBytes(mv)] : [mk, null, mv])
        }
        refs.push([k, 'm', entries])
      } else v[k] = f
    }
    const data = v.data
    if (value.kind === 'FETCH' && data && typeof data.body === 'string' && data.body.length >= STRING_BLOB_MIN) {
      const { body, ...rest } = data
      v.data = rest
      refs.push(['data.body', 's', addString(body)])
    }
  } else if (value !== null) {
    throw new TypeError(`cannot cache a value of type ${typeof value}`)
  }

  const meta = Buffer.from(JSON.stringify({ f: FORMAT, v, r: refs, b: lens }), 'utf8')
  const out = Buffer.allocUnsafe(4 + meta.length + blobBytes)
  out.writeUInt32LE(meta.length, 0)
  meta.copy(out, 4)
  let at = 4 + meta.length
  for (let i = 0; i < blobs.length; i++) {
    const b = blobs[i]
    if (typeof b === 'string') out.write(b, at, lens[i], 'utf8')
    else out.set(b, at)
    at += lens[i]
  }
  return out
}

function decodeValue(buf) {
  if (!Buffer.isBuffer(buf) || buf.length < 4) throw new CodecError('payload too short')
  const metaLen = buf.readUInt32LE(0)
  if (4 + metaLen > buf.length) throw new CodecError('payload truncated')
  let meta
  try {
    meta = JSON.parse(buf.toString('utf8', 4, 4 + metaLen))
  } catch {
    throw new CodecError('payload meta is not JSON')
  }
  if (!meta || meta.f !== FORMAT || !Array.isArray(meta.r) || !Array.isArray(meta.b)) {
    throw new CodecError('unknown payload format')
  }
  const starts = []
  let at = 4 + metaLen
  for (const len of meta.b) {
    if (!Number.isInteger(len) || len < 0) throw new CodecError('bad blob length')
    starts.push(at)
    at += len
  }
  if (at !== buf.length) throw new CodecError('payload length mismatch')
  const blob = (i) => {
    if (!Number.isInteger(i) || i < 0 || i >= starts.length) throw new CodecError('bad blob index')
    // A view, not a copy: the payload buffer is already ours alone.
    return buf.subarray(starts[i], starts[i] + meta.b[i])
  }
  const value = meta.v
  for (const ref of meta.r) {
    const [field, type, arg] = ref
    if (type === 'b') value[field] = blob(arg)
    else if (type === 's') {
      const s = blob(arg).toString('utf8')
      if (field === 'data.body') value.data.body = s
      else value[field] = s
    } else if (type === 'm') {
      const map = new Map()
      for (const [k, i, json] of arg) map.set(k, i === null ? json : blob(i))
      value[field] = map
    } else throw new CodecError(`unknown ref type ${type}`)
  }
  return value
}

// What a decoded value costs in memory, for the L1's byte budget: blobs stay views of the
// payload (or strings of about its size), but the meta JSON becomes objects, arrays and strings
// worth several times its text (a payload of `[],[],...` costs ~14x once parsed).
const META_COST = 8

/** The memory a payload takes once decoded (an estimate the L1 counts, never below its size). */
function decodedSize(buf) {
  const metaLen = Buffer.isBuffer(buf) && buf.length >= 4 ? buf.readUInt32LE(0) : 0
  return buf.length + (META_COST - 1) * Math.min(metaLen, buf.length)
}

// The store asks the decoder what a decoded payload costs (see lib/store.js).
decodeValue.sizeOf = decodedSize

module.exports = { encodeValue, decodeValue, decodedSize, CodecError, STRING_BLOB_MIN }
