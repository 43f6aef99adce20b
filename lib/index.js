'use strict'
// `require('shared-isr')`: the programmatic API.

const { createHandler } = require('./handler')
const { createUseCacheHandler } = require('./use-cache')
const { getStore, closeAll } = require('./store')
const { normalizeTags, pathTags, toDurations } = require('./tags')
const { appProfile } = require('./cache-life')
const { metricsText, metricsHandler, registerMetrics, registerOpenTelemetry } = require('./metrics')
const { ERROR_CODES } = require('./native')

/**
 * Revalidates tags for every instance, like Next's `revalidateTag(tags, profile?)`.
 * Resolves once recorded in the shared store; rejects (with `err.code`) otherwise, so a
 * webhook can answer 5xx and let the CMS retry.
 */
async function revalidateTags(tags, profile, options) {
  const list = normalizeTags(tags)
  if (list.length === 0) return
  await getStore(options).revalidateTags(list, toDurations(profile, appProfile))
}

/** Like Next's `revalidatePath(path, type?)`: revalidates the path's implicit tag. */
async function revalidatePath(path, type, options) {
  await getStore(options).revalidateTags(pathTags(path, type))
}

/** Counters of the store for these options (environment by default). */
function stats(options) {
  return getStore(options).stats()
}

/** Whether `err` is one of ours: its `code` is one of the stable codes (no instanceof: errors cross realms). */
function isSharedIsrError(err) {
  return err !== null && typeof err === 'object' && ERROR_CODES.has(err.code)
}

/** How the store for these options is doing, from what its calls saw (never a call of its own). */
function health(options) {
  return getStore(options).health()
}

/**
 * A route handler for Kubernetes probes: `export const GET = healthHandler()`. Answers 200 with
 * `health()` as JSON, also while Redis is down (the site still serves: restarting pods would
 * not bring Redis back); with `{ failWhenDegraded: true }` it answers 503 then.
 */
function healthHandler({ failWhenDegraded = false, ...options } = {}) {
  return async () => {
    let h
    try {
      h = health(options)
    } catch (err) {
      if (err?.code !== 'ERR_SHARED_ISR_CONFIG') throw err
      // Caching is off until the setting is fixed: a probe must see it, not a 500.
      h = { status: 'misconfigured', error: { code: err.code, message: err.message } }
      return Response.json(h, { status: 503, headers: { 'cache-control': 'no-store' } })
    }
    const bad = h.status === 'closed' || (failWhenDegraded && h.status !== 'ok')
    return Response.json(h, { status: bad ? 503 : 200, headers: { 'cache-control': 'no-store' } })
  }
}

/**
 * Closes every connection this process opened; the next call reconnects. Revalidations kept
 * while Redis failed get 2 s to be recorded first; those that are not are logged.
 */
async function close() {
  await closeAll()
}

module.exports = {
  createHandler,
  createUseCacheHandler,
  revalidateTags,
  revalidatePath,
  stats,
  isSharedIsrError,
  health,
  healthHandler,
  metricsText,
  metricsHandler,
  registerMetrics,
  registerOpenTelemetry,
  close,
}
