'use strict'
// Tag helpers shared by the handler and the programmatic API.

const IMPLICIT_TAG = '_N_T_'
const TAGS_HEADER = 'x-next-cache-tags'
const ONE_YEAR = 31536000

/** Next's `revalidateTag` accepts a string or an array; keep non-empty strings, once. */
function normalizeTags(tags) {
  const list = typeof tags === 'string' ? [tags] : Array.isArray(tags) ? tags : []
  return [...new Set(list.filter((t) => typeof t === 'string' && t !== ''))]
}

/** Tags a page or route entry carries: Next writes them all into this header. */
function headerTags(value) {
  const raw = value?.headers?.[TAGS_HEADER]
  const joined = Array.isArray(raw) ? raw.join(',') : typeof raw === 'string' ? raw : ''
  return joined ? joined.split(',').filter(Boolean) : []
}

/**
 * The tag(s) Next derives for `revalidatePath(path, type)`. Next 16 percent-encodes
 * non-ASCII and pairs '/' with '/index'; older versions do neither, so both forms are sent.
 */
function pathTags(path, type) {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`revalidatePath expects a path starting with '/', got ${JSON.stringify(path)}`)
  }
  if (type !== undefined && type !== 'page' && type !== 'layout') {
    throw new TypeError(`revalidatePath type must be 'page' or 'layout', got ${JSON.stringify(type)}`)
  }
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  const forms = new Set([trimmed, encodeURI(trimmed)])
  const tags = []
  for (const p of forms) {
    let tag = `${IMPLICIT_TAG}${p}`
    if (type) tag += `${tag.endsWith('/') ? '' : '/'}${type}`
    tags.push(tag)
    if (!type && p === '/') tags.push(`${IMPLICIT_TAG}/index`)
    if (!type && p === '/index') tags.push(`${IMPLICIT_TAG}/`)
  }
  return [...new Set(tags)]
}

/** What Next hands a handler's revalidation (16: `{ expire }` resolved from the profile; older: nothing). */
const nextDurations = (d) => (d && typeof d === 'object' ? { expire: d.expire } : undefined)

/**
 * Next 16's built-in cacheLife profiles: what `revalidateTag(tag, name)` does with each is mark
 * the tag stale now and expired `expire` seconds later (`undefined`: never).
 */
const PROFILES = {
  default: undefined,
  seconds: 60,
  minutes: 3600,
  hours: 86400,
  days: 604800,
  weeks: 2592000,
  max: ONE_YEAR,
}

/**
 * Our API's second argument, as Next 16's: a cacheLife profile name or `{ expire }` (stale now,
 * expired `expire` s later). Without one the tags expire now (like `updateTag`). A name is
 * looked up as Next does, in the app's cacheLife config (`appProfile`: custom profiles and
 * overridden built-ins, known inside a Next request), else among the built-ins.
 */
function toDurations(profile, appProfile = () => undefined) {
  if (profile === undefined || profile === null) return undefined
  if (typeof profile === 'string') {
    const app = appProfile(profile)
    if (app && typeof app === 'object') return toDurations({ expire: app.expire ?? undefined })
    if (Object.hasOwn(PROFILES, profile)) return { expire: PROFILES[profile] }
    throw new TypeError(
      `unknown profile ${JSON.stringify(profile)}: use one of ${Object.keys(PROFILES).join(', ')}, a profile of your next.config cacheLife (called within a Next request), or { expire: seconds }`,
    )
  }
  if (typeof profile === 'object') {
    const { expire } = profile
    if (expire !== undefined && !(typeof expire === 'number' && expire >= 0)) {
      throw new TypeError(`durations.expire must be a number of seconds >= 0, got ${JSON.stringify(expire)}`)
    }
    return { expire }
  }
  throw new TypeError(`profile must be a cacheLife profile name or { expire: seconds }, got ${JSON.stringify(profile)}`)
}

module.exports = { normalizeTags, headerTags, pathTags, toDurations, nextDurations, IMPLICIT_TAG, TAGS_HEADER, ONE_YEAR }
