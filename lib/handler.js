'use strict'
// The Next.js `cacheHandler` (14.2, 15, 16). Next constructs it for every request, so the
// constructor only stores its context; everything shared lives in ./store.

const fs = require('node:fs')
const path = require('node:path')
const { getStore } = require('./store')
const { encodeValue, decodeValue } = require('./codec')
const { normalizeTags, headerTags, nextDurations, ONE_YEAR } = require('./tags')
const { pageKey, fetchKey } = require('./keys')
const { readBuildOutput } = require('./build-output')
const { isClosedPrerendered } = require('./prerender')
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
      if (!hit && !fetch) {
        const seeded = await readBuildOutput(this.ctx, key, ctx)
        if (!seeded) return null
        // Shared with every instance, unless one already regenerated it (NX); then judged
        // against the tag manifest like any entry (a tag may have been revalidated since).
        const tags = headerTags(seeded.value)
        const stored = await s.write(
          storeKey,
          encodeValue(seeded.value),
          { lastModified: seeded.lastModified, tags, ifAbsent: true },
          decodeValue,
        )
        hit = stored ? await s.read(storeKey, undefined, decodeValue) : null
        // Store down: the build output beats a miss, judged against what this process knows.
        if (!hit && !stored) hit = await s.judgeLocal(seeded.value, seeded.lastModified, tags)
      }
      // Build output read back after the store lost data is older than that loss, so the
      // store judges it expired (the renders that had replaced it may be lost with it): Next
      // renders anew, or, where a miss would 404, regenerates from it.
      if (!hit) return null
      // Another instance holds the regeneration lease of an expired entry: wait (bounded) for
      // its new entry rather than render (and call the backend) once more.
      if (hit.freshness === 'expired' && hit.source !== 'build') {
        if (!(await s.leases.take(storeKey))) hit = (await s.leases.awaitNew(storeKey, hit, readTags, decodeValue)) ?? hit
      }
      const value = hit.value
      // Served from here, the response carries the entry's tags for the CDN in front.
      if (!fetch && s.cdn) s.cdn.tag(value, key, hit.tags)
      const now = Date.now()
      const rev = hit.revalidate
      /** Whether this instance should regenerate now: false while another one does. */
      const regenerate = () => (hit.source === 'build' ? true : s.leases.take(storeKey))

      if (fetch) {
        if (value?.kind !== 'FETCH' || hit.freshness === 'expired') return null
        const r = ctx.revalidate || value.revalidate || ONE_YEAR
        const timeStale = typeof r === 'number' && now > hit.lastModified + r * 1000
        if (hit.freshness === 'stale' || timeStale) {
          // Served as fresh while another instance refetches it.
          if (!(await regenerate())) return { value, lastModified: now }
          // Old enough that Next sees `age > revalidate`: serve once, refetch.
          return { value, lastModified: Math.min(hit.lastModified, now - r * 1000 - 1000) }
        }
        return { value, lastModified: hit.lastModified }
      }

      // 16.4+ uses the returned lifetime; older versions ignore the extra field.
      const cacheControl = rev === undefined ? undefined : { revalidate: rev, expire: hit.expire }
      if (hit.freshness === 'expired') {
        // A miss renders fresh content in the foreground, like Next's own cache. Closed routes
        // 404 on a miss before 16.4, so they get the old value with -1 (regenerate) instead.
        // An expired entry is never served as fresh: the holder's entry did not come in time.
        if (!isClosed(this.ctx, key, hit)) return null
        return { value, lastModified: -1, cacheControl }
      }
      if (hit.freshness === 'stale') {
        if (!(await regenerate())) return { value, lastModified: now, cacheControl }
        const lastModified = typeof rev === 'number' ? Math.min(hit.lastModified, now - rev * 1000 - 1000) : -1
        return { value, lastModified, cacheControl }
      }
      // Before 16.4 an instance that did not render this path assumes revalidate = 1 s. While
      // the entry is fresh by its stored lifetime, report it as just written; past it Next
      // regenerates in the background, unless another instance already does.
      const fresh = rev === false || (typeof rev === 'number' && now < hit.lastModified + rev * 1000)
      if (!fresh && !(await regenerate())) return { value, lastModified: now, cacheControl }
      return { value, lastModified: fresh ? now : hit.lastModified, cacheControl }
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
