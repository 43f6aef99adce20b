'use strict'
// Which cache keys are prerendered paths of closed routes (`dynamicParams = false`,
// `fallback: false`) on a Next version where a miss 404s them (App Router before 16.4, Pages
// Router before 15.5). For those an invalidated entry must be answered with its old value and
// `lastModified: -1` (regenerate); everything else gets a plain miss, which Next renders in the
// foreground: fresh on the very next request.

const fs = require('node:fs')
const path = require('node:path')
const { nextKeyPath } = require('./keys')

const manifests = new Map() // serverDistDir -> { closed: Set of closed prerendered paths, routes, dynamicRoutes }

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

/** The build's prerender manifest, read once: what this module needs of it. */
function manifestOf(serverDistDir) {
  let known = manifests.get(serverDistDir)
  if (known) return known
  known = { closed: new Set(), routes: {}, dynamicRoutes: {} }
  try {
    const file = path.join(serverDistDir, '..', 'prerender-manifest.json')
    const m = JSON.parse(fs.readFileSync(file, 'utf8'))
    known.routes = m.routes ?? {}
    known.dynamicRoutes = m.dynamicRoutes ?? {}
    const v = nextVersion(serverDistDir)
    // A miss renders closed App routes from 16.4 and closed Pages routes from 15.5 on.
    const appCloses = !atLeast(v, 16, 4)
    const pagesCloses = !atLeast(v, 15, 5)
    for (const [route, info] of Object.entries(known.routes)) {
      const dyn = info?.srcRoute && known.dynamicRoutes[info.srcRoute]
      if (dyn?.fallback !== false) continue
      const pages = typeof dyn.dataRoute === 'string' && dyn.dataRoute.startsWith('/_next/data/')
      if (pages ? pagesCloses : appCloses) known.closed.add(route)
    }
  } catch {
    // No manifest (next dev, build workers): nothing is known to be closed or prerendered.
  }
  manifests.set(serverDistDir, known)
  return known
}

/** The page path a cache key stands for (keys.js knows both key forms; the manifest lists paths). */
function pathOfKey(key) {
  let p = nextKeyPath(key) ?? key
  if (p === '/index') p = '/'
  else if (p.startsWith('/index/')) p = p.slice(6)
  return p
}

function isClosedPrerendered(serverDistDir, key) {
  if (typeof serverDistDir !== 'string') return false
  const set = manifestOf(serverDistDir).closed
  return set.size > 0 && set.has(pathOfKey(key))
}

const seconds = (v) => (v === false || (typeof v === 'number' && v >= 0) ? v : undefined)

/**
 * The lifetime the build gave the prerendered output of `key` (`revalidate`: seconds or false,
 * `expire`: seconds), as Next itself judges that output: the path's own entry in the prerender
 * manifest, else its route's fallback shell. Empty when the manifest does not say.
 */
function buildLifetime(serverDistDir, key) {
  if (typeof serverDistDir !== 'string') return {}
  const { routes, dynamicRoutes } = manifestOf(serverDistDir)
  const p = pathOfKey(key)
  const own = Object.hasOwn(routes, p) ? routes[p] : undefined
  if (own && seconds(own.initialRevalidateSeconds) !== undefined) {
    return { revalidate: own.initialRevalidateSeconds, expire: positive(own.initialExpireSeconds) }
  }
  const shell = Object.hasOwn(dynamicRoutes, p) ? dynamicRoutes[p] : undefined
  if (shell && seconds(shell.fallbackRevalidate) !== undefined) {
    return { revalidate: shell.fallbackRevalidate, expire: positive(shell.fallbackExpire) }
  }
  return {}
}

const positive = (v) => (typeof v === 'number' && v > 0 ? v : undefined)

module.exports = { isClosedPrerendered, buildLifetime, pathOfKey, nextVersion }
