'use strict'
// The layout of entry keys, in one place: built here and parsed here (the CLI asks parseKey).
// The addon puts `<prefix>e:` in front of each (src/core/store/mod.rs `entry_key`);
// docs/ARCHITECTURE.md lists the whole key space.
//
//   p:<build>:<Next's key>      a page or route-handler entry: its HTML names one build's chunks
//   f:<Next's key>              a fetch / unstable_cache entry, shared by every build
//   u:<digest>                  a 'use cache' entry (see useCacheKey)
//
// <build> is the build id escaped by escapeBuildId: its ':' would end the namespace early (build
// `a:b` read as build `a`), so '%' and ':' become %25 and %3A. Every source of the id (the
// buildId option, Next's deployment id, .next/BUILD_ID) goes through it, and an id without
// either character is its own escaped form.

const crypto = require('node:crypto')

const escapeBuildId = (id) => id.replace(/[%:]/g, encodeURIComponent)
// Only %25 and %3A are ever written; anything else (a key written by hand) is left as it is.
const unescapeBuildId = (s) => s.replace(/%25|%3A/g, (m) => (m === '%25' ? '%' : ':'))

// On every page key, and a process serves one build (rarely a few): escaped once per id.
let lastBuild = { id: undefined, escaped: undefined }
function escapedBuild(id) {
  if (id !== lastBuild.id) lastBuild = { id, escaped: escapeBuildId(String(id)) }
  return lastBuild.escaped
}

/** The entry key of Next's `key` in build `buildId` (the id as configured, not escaped). */
const pageKey = (buildId, key) => `p:${escapedBuild(buildId)}:${key}`
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
 * What an entry key (without `<prefix>e:`) holds: `kind` ('page', 'fetch', 'use-cache' or
 * 'other'), `build` (a page's build id, unescaped: as configured; else null) and `nextKey`
 * (Next's key for pages and fetches; else null).
 */
function parseKey(key) {
  if (key.startsWith('p:')) {
    const end = key.indexOf(':', 2)
    if (end !== -1) return { kind: 'page', build: unescapeBuildId(key.slice(2, end)), nextKey: key.slice(end + 1) }
  } else if (key.startsWith('f:')) return { kind: 'fetch', build: null, nextKey: key.slice(2) }
  else if (key.startsWith('u:')) return { kind: 'use-cache', build: null, nextKey: null }
  return { kind: 'other', build: null, nextKey: null }
}

/** `s` matched literally in a Redis glob (SCAN MATCH). */
const globEscape = (s) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`)

/**
 * A SCAN glob for the page keys of build `build` (every build when undefined) whose Next key
 * ends with `nextKeyEnd`. A superset: parse what it finds before trusting it.
 */
function pageKeyGlob({ build, nextKeyEnd = '' } = {}) {
  const namespace = build === undefined ? '*' : `${globEscape(escapeBuildId(String(build)))}:*`
  return `p:${namespace}${globEscape(nextKeyEnd)}`
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

/**
 * The path of a page or route as Next writes it into its cache key (Next's normalizePagePath):
 * '/' is '/index', and a concrete path under '/index' gains one more ('/index/a' →
 * '/index/index/a') so it never meets the home page's key. nextKeyPath gives this form back.
 */
function keyPathOf(path) {
  if (path === '/') return '/index'
  if (/^\/index(\/|$)/.test(path) && !/\/\[[^/]*\](\/|$)/.test(path)) return `/index${path}`
  return path
}

module.exports = { pageKey, fetchKey, useCacheKey, parseKey, escapeBuildId, pageKeyGlob, nextKeyPath, keyPathOf }
