'use strict'
// The `'use cache'` handler (Next 15.3+ `experimental.cacheHandlers`, 16 `cacheHandlers`).
// One object per process, never constructed by Next; it shares the store, connection and tag
// manifest with the `cacheHandler`, so one revalidation reaches both kinds of entry.

const { lazyStore } = require('./handler')
const { hasPageHandler } = require('./store')
const { nextVersion } = require('./prerender')
const { normalizeTags, nextDurations } = require('./tags')
const { useCacheKey } = require('./keys')

const now = () => performance.timeOrigin + performance.now()

function streamOf(bytes) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      controller.close()
    },
  })
}

async function bytesOf(stream) {
  const chunks = []
  let size = 0
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    chunks.push(b)
    size += b.byteLength
  }
  return { chunks, size }
}

/** A handler object bound to `options` (anything left out comes from the environment). */
/** Payload: the client `stale` time (f64), then the entry's bytes. */
function decodeEntry(payload) {
  if (payload.length < 8) throw new Error('use-cache payload too short')
  return { stale: payload.readDoubleLE(0), body: payload.subarray(8) }
}

/**
 * What to answer Next for an entry read (see Leases.answer): the lease is asked for only where
 * the answer makes Next render it (a miss, or `revalidate: -1` / an old timestamp: regenerated
 * in the background).
 */
function planEntry(hit) {
  if (!hit) return MISS
  // Expired: a miss, rendered in the foreground; worth waiting for another instance's render.
  if (hit.freshness === 'expired') return { regenerates: true, waits: true, answer: () => null }
  const expire = hit.expire ?? Infinity
  const at = now()
  // Past its own expire Next renders it anyway, as without the lease.
  if (at > hit.lastModified + expire * 1000) return MISS
  const revalidate = typeof hit.revalidate === 'number' ? hit.revalidate : expire
  const entry = (timestamp, rev) => () => ({
    value: streamOf(hit.value.body),
    tags: hit.tags,
    stale: hit.value.stale,
    timestamp,
    expire,
    revalidate: rev,
  })
  const stale = hit.freshness === 'stale'
  if (!stale && at <= hit.lastModified + revalidate * 1000) return { answer: entry(hit.lastModified, revalidate) }
  return {
    regenerates: true,
    // -1: a tag marked it stale; Next serves it and regenerates in the background.
    answer: entry(hit.lastModified, stale ? -1 : revalidate),
    // Another instance regenerates it: served as fresh meanwhile.
    busy: entry(at, revalidate),
  }
}

const MISS = Object.freeze({ answer: () => null })

/**
 * Next 16 keeps a PPR page's `'use cache'` results with the page's ISR entry, and checks them
 * against a tag list each process keeps in memory: without shared-isr's page handler
 * (`cacheHandler`), a revalidation on one instance never reaches another instance's
 * `router.refresh()` of that page. Said once, on the first call (Next loads the page handler
 * before it renders anything, so by then it is known whether there is one).
 */
function warnIfAlone(s) {
  if (hasPageHandler() || process.env.NEXT_PHASE === 'phase-production-build') return
  const v = nextVersion(process.cwd())
  if (v === null || v[0] < 16) return
  s.log.warn(
    { event: 'use_cache_alone' },
    "the 'use cache' handler runs without shared-isr's cacheHandler: on Next 16 a PPR page keeps its 'use cache' results " +
      'with its ISR entry, judged by tags each process keeps in memory, so router.refresh() on other instances stays stale ' +
      'after a revalidation. Set cacheHandler to shared-isr/handler too (withSharedIsr sets both).',
  )
}

function createUseCacheHandler(options = {}) {
  const lazy = lazyStore(options)
  let checked = false
  const storeFor = () => {
    const s = lazy()
    if (s && !checked) {
      checked = true
      warnIfAlone(s)
    }
    return s
  }
  storeFor.required = lazy.required
  const pending = new Map() // cacheKey -> promise of the set in progress

  return {
    async get(cacheKey, softTags) {
      const inFlight = pending.get(cacheKey)
      if (inFlight) await inFlight
      const s = storeFor()
      if (!s) return undefined
      const key = useCacheKey(cacheKey)
      const readTags = Array.isArray(softTags) ? softTags : []
      const hit = await s.read(key, readTags, decodeEntry)
      if (!hit) return undefined
      return (await s.leases.answer(key, hit, planEntry, readTags, decodeEntry)) ?? undefined
    },

    async set(cacheKey, pendingEntry) {
      let done
      const promise = new Promise((resolve) => (done = resolve))
      pending.set(cacheKey, promise)
      const s = storeFor()
      try {
        const entry = await pendingEntry
        if (!s) return
        const { chunks, size } = await bytesOf(entry.value)
        // Production skips dynamic entries, as Next's own handler does.
        if (entry.expire === 0 && !process.env.__NEXT_DEV_SERVER) return
        // The envelope keeps tags and lifetimes; the payload the rest (see decodeEntry).
        const payload = Buffer.allocUnsafe(8 + size)
        payload.writeDoubleLE(Number(entry.stale) || 0, 0)
        let at = 8
        for (const c of chunks) {
          c.copy(payload, at)
          at += c.byteLength
        }
        await s.write(
          useCacheKey(cacheKey),
          payload,
          {
            lastModified: entry.timestamp,
            revalidate: entry.revalidate,
            expire: Number.isFinite(entry.expire) ? entry.expire : undefined,
            tags: normalizeTags(entry.tags),
          },
          decodeEntry,
        )
      } catch (err) {
        s?.badKeys.once(`use-cache:${cacheKey}`, `not caching a 'use cache' entry: ${err?.message ?? err}`)
      } finally {
        done()
        if (pending.get(cacheKey) === promise) pending.delete(cacheKey)
      }
    },

    /** Once per request: catch up on revalidations made elsewhere. Never throws. */
    async refreshTags() {
      await storeFor()?.refreshTags()
    },

    /** 16: `getExpiration(tags)`; 15.3+: `getExpiration(...tags)`. */
    async getExpiration(...args) {
      const tags = Array.isArray(args[0]) ? args[0] : args
      const s = storeFor()
      // Without a store nothing can be trusted as unexpired.
      return s ? s.tagExpiration(normalizeTags(tags)) : Date.now()
    },

    /** 16: revalidateTag / updateTag / revalidatePath. Rejects when not recorded. */
    async updateTags(tags, durations) {
      const list = normalizeTags(tags)
      if (list.length === 0) return
      await storeFor.required().revalidateTags(list, nextDurations(durations))
    },

    /** 15.x: `expireTags(...tags)`. */
    async expireTags(...tags) {
      const list = normalizeTags(tags.flat())
      if (list.length === 0) return
      await storeFor.required().revalidateTags(list)
    },

    /** 15.0-15.2 (V1) only; Next calls it in minimal mode. Tags already come from the store. */
    async receiveExpiredTags() {},
  }
}

module.exports = { createUseCacheHandler }
