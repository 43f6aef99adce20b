'use strict'
// The Next.js `cacheHandler` (14.2, 15, 16). Next constructs it for every request, so the
// constructor only stores its context; everything shared lives in ./store.

const fs = require('node:fs')
const path = require('node:path')
const { getStore, notePageHandler } = require('./store')
const { encodeValue, decodeValue } = require('./codec')
const { normalizeTags, headerTags, nextDurations, ONE_YEAR } = require('./tags')
const { pageKey, fetchKey } = require('./keys')
const { readBuildOutput } = require('./build-output')
const { isClosedPrerendered, buildLifetime } = require('./prerender')
const { Log, consoleLog } = require('./log')
const { noteMisconfigured } = require('./misconfig')

const buildIds = new Map() // serverDistDir -> BUILD_ID, read once per process

/**
 * Next's deployment id (`deploymentId` in next config, or NEXT_DEPLOYMENT_ID): Next puts the
 * config's value in process.env.NEXT_DEPLOYMENT_ID at build and at start ('' when none), so the
 * handler reads it there. Returned as configured (trimmed): lib/keys.js escapes every build id
 * the same way when it builds the key.
 */
function deploymentId(env = process.env) {
  const id = env.NEXT_DEPLOYMENT_ID
  // On every page key: trimmed once per value, not per call.
  if (id !== lastDeployment.raw) lastDeployment = { raw: id, id: typeof id === 'string' && id.trim() !== '' ? id.trim() : undefined }
  return lastDeployment.id
}
let lastDeployment = { raw: undefined, id: undefined }

/**
 * Page and route entries belong to one build (their HTML names its chunks); fetch data doesn't.
 * Their namespace: the buildId option, else Next's deployment id, else the build's BUILD_ID.
 */
function buildIdFor(serverDistDir, configured, env = process.env) {
  if (configured) return configured
  const deployment = deploymentId(env)
  if (deployment) return deployment
  if (typeof serverDistDir !== 'string') return 'unknown'
  let id = buildIds.get(serverDistDir)
  if (id === undefined) {
    try {
      id = fs.readFileSync(path.join(serverDistDir, '..', 'BUILD_ID'), 'utf8').trim()
    } catch {
      return 'development' // `next dev` has no BUILD_ID; only fetch entries reach us there
    }
    buildIds.set(serverDistDir, id)
  }
  return id
}

/** A closed route (404 on a miss before 16.4) with a value to fall back on. */
const isClosed = (handlerCtx, key, hit) => hit.value !== null && isClosedPrerendered(handlerCtx.serverDistDir, key)
const isFetchGet = (ctx) => ctx?.kind === 'FETCH' || ctx?.kindHint === 'fetch'
const isFetchSet = (data, ctx) => data?.kind === 'FETCH' || ctx?.fetchCache === true || ctx?.kind === 'FETCH'

// What to answer Next for an entry read (see Leases.answer): a lease is asked for only where the
// answer makes Next render (`regenerates`), and that is the rule of docs/ARCHITECTURE.md.
// `tags` rides along for the CDN header and is removed before Next sees the answer.

/** A fetch entry: Next refetches on a miss, and in the background on an old lastModified. */
function planFetch(hit, ctx) {
  const value = hit?.value
  if (value?.kind !== 'FETCH') return MISS
  if (hit.freshness === 'expired') return { regenerates: true, waits: true, answer: () => null }
  const now = Date.now()
  const r = ctx.revalidate || value.revalidate || ONE_YEAR
  const timeStale = typeof r === 'number' && now > hit.lastModified + r * 1000
  if (hit.freshness !== 'stale' && !timeStale) return served({ value, lastModified: hit.lastModified })
  return {
    regenerates: true,
    // Old enough that Next sees `age > revalidate`: serve once, refetch.
    answer: () => ({ value, lastModified: Math.min(hit.lastModified, now - r * 1000 - 1000) }),
    // Served as fresh while another instance refetches it.
    busy: () => ({ value, lastModified: now }),
  }
}

