'use strict'
// Which cache keys are prerendered paths of closed routes (`dynamicParams = false`,
// `fallback: false`) on a Next version where a miss 404s them (App Router before 16.4, Pages
// Router before 15.5). For those an invalidated entry must be answered with its old value and
// `lastModified: -1` (regenerate); everything else gets a plain miss, which Next renders in the
// foreground: fresh on the very next request.

const fs = require('node:fs')
const path = require('node:path')

const manifests = new Map() // serverDistDir -> Set of closed prerendered paths

/** [major, minor] of the Next that serves this build; null when it cannot be found. */
function nextVersion(serverDistDir) {
  try {
    const file = require.resolve('next/package.json', { paths: [serverDistDir, path.dirname(serverDistDir), process.cwd()] })
    const [major, minor] = JSON.parse(fs.readFileSync(file, 'utf8')).version.split('.').map(Number)
    return [major, minor]
  } catch {
    return null
  }
}

const atLeast = (v, major, minor) => v !== null && (v[0] > major || (v[0] === major && v[1] >= minor))

function closedPaths(serverDistDir) {
  let set = manifests.get(serverDistDir)
  if (set) return set
  set = new Set()
  try {
    const file = path.join(serverDistDir, '..', 'prerender-manifest.json')
    const m = JSON.parse(fs.readFileSync(file, 'utf8'))
    const v = nextVersion(serverDistDir)
    // A miss renders closed App routes from 16.4 and closed Pages routes from 15.5 on.
    const appCloses = !atLeast(v, 16, 4)
    const pagesCloses = !atLeast(v, 15, 5)
    for (const [route, info] of Object.entries(m.routes ?? {})) {
      const dyn = info?.srcRoute && m.dynamicRoutes?.[info.srcRoute]
      if (dyn?.fallback !== false) continue
      const pages = typeof dyn.dataRoute === 'string' && dyn.dataRoute.startsWith('/_next/data/')
      if (pages ? pagesCloses : appCloses) set.add(route)
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
