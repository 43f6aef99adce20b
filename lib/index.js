'use strict'
// `require('shared-isr')`: the programmatic API.

const { createHandler } = require('./handler')
const { createUseCacheHandler } = require('./use-cache')
const { getStore, closeAll } = require('./store')
const { normalizeTags, pathTags, toDurations } = require('./tags')

/**
 * Revalidates tags for every instance, like Next's `revalidateTag(tags, profile?)`.
 * Resolves once recorded in the shared store; rejects (with `err.code`) otherwise, so a
 * webhook can answer 5xx and let the CMS retry.
 */
async function revalidateTags(tags, profile, options) {
  const list = normalizeTags(tags)
  if (list.length === 0) return
  await getStore(options).revalidateTags(list, toDurations(profile))
}

/** Like Next's `revalidatePath(path, type?)`: revalidates the path's implicit tag. */
async function revalidatePath(path, type, options) {
  await getStore(options).revalidateTags(pathTags(path, type))
}

/** Counters of the store for these options (environment by default). */
function stats(options) {
  return getStore(options).stats()
}

/** Whether `err` is one of ours: then `err.code` is one of the documented `ERR_SHARED_ISR_*` codes. */
function isSharedIsrError(err) {
  return typeof err?.code === 'string' && err.code.startsWith('ERR_SHARED_ISR_')
}

/** Closes every connection this process opened; the next call reconnects. */
async function close() {
  closeAll()
}

module.exports = {
  createHandler,
  createUseCacheHandler,
  revalidateTags,
  revalidatePath,
  stats,
  isSharedIsrError,
  close,
}