/** A page or route entry. */
function planPage(handlerCtx, key, ctx, hit) {
  if (!hit) return MISS
  const { value, tags } = hit
  const rev = hit.revalidate
  const now = Date.now()
  // 16.4+ uses the returned lifetime; older versions ignore the extra field.
  const cacheControl = rev === undefined ? undefined : { revalidate: rev, expire: hit.expire }
  const give = (lastModified) => () => ({ value, lastModified, cacheControl, tags })
  if (hit.freshness === 'expired') {
    // Closed routes 404 on a miss before 16.4, so they get the old value with -1 (regenerate).
    if (isClosed(handlerCtx, key, hit)) return { regenerates: true, waits: true, answer: give(-1) }
    // A miss renders fresh content in the foreground, like Next's own cache; an expired entry
    // is never served as fresh: the holder's entry did not come in time. A navigation that
    // resumes a PPR page renders it dynamically on a miss and stores nothing: no lease, no wait.
    if (resumesPpr(handlerCtx, ctx)) return MISS
    return { regenerates: true, waits: true, answer: () => null }
  }
  const busy = give(now) // another instance regenerates it: served as fresh meanwhile
  if (hit.freshness === 'stale') {
    const lastModified = typeof rev === 'number' ? Math.min(hit.lastModified, now - rev * 1000 - 1000) : -1
    return { regenerates: true, answer: give(lastModified), busy }
  }
  // Lifetime unknown (an entry stored without one): Next judges it by its own; whether it
  // regenerates cannot be told here, so no lease.
  if (rev === undefined) return served({ value, lastModified: hit.lastModified, cacheControl, tags })
  // Before 16.4 an instance that did not render this path assumes revalidate = 1 s. While
  // the entry is fresh by its stored lifetime, report it as just written; past it Next
  // regenerates in the background, unless another instance already does.
  if (rev === false || now < hit.lastModified + rev * 1000) return { answer: busy }
  return { regenerates: true, answer: give(hit.lastModified), busy }
}

const MISS = Object.freeze({ answer: () => null })
const served = (answer) => ({ answer: () => answer })

/**
 * Whether this read is a navigation (an RSC request, not a prefetch) of a PPR page: Next 16
 * resumes it from the entry's shell, and on a miss renders the page dynamically without storing
 * anything, so a lease taken for it would be left behind.
 */
function resumesPpr(handlerCtx, ctx) {
  if (ctx?.isRoutePPREnabled !== true) return false
  const h = handlerCtx?._requestHeaders
  return !!h && h.rsc === '1' && h['next-router-prefetch'] === undefined
}

function lifetimeOf(data, ctx, fetch) {
  let revalidate
  let expire
  if (ctx?.cacheControl)
    ({ revalidate, expire } = ctx.cacheControl) // 15.2+
  else if (ctx?.revalidate !== undefined) revalidate = ctx.revalidate // 14.2, 15.0-15.1, fetch
  if (fetch && revalidate === undefined) revalidate = data?.revalidate
  if (!(revalidate === false || (typeof revalidate === 'number' && revalidate >= 0))) revalidate = undefined
  if (!(typeof expire === 'number' && expire > 0)) expire = undefined
  return { revalidate, expire }
}

/**
 * The store for `options`, resolved on first use. A configuration error fails `next build`
 * loudly; at run time it is logged once and the site runs uncached rather than erroring.
 */
function lazyStore(options) {
  let store = null
  let logged = false
  const storeFor = () => {
    if (store && !store.closed) return store
    try {
      store = getStore(options)
    } catch (err) {
      if (process.env.NEXT_PHASE === 'phase-production-build' || err.code !== 'ERR_SHARED_ISR_CONFIG') throw err
      noteMisconfigured(err)
      if (!logged) {
        logged = true
        let log = consoleLog
        try {
          log = new Log(options.logger)
        } catch {}
        log.error({ event: 'config_invalid', code: err.code }, `${err.message}. Caching is OFF until the configuration is fixed.`)
      }
      return null
    }
    return store
  }
  /** For revalidations: without a store they must fail, never pass as recorded. */
  storeFor.required = () => {
    const s = storeFor()
    if (!s)
      throw Object.assign(new Error('shared-isr is misconfigured: the revalidation was not recorded'), { code: 'ERR_SHARED_ISR_CONFIG' })
    return s
  }
  return storeFor
}

/**
 * Makes a handler class bound to `options` (anything left out comes from the environment).
 * `shared-isr/handler` is `createHandler()`.
 */
