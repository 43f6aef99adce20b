'use strict'
// The layout of entry keys, in one place. The addon puts `<prefix>e:` in front of each
// (src/core/store/mod.rs `entry_key`); docs/ARCHITECTURE.md lists the whole key space.
//
//   p:<build id>:<Next's key>   a page or route-handler entry: its HTML names one build's chunks
//   f:<Next's key>              a fetch / unstable_cache entry, shared by every build
//   u:<digest>                  a 'use cache' entry (see useCacheKey)

const crypto = require('node:crypto')

const pageKey = (buildId, key) => `p:${buildId}:${key}`
const fetchKey = (key) => `f:${key}`

/**
 * 'use cache' keys can hold lone UTF-16 surrogates (binary arguments), which a UTF-8
 * conversion would turn into U+FFFD and make distinct keys collide: the SHA-256 of the UTF-16
 * code units, base64url.
 */
function useCacheKey(cacheKey) {
  return `u:${crypto
    .createHash('sha256')
    .update(Buffer.from(String(cacheKey), 'utf16le'))
    .digest('base64url')}`
}

/**
 * The path a page or route entry's Next key stands for: the key itself ('/posts/a', '/index'),
 * or, from Next 16.4, the part after '$' of '/route-cache/<kind>/<digest>/$<path>'.
 */
function nextKeyPath(key) {
  if (typeof key !== 'string' || !key.startsWith('/')) return null
  if (!key.startsWith('/route-cache/')) return key
  const at = key.indexOf('/$/')
  return at === -1 ? null : key.slice(at + 2)
}

module.exports = { pageKey, fetchKey, useCacheKey, nextKeyPath }
