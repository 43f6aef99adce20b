'use strict'
// Cache tags as CDN keys: one rule for the header a response carries and the purge that drops
// it, so the two always agree.

const crypto = require('node:crypto')
const { nextKeyPath } = require('../keys')

/** Every tagged object also carries this key: purging it purges everything we tagged. */
const ALL_KEY = 'sisr-all'
/** Carried by an object whose tags did not all fit its header; purged with every tag. */
const OVERFLOW_KEY = 'sisr-overflow'
/** Characters every CDN's tag header takes as they are: no space, comma, quote or control. */
const PLAIN = /^[A-Za-z0-9_\-./:[\]()@~+=!$&*;]+$/

/**
 * A tag as a CDN key: itself when a header can carry it and it fits `maxKeyBytes`, else a
 * stable digest (the same on every instance and in every purge).
 */
function cdnKey(tag, maxKeyBytes) {
  if (tag.length <= maxKeyBytes && PLAIN.test(tag)) return tag
  return `sisr-${crypto.createHash('sha256').update(tag, 'utf8').digest('base64url').slice(0, 22)}`
}

/**
 * Next's implicit tags of the page or route stored under `key` (its path), which
 * `revalidatePath` revalidates: an entry written anew is purged by them, and a Pages Router
 * response (whose headers Next does not take from the cache) is tagged with them by the CDN.
 */
function pathTags(key) {
  const path = nextKeyPath(key)
  if (path === null) return []
  return path === '/index' || path === '/' ? ['_N_T_/', '_N_T_/index'] : [`_N_T_${path}`]
}

/**
 * The header value for an object tagged with `tags`, within the provider's limits: each key
 * within `maxKeyBytes`, at most `maxKeys` keys, the value within `maxHeaderBytes`. What does
 * not fit is replaced by the overflow key, so an object is never left that no purge reaches.
 */
function headerValue(tags, limits) {
  const keys = new Set([ALL_KEY])
  let bytes = ALL_KEY.length
  let overflow = false
  for (const tag of tags) {
    const key = cdnKey(tag, limits.maxKeyBytes)
    if (keys.has(key)) continue
    // Room is kept for the overflow key itself.
    if (keys.size + 2 > limits.maxKeys || bytes + key.length + OVERFLOW_KEY.length + 2 > limits.maxHeaderBytes) {
      overflow = true
      continue
    }
    keys.add(key)
    bytes += key.length + 1
  }
  if (overflow) keys.add(OVERFLOW_KEY)
  return [...keys].join(limits.separator)
}

/** The keys a purge of `tags` sends: each tag's key, and the overflow key with them. */
function purgeKeys(tags, limits) {
  const keys = new Set()
  for (const tag of tags) keys.add(cdnKey(tag, limits.maxKeyBytes))
  if (keys.size > 0) keys.add(OVERFLOW_KEY)
  return [...keys]
}

module.exports = { ALL_KEY, OVERFLOW_KEY, cdnKey, pathTags, headerValue, purgeKeys }
