'use strict'
// Read-through to the build output on a miss. With a custom cacheHandler Next never reads
// prerendered files itself, so before 16.4 a closed route (`dynamicParams = false`,
// `fallback: false`) that is missing from the shared store 404s. Next's own FileSystemCache
// knows every version's file layout (including 15.5.27+/16.3.8+ route-cache keys), so we
// borrow it, read-only: no disk writes, no memory cache.

const path = require('node:path')

const classes = new Map() // serverDistDir -> FileSystemCache class, or null when unavailable

function fileSystemCacheFor(serverDistDir) {
  if (classes.has(serverDistDir)) return classes.get(serverDistDir)
  let Cls = null
  try {
    const file = require.resolve('next/dist/server/lib/incremental-cache/file-system-cache', {
      paths: [serverDistDir, path.dirname(serverDistDir), process.cwd()],
    })
    const mod = require(file)
    Cls = mod.default || mod.FileSystemCache || null
  } catch {
    Cls = null
  }
  classes.set(serverDistDir, Cls)
  return Cls
}

/**
 * The prerendered value for `key`, or null. Never throws.
 * @returns {Promise<{ value: any, lastModified: number } | null>}
 */
async function readBuildOutput(handlerCtx, key, ctx) {
  const { serverDistDir, fs } = handlerCtx
  if (typeof serverDistDir !== 'string' || !fs || handlerCtx.dev) return null
  const Cls = fileSystemCacheFor(serverDistDir)
  if (!Cls) return null
  try {
    const disk = new Cls({ ...handlerCtx, flushToDisk: false, maxMemoryCacheSize: 0, revalidatedTags: [] })
    const data = await disk.get(key, { ...ctx, kind: ctx.kind, kindHint: ctx.kindHint })
    if (!data || !data.value || data.value.kind === 'FETCH') return null
    return { value: data.value, lastModified: data.lastModified ?? Date.now() }
  } catch {
    return null
  }
}

module.exports = { readBuildOutput }
