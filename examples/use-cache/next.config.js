'use strict'
const fs = require('node:fs')
const path = require('node:path')

const nextMajor = parseInt(require('next/package.json').version, 10)

// A short profile for time-based tests: regenerate in the background after 3 s, never serve
// an entry older than an hour. (stale is the client router's time; it plays no part here.)
const cacheLife = { blink: { stale: 60, revalidate: 3, expire: 3600 } }

/** @type {import('next').NextConfig} */
const config = {
  // The e2e harness builds one copy of the app per mode into its own dist dir.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  reactStrictMode: true,
}

// 'use cache': 16 needs cacheComponents (it changes how every page renders: dynamic data must
// sit under <Suspense>, the shell around it is prerendered); 15.3+ has experimental.useCache.
if (nextMajor >= 16) {
  config.cacheComponents = true
  // What 16 recommends for new projects (it warns when this is left unset).
  config.partialPrefetching = true
  config.cacheLife = cacheLife
} else {
  config.experimental = { useCache: true, cacheLife }
}

if (process.env.NEXT_OUTPUT === 'standalone') config.output = 'standalone'

// Same app, two ways: with SHARED_ISR_HANDLER every instance uses the shared cache for both
// interfaces (the `cacheHandler` for pages/route handlers/fetch, the `cacheHandlers` for
// 'use cache'); without it, Next's defaults (per-process memory for 'use cache').
// SHARED_ISR_HANDLER is a module name resolved the way users write it
// (`shared-isr/handler` = `require.resolve('shared-isr/handler')`) or a path (a checkout's
// lib/handler-default.js). SHARED_ISR_USE_CACHE_HANDLER likewise for the 'use cache' module;
// unset, it is `shared-isr/use-cache` for a module name and use-cache-default.js next to a path.
const handler = process.env.SHARED_ISR_HANDLER
let useCacheHandler = null
if (handler) {
  // Next resolves relative paths against different dirs at build and at run time: use absolute ones.
  config.cacheHandler = resolveSpec(handler)
  useCacheHandler = resolveSpec(
    process.env.SHARED_ISR_USE_CACHE_HANDLER ||
      (isModuleName(handler) ? 'shared-isr/use-cache' : path.join(path.dirname(path.resolve(__dirname, handler)), 'use-cache-default.js')),
  )
  // Both names, or 'use cache: remote' would stay in Next's per-process memory.
  const cacheHandlers = { default: useCacheHandler, remote: useCacheHandler }
  if (nextMajor >= 16) config.cacheHandlers = cacheHandlers
  else config.experimental.cacheHandlers = cacheHandlers
  // Next's in-memory LRU would keep serving entries another instance has revalidated.
  config.cacheMaxMemorySize = 0
}

// This app lives inside another repository: keep file tracing (and Turbopack's root) to what
// it uses instead of letting Next guess the workspace root: the app, the Next install it runs
// against (the e2e harness builds it in a folder under that install) and a cache handler
// outside the app (a local checkout of shared-isr), which Next traces.
const roots = [__dirname, path.dirname(fs.realpathSync(require.resolve('next/package.json')))]
if (config.cacheHandler) roots.push(path.dirname(config.cacheHandler), path.dirname(useCacheHandler))
config.outputFileTracingRoot = roots.reduce(commonAncestor)

if (nextMajor < 16) {
  // No eslint in this example; 15 would otherwise warn during every build (16 no longer lints).
  config.eslint = { ignoreDuringBuilds: true }
}

function resolveSpec(spec) {
  return isModuleName(spec) ? require.resolve(spec, { paths: [__dirname] }) : path.resolve(__dirname, spec)
}

function isModuleName(spec) {
  return !spec.startsWith('.') && !path.isAbsolute(spec)
}

function commonAncestor(a, b) {
  const pa = path.resolve(a).split(path.sep)
  const pb = path.resolve(b).split(path.sep)
  let i = 0
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++
  return pa.slice(0, i).join(path.sep) || path.sep
}

module.exports = config