function createHandler(options = {}) {
  const storeFor = lazyStore(options)
  notePageHandler()

  return class SharedIsrCacheHandler {
    constructor(ctx = {}) {
      this.ctx = ctx
      // Next makes one handler per request, before rendering: what this request stores can
      // be no newer than this, so a revalidation during the render still invalidates it.
      this.startedAt = Date.now()
    }

    key(s, key, fetch) {
      if (fetch) return fetchKey(key)
      const build = buildIdFor(this.ctx.serverDistDir, s.config.buildId)
      s.noteBuild(build)
      return pageKey(build, key)
    }

    async get(key, ctx = {}) {
      const s = storeFor()
      if (!s) return null
      const fetch = isFetchGet(ctx)
      // Fetch entries are judged by their own tags plus the tags of the page reading them.
      const readTags = fetch ? [...(ctx.tags ?? []), ...(ctx.softTags ?? [])] : undefined
      const storeKey = this.key(s, key, fetch)
      let hit = await s.read(storeKey, readTags, decodeValue)
      if (!hit && !fetch) hit = await this.seed(s, storeKey, key, ctx)
      // Build output read back after the store lost data is older than that loss, so the
      // store judges it expired (the renders that had replaced it may be lost with it): Next
      // renders anew, or, where a miss would 404, regenerates from it.
      if (!hit) return null
      const plan = fetch ? (h) => planFetch(h, ctx) : (h) => planPage(this.ctx, key, ctx, h)
      const answer = await s.leases.answer(storeKey, hit, plan, readTags, decodeValue)
      // Served from here, the response carries the entry's tags for the CDN in front.
      if (answer && !fetch && s.cdn) s.cdn.tag(answer.value, key, answer.tags)
      if (answer) delete answer.tags
      return answer
    }

    /**
     * A miss on a page or route key: the prerendered build output, shared with every instance
     * (unless one already regenerated it: NX) with the lifetime the build gave it (the prerender
     * manifest's, which Next also judges it by), then judged against the tag manifest like any
     * entry (a tag may have been revalidated since). Null when there is none.
     */
    async seed(s, storeKey, key, ctx) {
      const seeded = await readBuildOutput(this.ctx, key, ctx)
      if (!seeded) return null
      const tags = headerTags(seeded.value)
      const { revalidate, expire } = buildLifetime(this.ctx.serverDistDir, key)
      const meta = { lastModified: seeded.lastModified, revalidate, expire, tags, ifAbsent: true }
      const stored = await s.write(storeKey, encodeValue(seeded.value), meta, decodeValue)
      const hit = stored ? await s.read(storeKey, undefined, decodeValue) : null
      // Store down: the build output beats a miss, judged against what this process knows.
      return !hit && !stored ? s.judgeLocal(seeded.value, seeded.lastModified, tags) : hit
    }

    async set(key, data, ctx = {}) {
      if (data?.kind === 'IMAGE') return // Next keeps images in its own disk cache
      const s = storeFor()
      if (!s) return
      const fetch = isFetchSet(data, ctx)
      const { revalidate, expire } = lifetimeOf(data, ctx, fetch)
      const tags = fetch ? normalizeTags([...(ctx.tags ?? []), ...(data?.tags ?? [])]) : headerTags(data)
      // Before any await: Next sends this very value's headers once `set` settles (a render
      // after a miss), so the tags reach the CDN on the first response too.
      if (!fetch && s.cdn) s.cdn.tag(data, key, tags)
      let payload
      try {
        payload = encodeValue(data)
      } catch (err) {
        s.badKeys.once(`encode:${key}`, `not caching ${JSON.stringify(key)}: ${err.message}`)
        return
      }
      const lastModified = Math.min(this.startedAt, Date.now())
      const stored = await s.write(this.key(s, key, fetch), payload, { lastModified, revalidate, expire, tags }, decodeValue)
      // A page written anew (a regeneration, `res.revalidate`): the CDN may hold its old version,
      // fetched again after a tag purge while the old one was served stale. Not awaited: queued.
      if (stored && !fetch && s.cdn) s.cdn.written(key)
    }

    /** Resolves once every instance will see it; rejects if it could not be recorded. */
    async revalidateTag(tags, durations) {
      const list = normalizeTags(tags)
      if (list.length === 0) return // 14.2 calls this with [] after every route handler
      await storeFor.required().revalidateTags(list, nextDurations(durations))
    }

    resetRequestCache() {}
  }
}

module.exports = { createHandler, buildIdFor, deploymentId, lazyStore }
