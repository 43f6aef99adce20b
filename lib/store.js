'use strict'
// Process-wide caches: Next constructs the handler for every request, so connections and
// state live here, keyed by configuration, never on handler instances.

const { NativeCache, retype } = require('./native')
const { resolveConfig } = require('./config')

const REGISTRY = Symbol.for('shared-isr.registry')
const registry = (globalThis[REGISTRY] ??= { caches: new Map(), notified: false })

/** Logs one line per change of health, not one per failing call. */
class HealthLog {
  constructor(store) {
    this.store = store
    this.failing = null // code of the current failure streak
  }
  ok() {
    if (this.failing !== null) {
      this.failing = null
      console.info(`[shared-isr] ${this.store} store is healthy again`)
    }
  }
  fail(op, err) {
    const code = err?.code || 'ERR_SHARED_ISR_UNKNOWN'
    if (this.failing === code) return
    this.failing = code
    console.warn(
      `[shared-isr] ${op} failed (${code}): ${err?.message ?? err}. ` +
        'Reads are misses and writes are skipped until it recovers; further errors of this kind are not logged.',
    )
  }
}

class Store {
  constructor(config) {
    this.config = config
    const { buildId, ...nativeOptions } = config
    try {
      this.native = new NativeCache(nativeOptions)
    } catch (err) {
      throw retype(err)
    }
    this.kind = this.native.store
    this.closed = false
    this.health = new HealthLog(this.kind)
  }

  /** @returns {Promise<import('../index').NativeHit | null>} never rejects */
  async get(key, tags) {
    try {
      const hit = await this.native.get(key, tags)
      this.health.ok()
      return hit
    } catch (err) {
      this.health.fail('get', retype(err))
      return null
    }
  }

  /** Never rejects: a failed write is logged and counted. */
  async set(key, payload, meta) {
    try {
      await this.native.set(key, payload, meta)
      this.health.ok()
      return true
    } catch (err) {
      this.health.fail('set', retype(err))
      return false
    }
  }

  /** Rejects when the revalidation could not be recorded: callers must see that. */
  async revalidateTags(tags, durations) {
    try {
      await this.native.revalidateTags(tags, durations)
      this.health.ok()
    } catch (err) {
      retype(err)
      this.health.fail('revalidateTag', err)
      const wrapped = new Error(`shared-isr could not record the revalidation of ${JSON.stringify(tags)}: ${err.message}`, {
        cause: err,
      })
      wrapped.code = err.code
      throw wrapped
    }
  }

  /** Never rejects: without the store, this process keeps the view it has. */
  async refreshTags() {
    try {
      await this.native.refreshTags()
      this.health.ok()
    } catch (err) {
      this.health.fail('refreshTags', retype(err))
    }
  }

  tagExpiration(tags) {
    return this.native.tagExpiration(tags)
  }

  stats() {
    return this.native.stats()
  }

  close() {
    this.closed = true
    this.native.close()
  }
}

/** The process-wide store for these options (environment used for what they leave out). */
function getStore(options = {}) {
  const config = resolveConfig(options)
  const id = JSON.stringify(config)
  let store = registry.caches.get(id)
  if (!store) {
    store = new Store(config)
    registry.caches.set(id, store)
    if (store.kind === 'memory' && !registry.notified) {
      registry.notified = true
      console.info(
        '[shared-isr] No SHARED_ISR_REDIS_URL or REDIS_URL set: using the in-memory store. ' +
          'The cache works, but instances do not share it.',
      )
    }
  }
  return store
}

/** Closes every store of this process; later calls create fresh ones. */
function closeAll() {
  for (const store of registry.caches.values()) store.close()
  registry.caches.clear()
}

function allStores() {
  return [...registry.caches.values()]
}

module.exports = { getStore, closeAll, allStores, Store }
