'use strict'
// Read-through to the build output on a miss. With a custom cacheHandler Next never reads
// prerendered files itself, so before 16.4 a closed route (`dynamicParams = false`,
// `fallback: false`) that is missing from the shared store 404s. Next's own FileSystemCache
// knows every version's file layout (including 15.5.27+/16.3.8+ route-cache keys), so we
// borrow it, read-only: no disk writes, no memory cache.
//
// FileSystemCache also checks Next's in-process tag manifest, which 15.5's built-in 'use cache'
// handler fills on the instance that took a revalidation; the read would then miss and the
// closed route 404. Tags are our business (judged against the shared manifest), so the borrowed
// reader sees the build's metadata without its tags header, and we put it back afterwards.

const path = require('node:path')
const { TAGS_HEADER } = require('./tags')

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

/** `fs` as FileSystemCache sees it: `.meta` files without the tags header, kept in `seen`. */
function withoutTags(fs, seen) {
  const strip = (file, text) => {
    if (typeof text !== 'string' || !String(file).endsWith('.meta')) return text
    const meta = JSON.parse(text)
    if (meta?.headers && meta.headers[TAGS_HEADER] !== undefined) {
      seen.tags = meta.headers[TAGS_HEADER]
      delete meta.headers[TAGS_HEADER]
    }
    return JSON.stringify(meta)
  }
  return new Proxy(fs, {
    get(target, prop) {
      if (prop === 'readFile') return async (file, ...rest) => strip(file, await target.readFile(file, ...rest))
      if (prop === 'readFileSync') return (file, ...rest) => strip(file, target.readFileSync(file, ...rest))
      const v = target[prop]
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
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
    const seen = {}
    const disk = new Cls({ ...handlerCtx, fs: withoutTags(fs, seen), flushToDisk: false, maxMemoryCacheSize: 0, revalidatedTags: [] })
    const data = await disk.get(key, ctx)
    if (!data?.value || data.value.kind === 'FETCH') return null
    const value = data.value
    if (seen.tags !== undefined) value.headers = { ...value.headers, [TAGS_HEADER]: seen.tags }
    return { value, lastModified: data.lastModified ?? Date.now() }
  } catch {
    return null
  }
}

module.exports = { readBuildOutput }
