'use strict'
// The addon, wrapped once: every error it throws or rejects with gets its stable `code`, and
// every key and tag crosses in a form that keeps distinct JS strings distinct.
//
// Codes: async rejections from napi-rs cannot carry a custom status, so Rust puts the code in
// front of the message and `retype` moves it to `err.code`.
//
// Strings: napi converts a JS string to UTF-8, which has no room for a lone UTF-16 surrogate
// (it becomes U+FFFD), so '/s\uD800', '/s\uDC00' and '/s\uFFFD' would be one Redis key, and
// tags '\uD800' and '\uDC00' would revalidate each other. A string that is not well formed, or
// that starts with the marker U+FFFF, crosses as the marker plus the hex of its UTF-16 code
// units; every other string crosses as it is. Injective: only escaped strings start with it.

const { NativeCache, redactSecrets, redactRedisUrl, constants, checkConfig: nativeCheckConfig } = require('./binary.js')

const CODE = /^(ERR_SHARED_ISR_[A-Z_]+): /
const MARK = '\uFFFF'

function retype(err) {
  if (err && typeof err.message === 'string') {
    const m = CODE.exec(err.message)
    if (m) {
      err.code = m[1]
      err.message = err.message.slice(m[0].length)
    }
  }
  return err
}

const escaped = (s) => typeof s === 'string' && (s.charCodeAt(0) === 0xffff || !s.isWellFormed())
const toNative = (s) => (escaped(s) ? MARK + Buffer.from(s, 'utf16le').toString('hex') : s)
const fromNative = (s) => (s.charCodeAt(0) === 0xffff ? Buffer.from(s.slice(1), 'hex').toString('utf16le') : s)
/** The same array when nothing needs escaping (the common case allocates nothing). */
const tagsToNative = (tags) => (Array.isArray(tags) && tags.some(escaped) ? tags.map(toNative) : tags)

const rethrow = (err) => {
  throw retype(err)
}

const FRESHNESS = ['fresh', 'stale', 'expired']

/** A hit as the addon packs it into one buffer (the layout is `hit_to_js` in src/binding/convert.rs). */
function readHit(buf) {
  if (buf === null) return null
  const n = (i) => buf.readDoubleLE(i * 8)
  const kind = n(2)
  const expire = n(4)
  const tags = new Array(n(8))
  let at = 72
  for (let i = 0; i < tags.length; i++) {
    const len = buf.readUInt32LE(at)
    const t = buf.toString('utf8', at + 4, at + 4 + len)
    tags[i] = t.charCodeAt(0) === 0xffff ? fromNative(t) : t
    at += 4 + len
  }
  return {
    payload: buf.subarray(at),
    lastModified: n(1),
    revalidate: kind === 2 ? n(3) : kind === 1 ? false : undefined,
    expire: Number.isNaN(expire) ? undefined : expire,
    tags,
    freshness: FRESHNESS[n(0)],
    writeId: n(5),
    until: n(6),
    deadline: n(7),
  }
}

const typed = (promise) =>
  promise.catch((err) => {
    throw retype(err)
  })
/** `fn()`'s promise, typed, also when the call itself throws (a memory store refuses admin calls). */
const typedCall = (fn) => {
  try {
    return typed(fn())
  } catch (err) {
    return Promise.reject(retype(err))
  }
}

/** `NativeCache` with typed errors and escaped strings; the store talks only to this. */
class Native {
  constructor(options) {
    try {
      this.cache = new NativeCache(options)
    } catch (err) {
      throw retype(err)
    }
    this.store = this.cache.store
  }

  get(key, tags) {
    return this.cache.get(toNative(key), tagsToNative(tags)).then(readHit, rethrow)
  }
  set(key, payload, meta) {
    const tags = tagsToNative(meta.tags)
    return typed(this.cache.set(toNative(key), payload, tags === meta.tags ? meta : { ...meta, tags }))
  }
  check(key, writeId) {
    return typed(this.cache.check(toNative(key), writeId))
  }
  isValid(key, since) {
    return this.cache.isValid(toNative(key), since)
  }
  revalidateTags(tags, durations) {
    return typed(this.cache.revalidateTags(tagsToNative(tags), durations))
  }
  refreshTags() {
    return typed(this.cache.refreshTags())
  }
  tagExpiration(tags) {
    return typed(this.cache.tagExpiration(tagsToNative(tags)))
  }
  judge(tags, lastModified) {
    return this.cache.judge(tagsToNative(tags), lastModified)
  }
  judgeTags(tags, lastModified) {
    return typed(this.cache.judgeTags(tagsToNative(tags), lastModified))
  }
  coherence() {
    return this.cache.coherence()
  }
  noteCorrupt() {
    this.cache.noteCorrupt()
  }
  flush(timeoutMs) {
    return typed(this.cache.flush(timeoutMs))
  }
  flushPending(timeoutMs) {
    return this.cache.flushPending(timeoutMs)
  }
  stats() {
    return this.cache.stats()
  }
  /** Closes; `{ revalidations, tags, first }` given up on (the first `name` tags), or null. */
  close(name = 0) {
    const left = this.cache.close(name)
    return left && { ...left, first: left.first.map(fromNative) }
  }

