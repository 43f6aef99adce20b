'use strict'
// The `'use cache'` handler (Next 15.3+ `experimental.cacheHandlers`, 16 `cacheHandlers`).
// One object per process, never constructed by Next; it shares the store, connection and tag
// manifest with the `cacheHandler`, so one revalidation reaches both kinds of entry.

const { lazyStore } = require('./handler')
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

function createUseCacheHandler(options = {}) {
  const storeFor = lazyStore(options)
  const pending = new Map() // cacheKey -> promise of the set in progress

  return {
    async get(cacheKey, softTags) {
      const inFlight = pending.get(cacheKey)
      if (inFlight) await inFlight
      const s = storeFor()
      if (!s) return undefined
      const key = useCacheKey(cacheKey)
      const readTags = Array.isArray(softTags) ? softTags : []
      let hit = await s.read(key, readTags, decodeEntry)
      if (!hit) return undefined
      // Another instance regenerates it: wait (bounded) for its entry rather than render again.
      if (hit.freshness === 'expired') {
        if (hit.source === 'build' || (await s.leases.take(key))) return undefined
        hit = await s.leases.awaitNew(key, hit, readTags, decodeEntry)
        if (!hit) return undefined
      }
      const expire = hit.expire ?? Infinity
      const at = now()
      if (at > hit.lastModified + expire * 1000) return undefined
      const revalidate = typeof hit.revalidate === 'number' ? hit.revalidate : expire
      let timestamp = hit.lastModified
      let stale = hit.freshness === 'stale'
      if ((stale || at > timestamp + revalidate * 1000) && !(await s.leases.take(key))) {
        // Another instance regenerates it: served as fresh meanwhile.
        stale = false
        timestamp = at
      }
      return {
        value: streamOf(hit.value.body),
        tags: hit.tags,
        stale: hit.value.stale,
        timestamp,
        expire,
        // -1: a tag marked it stale; Next serves it and regenerates in the background.
        revalidate: stale ? -1 : revalidate,
      }
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
