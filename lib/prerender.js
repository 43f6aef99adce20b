'use strict'
// Which cache keys are prerendered paths of closed routes (`dynamicParams = false`,
// `fallback: false`). For those a miss 404s before Next 16.4, so an invalidated entry must be
// answered with its old value and `lastModified: -1` (regenerate); everything else gets a
// plain miss, which Next renders in the foreground: fresh on the very next request.

const fs = require('node:fs')
const path = require('node:path')

const manifests = new Map() // serverDistDir -> Set of closed prerendered paths

function closedPaths(serverDistDir) {
  let set = manifests.get(serverDistDir)
  if (set) return set
  set = new Set()
  try {
    const file = path.join(serverDistDir, '..', 'prerender-manifest.json')
    const m = JSON.parse(fs.readFileSync(file, 'utf8'))
    for (const [route, info] of Object.entries(m.routes ?? {})) {
      const src = info?.srcRoute
      if (src && m.dynamicRoutes?.[src]?.fallback === false) set.add(route)
    }
  } catch {
    // No manifest (next dev, build workers): nothing is known to be closed.
  }
  manifests.set(serverDistDir, set)
  return set
}

/** The page path a cache key stands for (keys are opaque, but these two forms are stable). */
function pathOfKey(key) {
  // 15.5.27+ / 16.3.8+: /route-cache/<KIND>/<hash>/$<normalized path>
  const marker = key.indexOf('/$/')
  let p = key.startsWith('/route-cache/') && marker !== -1 ? key.slice(marker + 2) : key
  if (p === '/index') p = '/'
  else if (p.startsWith('/index/')) p = p.slice(6)
  return p
}

function isClosedPrerendered(serverDistDir, key) {
  if (typeof serverDistDir !== 'string') return false
  const set = closedPaths(serverDistDir)
  return set.size > 0 && set.has(pathOfKey(key))
}

module.exports = { isClosedPrerendered, pathOfKey }