  /** `{ state, leftMs }`: see NativeLease. `writeId`: the write read and judged, if any. */
  lease(key, token, owner, ttlMs, force = false, writeId = undefined) {
    return typed(this.cache.lease(toNative(key), token, owner, ttlMs, force, writeId))
  }
  release(key, token) {
    return typed(this.cache.release(toNative(key), token))
  }
  releaseAllSync(keys, owner, timeoutMs) {
    return this.cache.releaseAllSync(keys.map(toNative), owner, timeoutMs)
  }

  // What operators use (lib/fleet.js, the CLI); Redis only.
  heartbeat(id, summary, periodMs) {
    return typedCall(() => this.cache.heartbeat(id, summary, periodMs))
  }
  fleet(limit) {
    return typedCall(() => this.cache.fleet(limit))
  }
  /** Blocks at most `timeoutMs` (close, process exit); true when done. */
  leave(id, periodMs, beatInFlight, timeoutMs) {
    try {
      return this.cache.leave(id, periodMs, beatInFlight, timeoutMs)
    } catch (err) {
      throw retype(err)
    }
  }
  command(args, key) {
    return typedCall(() => this.cache.command(args, key))
  }
  primaries() {
    return typedCall(() => this.cache.primaries())
  }
  scanPage(pattern, cursor, count) {
    return typedCall(() => this.cache.scanPage(pattern, cursor, count))
  }
  unlink(keys) {
    return typedCall(() => this.cache.unlink(keys))
  }
  takeLags() {
    return this.cache.takeLags()
  }
  /** What the server lets this user do (learnt when connecting; `null` fields until then). */
  capabilities() {
    try {
      return this.cache.capabilities()
    } catch (err) {
      throw retype(err)
    }
  }
  /** Connects if not connected yet; resolves with `capabilities()`. */
  probe() {
    return typedCall(() => this.cache.probe())
  }

  // The CDN purge feed (lib/cdn/deliver.js); Redis only. Tags cross escaped like any tag.
  cdnTake(owner, lockMs, limit, maxBacklog) {
    return typedCall(() => this.cache.cdnTake(owner, lockMs, limit, maxBacklog)).then((b) => ({
      ...b,
      tags: b.tags.map(fromNative),
      paths: b.paths.map(fromNative),
    }))
  }
  cdnDone(owner, cursor, until, paths, scores) {
    return typedCall(() => this.cache.cdnDone(owner, cursor, until, tagsToNative(paths), scores))
  }
  cdnEnqueue(paths, maxBacklog) {
    return typedCall(() => this.cache.cdnEnqueue(tagsToNative(paths), maxBacklog))
  }
  cdnPending() {
    return typedCall(() => this.cache.cdnPending())
  }
  entryKey(key) {
    return this.cache.entryKey(toNative(key))
  }
}

// Shared with Rust from one source (src/binding/constants.rs): the settings' defaults, and each
// error code by how far its failure reaches.
const { defaults, errorCodes, outboxMaxTags, outboxMaxBytes } = constants()
const DEFAULTS = Object.freeze(defaults)
/** What a process keeps of revalidations Redis could not record (src/core/store/outbox.rs). */
const OUTBOX = Object.freeze({ maxTags: outboxMaxTags, maxBytes: outboxMaxBytes })
const codesReaching = (...reaches) => new Set(Object.keys(errorCodes).filter((code) => reaches.includes(errorCodes[code])))
/** Every stable `err.code` of the addon. */
const ERROR_CODES = new Set(Object.keys(errorCodes))
/** Redis cannot be reached or does not answer (a revalidation is kept for when it does). */
const CONNECTIVITY = codesReaching('connectivity')
/** The store itself is unwell (connectivity, or Redis answering with errors); any other code is about one call. */
const STORE_HEALTH = codesReaching('connectivity', 'store')

/** The configuration's rules, without creating a store: throws `ERR_SHARED_ISR_CONFIG`, its message starting with the option. */
function checkConfig(options) {
  try {
    nativeCheckConfig(options)
  } catch (err) {
    throw retype(err)
  }
}

module.exports = {
  Native,
  NativeCache,
  retype,
  redactSecrets,
  redactRedisUrl,
  toNative,
  fromNative,
  ERROR_CODES,
  CONNECTIVITY,
  STORE_HEALTH,
  DEFAULTS,
  OUTBOX,
  checkConfig,
}
