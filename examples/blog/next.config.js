'use strict'
const path = require('node:path')

const nextMajor = parseInt(require('next/package.json').version, 10)

/** @type {import('next').NextConfig} */
const config = {
  // The e2e harness builds one copy of the app per mode into its own dist dir.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  reactStrictMode: true,
}

// `NEXT_OUTPUT=standalone`: the self-contained server a Docker image ships (.next/standalone).
if (process.env.NEXT_OUTPUT === 'standalone') config.output = 'standalone'

// Same app, two ways: with SHARED_ISR_HANDLER every instance uses the shared cache; without
// it, Next's default per-instance cache. SHARED_ISR_HANDLER is either a module name, resolved
// the way users write it (`SHARED_ISR_HANDLER=shared-isr/handler` is
// `cacheHandler: require.resolve('shared-isr/handler')`, with shared-isr installed in this
// app), or a path (e.g. a local checkout's lib/handler-default.js).
const handler = process.env.SHARED_ISR_HANDLER
if (handler) {
  // Next resolves a relative cacheHandler against the project dir at build but against
  // distDir at runtime, so always hand it an absolute path.
  config.cacheHandler = isModuleName(handler) ? require.resolve(handler, { paths: [__dirname] }) : path.resolve(__dirname, handler)
  // Next's in-memory LRU would keep serving entries another instance has revalidated.
  config.cacheMaxMemorySize = 0
}

// This app lives inside another repository: keep file tracing (and Turbopack's root) here
// instead of letting Next guess the workspace root from lockfiles further up (the standalone
// output would otherwise nest the app under examples/...). A cache handler outside the app (a
// local checkout of shared-isr) widens the root to include it: Next traces the handler, and
// Turbopack (16) aborts the build on a file outside its root.
const tracingRoot = config.cacheHandler ? commonAncestor(__dirname, path.dirname(config.cacheHandler)) : __dirname
if (nextMajor >= 15) config.outputFileTracingRoot = tracingRoot
else config.experimental = { ...config.experimental, outputFileTracingRoot: tracingRoot }

if (nextMajor < 16) {
  // No eslint in this example; Next 14/15 would otherwise warn during every build (16 no longer lints).
  config.eslint = { ignoreDuringBuilds: true }
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
