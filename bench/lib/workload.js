'use strict'
// Keys, values and the ctx objects Next passes, per payload and per Next value shape
// (15 = Next 15.5 shapes, 14 = Next 14.2 shapes for @neshca). Entry i differs from entry j
// only in its key and its own tags (path tag and `post:` tag), like pages of one route.

const crypto = require('node:crypto')
const { loadFixtures, pageRaw } = require('./fixtures')

const REVALIDATE = 3600
const EXPIRE = 31536000
// Implicit tags of the page that reads the fetch entry (Next passes them as softTags).
const FETCH_SOFT_TAGS = ['_N_T_/layout', '_N_T_/news/layout', '_N_T_/news/page', '_N_T_/news']

let fx = null
const fixtures = () => (fx ??= loadFixtures())

const PAYLOADS = ['page100k', 'fetch2k', 'page1m', 'real', 'small']

function pageTags(page, id) {
  const header = page.headers['x-next-cache-tags'] || ''
  return header
    .split(',')
    .map((t) => t.replace('/posts/hello-world', `/posts/${id}`).replace('post:hello-world', `post:${id}`))
    .join(',')
}

function routeKey(page, id) {
  // 15.5.27+ key: /route-cache/APP_PAGE/<sha256(source route)>/$/<path>
  const base = page.routeCacheKey ? page.routeCacheKey.slice(0, page.routeCacheKey.indexOf('/$/')) : '/route-cache/APP_PAGE/x'
  return `${base}/$/posts/${id}`
}

/**
 * Entry `i` of `payload` in `shape`:
 * { key, value, setCtx(), getCtx, tag (unique to this entry), raw (bytes for the raw floor), kind }
 * `ns` separates pools of different phases (keys never collide).
 */
function entry(payload, shape, i, ns = 'e') {
  const f = fixtures()
  const id = `${ns}${i}`
  if (payload === 'fetch2k') {
    const key = crypto.createHash('sha256').update(`bench-fetch:${ns}:${i}`).digest('hex')
    const tags = ['news', `fetch:${id}`]
    const fetchUrl = `${f.fetch2k.data.url.replace(/\/cms\.json$/, '')}/cms.json?id=${id}`
    const value = { ...f.fetch2k, tags: undefined }
    delete value.tags
    return {
      kind: 'FETCH',
      key,
      value,
      tag: `fetch:${id}`,
      tags,
      setCtx:
        shape === 14
          ? () => ({ fetchCache: true, revalidate: REVALIDATE, fetchUrl, fetchIdx: 0, tags: [...tags] })
          : () => ({ fetchCache: true, fetchUrl, fetchIdx: 0, tags: [...tags], isImplicitBuildTimeCache: false }),
      getCtx:
        shape === 14
          ? { kindHint: 'fetch', revalidate: REVALIDATE, fetchUrl, fetchIdx: 0, tags, softTags: FETCH_SOFT_TAGS }
          : { kind: 'FETCH', revalidate: REVALIDATE, fetchUrl, fetchIdx: 0, tags, softTags: FETCH_SOFT_TAGS },
      raw: () => Buffer.from(JSON.stringify(f.fetch2k)),
    }
  }
  const page = f[payload]
  if (!page) throw new Error(`unknown payload ${payload}`)
  const headers = { ...page.headers, 'x-next-cache-tags': pageTags(page, id) }
  let value
  if (shape === 14) {
    // Next 14.2: kind PAGE, the flight payload as a UTF-8 string, no segments.
    value = { kind: 'PAGE', html: page.html, pageData: page.rsc.toString('utf8'), postponed: undefined, headers, status: page.status }
  } else {
    value = {
      kind: 'APP_PAGE',
      html: page.html,
      rscData: page.rsc,
      headers,
      postponed: undefined,
      status: page.status,
      segmentData: page.segments.length ? new Map(page.segments) : undefined,
    }
  }
  return {
    kind: 'APP_PAGE',
    key: shape === 14 ? `/posts/${id}` : routeKey(page, id),
    value,
    tag: `post:${id}`,
    tags: headers['x-next-cache-tags'].split(','),
    setCtx:
      shape === 14
        ? () => ({ revalidate: REVALIDATE })
        : () => ({
            kind: 'APP_PAGE',
            isRoutePPREnabled: false,
            isFallback: false,
            cacheControl: { revalidate: REVALIDATE, expire: EXPIRE },
          }),
    getCtx: shape === 14 ? { kindHint: 'app' } : { kind: 'APP_PAGE', isRoutePPREnabled: false, isFallback: false },
    raw: () => pageRaw(page),
  }
}

/** Is `r` (what a handler's get returned) a value Next would serve as a fresh HIT? */
function servedAsFresh(r) {
  if (!r) return false
  if (Buffer.isBuffer(r)) return true
  if (r.value === undefined || r.value === null) return false
  if (r.lastModified === -1) return false
  const lm = typeof r.lastModified === 'number' ? r.lastModified : 0
  return Date.now() - lm < REVALIDATE * 1000
}

/** Checks a get result against the entry that was set (throws on a mismatch). */
function verify(e, r, shape) {
  if (!r) throw new Error(`get(${e.key}) returned ${r}`)
  if (Buffer.isBuffer(r)) {
    if (!r.equals(e.raw())) throw new Error('raw bytes differ')
    return
  }
  const v = r.value
  if (!v || v.kind !== e.value.kind) throw new Error(`wrong kind ${v?.kind}`)
  if (e.kind === 'FETCH') {
    if (v.data.body !== e.value.data.body) throw new Error('fetch body differs')
    return
  }
  if (v.html !== e.value.html) throw new Error('html differs')
  if (shape === 14) {
    if (v.pageData !== e.value.pageData) throw new Error('pageData differs')
    return
  }
  if (!Buffer.isBuffer(v.rscData) || !v.rscData.equals(e.value.rscData)) throw new Error('rscData differs')
  const want = e.value.segmentData
  if (want) {
    if (!(v.segmentData instanceof Map) || v.segmentData.size !== want.size) throw new Error('segmentData is not the same Map')
    for (const [k, b] of want)
      if (!Buffer.isBuffer(v.segmentData.get(k)) || !v.segmentData.get(k).equals(b)) throw new Error(`segment ${k} differs`)
  }
}

/** Bytes of the value a handler is given (strings as UTF-8), what it must store somehow. */
function valueBytes(v) {
  if (v.kind === 'FETCH') return Buffer.byteLength(JSON.stringify(v))
  let n = Buffer.byteLength(v.html || '')
  if (v.rscData) n += v.rscData.length
  if (typeof v.pageData === 'string') n += Buffer.byteLength(v.pageData)
  if (v.segmentData) for (const b of v.segmentData.values()) n += b.length
  return n
}

module.exports = { entry, verify, valueBytes, servedAsFresh, fixtures, PAYLOADS, REVALIDATE, EXPIRE }
