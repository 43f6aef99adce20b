'use strict'
// E2E harness: N real `next start` instances of an example app (examples/blog unless
// `app` says otherwise) behind a round-robin load balancer, optionally with their own
// redis-server and the shared-isr cache handler.
//
//   const { startCluster } = require('./scripts/e2e/harness');
//   const c = await startCluster({ version: '16', instances: 3, useSharedIsr: true, redis: true });
//   await c.setCms(cmsWithRev('r2')); await c.revalidate({ tags: ['posts'] });
//   await getPage(c.instances[0].url + '/posts/hello-world');
//   await c.stop();
//
// Each instance gets its OWN copy of the build output, as containers do: with Next's default
// cache they must not share `.next` on disk, or the "stale instance" problem would be hidden.
// Every process runs under guard.js in its own process group; stop(), process exit and even a
// SIGKILL of the test process take them all down.
//
// Three build modes, each built once per (sources, Next version, handler) and cached:
//   default     Next's own cache (no cacheHandler)
//   shared      cacheHandler = this checkout's handler module (lib/), for a fast edit-test loop
//   standalone  what users ship: `output: 'standalone'`, the package installed into the app from
//               `npm pack` tarballs (shared-isr + its platform binding package, as npm installs
//               them from the registry) and `cacheHandler: require.resolve('shared-isr/handler')`;
//               each instance runs `node server.js` from its own copy of `.next/standalone`
//               outside the repository, like a Docker image.
// The shared and standalone builds run with SHARED_ISR_REDIS_URL pointing at a closed port, as
// in a Docker build where Redis is not reachable.
//
// Apps (`app` option of startCluster/buildApp; see APPS):
//   blog       examples/blog, built in examples/.work/next<major>/ next to the install (default)
//   use-cache  examples/use-cache ('use cache', cacheComponents on 16), built in
//              examples/.work/next<major>/apps/use-cache/, which resolves `next` from the
//              install above it. Its next.config.js also reads SHARED_ISR_USE_CACHE_HANDLER
//              (the harness sets it with SHARED_ISR_HANDLER) for `cacheHandlers`.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { ROOT, VERSIONS, normalizeMajor, versionDir, installUnlocked, withLock } = require('./install-next')
const { ensurePackageInstalled } = require('./pack')
const { freePort } = require('../lib/net')
const { command } = require('../lib/resp')

const BLOG_DIR = path.join(ROOT, 'examples', 'blog')
const USE_CACHE_DIR = path.join(ROOT, 'examples', 'use-cache')
const GUARD = path.join(__dirname, 'guard.js')
const DEFAULT_HANDLER = defaultHandler()
const DEFAULT_USE_CACHE_HANDLER = defaultUseCacheHandler()
const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server'
// Bump when the build recipe below changes, to invalidate cached builds.
const RECIPE = 'blog-build-2'

// The example apps. `workDir(major)` is the Next project the app is copied into and built in.
const APPS = {
  blog: { dir: BLOG_DIR, workDir: (major) => versionDir(major) },
  'use-cache': { dir: USE_CACHE_DIR, workDir: (major) => path.join(versionDir(major), 'apps', 'use-cache') },
}

function appSpec(name = 'blog') {
  const app = APPS[name]
  if (!app) throw new Error(`unknown example app "${name}" (expected one of ${Object.keys(APPS).join(', ')})`)
  return { name, ...app }
}

// The module Next loads as `cacheHandler` (its module.exports must be the class):
// SHARED_ISR_E2E_HANDLER if set, else what the package exports as `shared-isr/handler`.
function defaultHandler() {
  if (process.env.SHARED_ISR_E2E_HANDLER) return path.resolve(process.env.SHARED_ISR_E2E_HANDLER)
  try {
    const exp = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).exports['./handler']
    const target = typeof exp === 'string' ? exp : exp.default || exp.require
    if (target) return path.resolve(ROOT, target)
  } catch {}
  return path.join(ROOT, 'lib', 'handler.js')
}

// The module registered as `cacheHandlers.default` and `.remote` ('use cache'):
// SHARED_ISR_E2E_USE_CACHE_HANDLER if set, else the package's `shared-isr/use-cache` export.
function defaultUseCacheHandler() {
  if (process.env.SHARED_ISR_E2E_USE_CACHE_HANDLER) return path.resolve(process.env.SHARED_ISR_E2E_USE_CACHE_HANDLER)
  try {
    const exp = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).exports['./use-cache']
    const target = typeof exp === 'string' ? exp : exp.default || exp.require
    if (target) return path.resolve(ROOT, target)
  } catch {}
  return path.join(ROOT, 'lib', 'use-cache-default.js')
}

const log = (...a) => {
  if (process.env.E2E_QUIET !== '1') console.error('[e2e]', ...a)
}

/** Versions selected by E2E_NEXT_VERSIONS (default "14,15,16"), as majors. */
function e2eVersions() {
  const raw = process.env.E2E_NEXT_VERSIONS || '14,15,16'
  return [
    ...new Set(
      raw
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(normalizeMajor),
    ),
  ]
}

// ---------------------------------------------------------------- process bookkeeping

const live = new Set() // ChildProcess of every guard still running
const removeOnExit = new Set() // run dirs to delete even if stop() never ran

function killGroupSync(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {}
}

process.on('exit', () => {
  for (const c of live) killGroupSync(c, 'SIGKILL')
  for (const d of removeOnExit) {
    try {
      fs.rmSync(d, { recursive: true, force: true })
    } catch {}
  }
})
let signalHook = null
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    // A second signal finds no listener and ends the process; the exit hook still cleans up.
    if (signalHook) return signalHook(sig)
    for (const c of live) killGroupSync(c, 'SIGKILL')
    process.exit(128 + (os.constants.signals[sig] || 1))
  })
}

/** Lets a long-running caller (the demo) stop its clusters gracefully on SIGINT/SIGTERM/SIGHUP. */
function onSignal(fn) {
  signalHook = fn
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null
}

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(t)
      resolve(true)
    })
  })
}

async function killGroup(child) {
  if (!child || exited(child)) {
    live.delete(child)
    return
  }
  killGroupSync(child, 'SIGTERM')
  if (!(await waitExit(child, 5000))) {
    killGroupSync(child, 'SIGKILL')
    await waitExit(child, 5000)
  }
  live.delete(child)
}

/** Spawns `cmd args` under guard.js in a new process group, output appended to logFile. */
function spawnGuarded(cmd, args, { cwd, env, logFile, keepAlive = false }) {
  const fd = fs.openSync(logFile, 'a')
  const child = spawn(process.execPath, [GUARD, cmd, ...args], {
    cwd,
    env,
    detached: true,
    stdio: ['pipe', fd, fd],
  })
  fs.closeSync(fd)
  live.add(child)
  child.once('exit', () => live.delete(child))
  child.stdin.on('error', () => {})
  if (!keepAlive) {
    // Long-lived servers must not keep the test process alive; the exit hook kills them.
    child.stdin.unref?.()
    child.unref()
  }
  return child
}

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n')
    return text.slice(-lines).join('\n')
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`
  }
}

// ---------------------------------------------------------------- small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Plain HTTP request (no keep-alive, no cache): { status, headers, body }. */
function request(url, { method = 'GET', headers = {}, body, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    let data = null
    const h = { ...headers }
    if (body !== undefined) {
      data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json'
      h['content-length'] = String(data.length)
    }
    const req = http.request(
      { hostname: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.setTimeout(timeout, () => req.destroy(new Error(`timeout after ${timeout} ms: ${method} ${url}`)))
    req.on('error', reject)
    req.end(data)
  })
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', '#x27': "'", '#39': "'" }

/** { rev, instance, 'rendered-at', content, ... } from the data-testid elements of a page. */
function parseMarkers(html) {
  const out = {}
  const re = /data-testid="([\w-]+)"[^>]*>([^<]*)</g
  let m
  while ((m = re.exec(html))) {
    if (!(m[1] in out)) out[m[1]] = m[2].replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_, e) => ENTITIES[e])
  }
  return out
}

/** GET a page: { status, headers, body, markers, cache } (cache = x-nextjs-cache header). */
async function getPage(url, opts) {
  const res = await request(url, opts)
  return { ...res, markers: parseMarkers(res.body), cache: res.headers['x-nextjs-cache'] }
}

/** The CMS content an app ships with (data/cms.json); examples/blog's by default. */
function readBaseCms(app = 'blog') {
  return JSON.parse(fs.readFileSync(path.join(appSpec(app).dir, 'data', 'cms.json'), 'utf8'))
}

/** The example's CMS content with `rev` set and every title/name/headline tagged with it. */
function cmsWithRev(rev, base = readBaseCms()) {
  const cms = structuredClone(base)
  cms.rev = rev
  cms.posts = cms.posts.map((p) => ({ ...p, title: `${p.title} [${rev}]` }))
  cms.products = cms.products.map((p) => ({ ...p, name: `${p.name} [${rev}]` }))
  cms.news = cms.news.map((n) => ({ ...n, headline: `${n.headline} [${rev}]` }))
  cms.live = { ...cms.live, message: `${cms.live.message} [${rev}]` }
  return cms
}

function writeJsonAtomic(file, obj) {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(obj, null, 2))
  fs.renameSync(tmp, file)
}

/** A tiny HTTP "headless CMS" serving the CMS file at /cms.json (for the tagged fetch page). */
async function startCmsServer(cmsFile) {
  let hits = 0
  let delayMs = 0
  const server = http.createServer(async (req, res) => {
    if (req.method === 'GET' && req.url.split('?')[0] === '/cms.json') {
      hits++
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs))
      let body
      try {
        body = fs.readFileSync(cmsFile)
      } catch (e) {
        res.writeHead(500)
        res.end(e.message)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(body)
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found')
  })
  server.keepAliveTimeout = 1000
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  server.unref()
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get hits() {
      return hits
    },
    /** Every answer after this many ms: a slow backend (renders that take a while). */
    setDelay(ms) {
      delayMs = ms
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

// ---------------------------------------------------------------- build

// Top-level entries of an example app that make up the app (its package.json is replaced by
// the pinned one of the version dir; docs don't affect the build).
function isAppEntry(name) {
  return !['node_modules', 'package.json', 'package-lock.json', 'README.md'].includes(name) && !name.startsWith('.next')
}

function listSourceFiles(dir = BLOG_DIR, rel = '') {
  const out = []
  for (const ent of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, ent.name)
    if (!rel && !isAppEntry(ent.name)) continue
    if (ent.isDirectory()) out.push(...listSourceFiles(dir, r))
    else if (ent.isFile()) out.push(r)
  }
  return out.sort()
}

function buildKey(major, mode, handler, packageHash, app = appSpec(), useCacheHandler = DEFAULT_USE_CACHE_HANDLER) {
  const h = crypto.createHash('sha256')
  const what = {
    RECIPE,
    pins: VERSIONS[major],
    mode,
    handler: mode === 'shared' ? handler : null,
    packageHash: mode === 'standalone' ? packageHash : null,
    node: process.versions.node,
  }
  // (The blog's key is unchanged from before apps existed, so its cached builds stay valid.)
  if (app.name !== 'blog') Object.assign(what, { app: app.name, useCacheHandler: mode === 'shared' ? useCacheHandler : null })
  h.update(JSON.stringify(what))
  for (const f of listSourceFiles(app.dir)) {
    h.update(`\0${f}\0`)
    h.update(fs.readFileSync(path.join(app.dir, f)))
  }
  return h.digest('hex')
}

// The version dir is a Next project: the pinned package.json + node_modules from
// install-next.js, plus a copy of examples/blog's sources (its package.json is not copied).
// Another app is copied into its own work dir under the version dir (see APPS), with a copy
// of the pinned package.json; `next` resolves from the node_modules above it.
function syncSources(vdir, srcDir = BLOG_DIR) {
  const marker = path.join(vdir, '.e2e-synced.json')
  let previous = []
  try {
    previous = JSON.parse(fs.readFileSync(marker, 'utf8'))
  } catch {}
  for (const e of previous) fs.rmSync(path.join(vdir, e), { recursive: true, force: true })
  const entries = fs.readdirSync(srcDir).filter(isAppEntry)
  for (const e of entries) fs.cpSync(path.join(srcDir, e), path.join(vdir, e), { recursive: true })
  fs.writeFileSync(marker, JSON.stringify(entries))
}

function distDirName(mode) {
  return `.next-${mode}`
}

function baseEnv() {
  const env = { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' }
  // Inherited from `node --test`; means nothing to Next and must not leak into its workers.
  delete env.NODE_TEST_CONTEXT
  // Only what the harness sets may point the handler at a Redis (never a developer's 6379).
  delete env.SHARED_ISR_HANDLER
  delete env.SHARED_ISR_USE_CACHE_HANDLER
  delete env.SHARED_ISR_REDIS_URL
  delete env.REDIS_URL
  return env
}

/** The build's record (stamp) or null: { key, buildMs, builtAt, nextVersion, redisUrl, ... }. */
function readBuildRecord(vdir, distDir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(vdir, distDir, '.e2e-build.json'), 'utf8'))
  } catch {
    return null
  }
}

/**
 * Builds an example app (examples/blog unless `app` says otherwise) against one Next major
 * (installing it first if needed). The build is
 * cached per (sources, pins, mode): `mode` 'shared' builds with the handler configured, as users
 * do, but with no Redis reachable (as in a Docker build); 'default' builds without it;
 * 'standalone' builds `output: 'standalone'` with the packed package as the handler (see top).
 * Must run under the version dir's lock.
 * Returns { vdir (the project built), nodeModules, app, distDir, timings, built, record }.
 */
async function buildUnlocked({ version, mode, handler, app: appName = 'blog', useCacheHandler = DEFAULT_USE_CACHE_HANDLER }) {
  const major = normalizeMajor(version)
  const app = appSpec(appName)
  const timings = {}
  const inst = installUnlocked(major, log)
  timings.installMs = inst.ms
  const nodeModules = path.join(versionDir(major), 'node_modules')
  const vdir = app.workDir(major)
  const label = app.name === 'blog' ? `next${major} (${mode})` : `next${major} ${app.name} (${mode})`
  if (vdir !== versionDir(major)) {
    fs.mkdirSync(vdir, { recursive: true })
    fs.copyFileSync(path.join(versionDir(major), 'package.json'), path.join(vdir, 'package.json'))
  }
  const distDir = distDirName(mode)
  let pkg = null
  if (mode === 'standalone') {
    pkg = ensurePackageInstalled(versionDir(major), log)
    timings.packMs = pkg.ms
  }
  const key = buildKey(major, mode, handler, pkg?.hash, app, useCacheHandler)
  const previous = readBuildRecord(vdir, distDir)
  if (previous?.key === key && fs.existsSync(path.join(vdir, distDir, 'BUILD_ID'))) {
    timings.buildMs = 0
    log(`${label}: build is up to date (built in ${(previous.buildMs / 1000).toFixed(1)}s on ${previous.builtAt})`)
    return { vdir, nodeModules, app: app.name, distDir, timings, built: false, record: previous }
  }

  syncSources(vdir, app.dir)
  const buildTmp = fs.mkdtempSync(path.join(os.tmpdir(), `shared-isr-e2e-build-${major}-`))
  const cmsFile = path.join(buildTmp, 'cms.json')
  fs.copyFileSync(path.join(app.dir, 'data', 'cms.json'), cmsFile)
  const cms = await startCmsServer(cmsFile)
  const env = {
    ...baseEnv(),
    NEXT_DIST_DIR: distDir,
    CMS_FILE: cmsFile,
    CMS_URL: cms.url,
    INSTANCE_NAME: 'build',
    REVALIDATE_SECRET: 'build-time-secret',
  }
  let redisUrl = null
  if (mode === 'shared' || mode === 'standalone') {
    // What users write: `cacheHandler: require.resolve('shared-isr/handler')` (next.config.js
    // resolves a bare module name that way) for standalone; this checkout's module for shared.
    env.SHARED_ISR_HANDLER = mode === 'standalone' ? 'shared-isr/handler' : handler
    // Read by apps with 'use cache' (examples/use-cache) for `cacheHandlers`; the blog ignores it.
    env.SHARED_ISR_USE_CACHE_HANDLER = mode === 'standalone' ? 'shared-isr/use-cache' : useCacheHandler
    // Nothing listens there: the handler must cope without Redis at build time. Never let it
    // fall back to a default 127.0.0.1:6379, which may be someone else's Redis.
    redisUrl = `redis://127.0.0.1:${await freePort()}`
    env.SHARED_ISR_REDIS_URL = redisUrl
  }
  if (mode === 'standalone') env.NEXT_OUTPUT = 'standalone'
  const logFile = path.join(vdir, `build-${mode}.log`)
  fs.writeFileSync(logFile, '')
  log(`${label}: building (log: ${path.relative(ROOT, logFile)}) ...`)
  const t0 = Date.now()
  fs.rmSync(path.join(vdir, distDir, 'BUILD_ID'), { force: true })
  // A stale standalone tree from an earlier build must not survive into this one.
  fs.rmSync(path.join(vdir, distDir, 'standalone'), { recursive: true, force: true })
  const child = spawnGuarded(process.execPath, [path.join(nodeModules, 'next', 'dist', 'bin', 'next'), 'build'], {
    cwd: vdir,
    env,
    logFile,
    keepAlive: true,
  })
  const code = await new Promise((resolve) => child.once('exit', (c, s) => resolve(s || c)))
  await cms.close()
  fs.rmSync(buildTmp, { recursive: true, force: true })
  timings.buildMs = Date.now() - t0
  if (code !== 0 || !fs.existsSync(path.join(vdir, distDir, 'BUILD_ID'))) {
    throw new Error(`next build failed for ${label}, exit ${code}. Log ${logFile}:\n${tail(logFile, 60)}`)
  }
  if (mode === 'standalone' && !fs.existsSync(path.join(vdir, distDir, 'standalone'))) {
    throw new Error(`next${major}: output 'standalone' produced no ${distDir}/standalone. Log ${logFile}:\n${tail(logFile, 60)}`)
  }
  const record = {
    key,
    app: app.name,
    mode,
    nextVersion: VERSIONS[major].next,
    buildMs: timings.buildMs,
    builtAt: new Date().toISOString(),
    // The Redis the handler was configured with during the build (a closed port), or null.
    redisUrl,
    redisReachable: false,
    logFile,
  }
  fs.writeFileSync(path.join(vdir, distDir, '.e2e-build.json'), JSON.stringify(record, null, 2))
  log(`${label}: built in ${(timings.buildMs / 1000).toFixed(1)}s`)
  return { vdir, nodeModules, app: app.name, distDir, timings, built: true, record }
}

/** Builds (or reuses) one mode: 'default' | 'shared' | 'standalone', of `app` (default 'blog'). */
async function buildApp({
  version,
  mode,
  useSharedIsr = false,
  handler = DEFAULT_HANDLER,
  app = 'blog',
  useCacheHandler = DEFAULT_USE_CACHE_HANDLER,
} = {}) {
  const major = normalizeMajor(version)
  const m = mode ?? (useSharedIsr ? 'shared' : 'default')
  appSpec(app)
  return withLock(versionDir(major), () =>
    buildUnlocked({ version: major, mode: m, handler, app, useCacheHandler: path.resolve(useCacheHandler) }),
  )
}

// ---------------------------------------------------------------- redis

/** Whether a redis-server answers PING on `port` within a second. */
function redisPing(port) {
  return command(port, ['PING'], { timeoutMs: 1000 }).then(
    (reply) => reply === 'PONG',
    () => false,
  )
}

/** One command to a redis URL (scripts/lib/resp.js): string, number, null or array; bulk strings as UTF-8 strings. */
function redisCommand(url, ...args) {
  return command(url, args, { timeoutMs: 5000 })
}

/** Whether `redis-server` (or $REDIS_SERVER) can be run here. */
function redisServerAvailable() {
  const r = require('node:child_process').spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' })
  return r.status === 0 ? (r.stdout.match(/v=(\S+)/)?.[1] ?? 'unknown version') : null
}

async function startRedis(runDir, port) {
  port ??= await freePort()
  const logFile = path.join(runDir, 'redis.log')
  // DEBUG is on so outage tests can stall the server (DEBUG SLEEP).
  const child = spawnGuarded(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', runDir, '--enable-debug-command', 'yes'],
    { cwd: runDir, env: process.env, logFile },
  )
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`redis-server exited early:\n${tail(logFile)}`)
    if (await redisPing(port)) return { child, port, url: `redis://127.0.0.1:${port}`, logFile }
    await sleep(100)
  }
  await killGroup(child)
  throw new Error(`redis-server did not answer PING on ${port}:\n${tail(logFile)}`)
}

// ---------------------------------------------------------------- load balancer

/** Round-robin HTTP proxy over `instances` (read on every request, so it can grow). */
async function startBalancer(instances, logFile, port = 0) {
  let next = 0
  const routed = []
  const out = fs.createWriteStream(logFile, { flags: 'a' })
  const server = http.createServer((req, res) => {
    const pool = instances.filter((i) => !i.stopped)
    if (!pool.length) {
      res.writeHead(503)
      res.end('no upstream')
      return
    }
    const target = pool[next++ % pool.length]
    const entry = { t: Date.now(), method: req.method, url: req.url, upstream: target.name, status: 0 }
    routed.push(entry)
    const upstream = http.request(
      // Host and every other header go through unchanged, like nginx with `proxy_set_header Host $host`.
      { hostname: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (ures) => {
        entry.status = ures.statusCode
        out.write(`${new Date(entry.t).toISOString()} ${req.method} ${req.url} -> ${target.name} ${ures.statusCode}\n`)
        res.writeHead(ures.statusCode, ures.statusMessage, { ...ures.headers, 'x-e2e-upstream': target.name })
        ures.pipe(res)
      },
    )
    upstream.on('error', (err) => {
      out.write(`${new Date().toISOString()} ${req.method} ${req.url} -> ${target.name} ERROR ${err.message}\n`)
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', 'x-e2e-upstream': target.name })
      res.end(`bad gateway: ${err.message}`)
    })
    req.pipe(upstream)
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  server.unref()
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    routed,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => {
          out.end()
          resolve()
        })
      }),
  }
}

// ---------------------------------------------------------------- cluster

/**
 * startCluster({ version, instances = 3, useSharedIsr = false, standalone = false,
 *                redis = useSharedIsr, store, handler = <repo>/lib/handler-default.js, env = {},
 *                cms, cmsFile, secret, lbPort, instancePorts, removeOnExit,
 *                app = 'blog', useCacheHandler = <repo>/lib/use-cache-default.js })
 * → { version, app, lbUrl, instances: [{ name, url, port, logFile, dir, child }], redisUrl, runDir,
 *     logs, build, setCms(obj), getCms(), revalidate(body, { via }), revalidatePages(paths, { via }),
 *     addInstance(), stopInstance(inst), logTail(), timings, stop({ keepLogs }) }
 *
 * app: which example app (APPS): 'blog' (default) or 'use-cache'. The CMS starts as that app's
 *   data/cms.json. useCacheHandler: the 'use cache' module the app registers as
 *   `cacheHandlers.default`/`.remote` with useSharedIsr (env SHARED_ISR_USE_CACHE_HANDLER).
 *
 * standalone: true runs the 'standalone' build (implies useSharedIsr): each instance is a copy
 *   of `.next/standalone` (+ static, public) in the run dir, started with `node server.js`.
 * store: 'memory' runs the handler without any Redis URL (its in-process store: instances do
 *   not share); by default a shared-isr cluster without Redis gets a closed port instead.
 * cmsFile: use (and keep) this CMS file instead of a copy in the run dir; `cms` writes it.
 * lbPort / instancePorts: fixed ports (default: free ones). removeOnExit: delete the run dir
 *   even when the process exits without stop() (e.g. Ctrl-C in the demo).
 */
async function startCluster(opts = {}) {
  const major = normalizeMajor(opts.version ?? '16')
  const count = opts.instances ?? 3
  const standalone = !!opts.standalone
  const useSharedIsr = standalone || !!opts.useSharedIsr
  const memoryStore = opts.store === 'memory'
  const wantRedis = memoryStore ? false : (opts.redis ?? useSharedIsr)
  const handler = path.resolve(opts.handler ?? DEFAULT_HANDLER)
  if (useSharedIsr && !standalone && !fs.existsSync(handler)) throw new Error(`cache handler not found: ${handler}`)
  const app = appSpec(opts.app ?? 'blog').name
  const useCacheHandler = path.resolve(opts.useCacheHandler ?? DEFAULT_USE_CACHE_HANDLER)
  if (app !== 'blog' && useSharedIsr && !standalone && !fs.existsSync(useCacheHandler))
    throw new Error(`'use cache' handler not found: ${useCacheHandler}`)
  const mode = standalone ? 'standalone' : useSharedIsr ? 'shared' : 'default'
  const label = app === 'blog' ? `next${major} (${mode})` : `next${major} ${app} (${mode})`
  const t0 = Date.now()

  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `shared-isr-e2e-next${major}-${app === 'blog' ? '' : `${app}-`}${mode}-`))
  if (opts.removeOnExit) removeOnExit.add(runDir)
  const cmsFile = opts.cmsFile ? path.resolve(opts.cmsFile) : path.join(runDir, 'cms.json')
  if (!opts.cmsFile || opts.cms) writeJsonAtomic(cmsFile, opts.cms ?? readBaseCms(app))
  const secret = opts.secret ?? crypto.randomBytes(16).toString('hex')
  const instances = []
  const children = []
  const logs = {}
  let redis = null
  let cmsServer = null
  let lb = null
  let stopped = false

  async function stop({ keepLogs = process.env.E2E_KEEP_LOGS === '1' } = {}) {
    if (stopped) return
    stopped = true
    await lb?.close()
    await Promise.all(children.map(killGroup))
    await cmsServer?.close()
    removeOnExit.delete(runDir)
    if (keepLogs) log(`${label}: logs kept in ${runDir}`)
    else fs.rmSync(runDir, { recursive: true, force: true })
  }

  function logTail(lines = 40) {
    return Object.entries(logs)
      .map(([name, file]) => `----- ${name}: ${file}\n${tail(file, lines)}`)
      .join('\n')
  }

  try {
    // Build (or reuse) and copy the build output for each instance under the lock, so a
    // concurrent rebuild by another test process cannot change it half-way through a copy.
    let built
    const names = Array.from({ length: count }, (_, i) => `app-${i + 1}`)
    await withLock(versionDir(major), async () => {
      built = await buildUnlocked({ version: major, mode, handler, app, useCacheHandler })
      for (const name of names) prepareInstanceDir(built, path.join(runDir, name), { standalone })
    })
    const timings = { ...built.timings }

    cmsServer = await startCmsServer(cmsFile)
    if (wantRedis) {
      redis = await startRedis(runDir)
      children.push(redis.child)
      logs.redis = redis.logFile
    }

    const envFor = (name) => {
      const env = {
        ...baseEnv(),
        INSTANCE_NAME: name,
        CMS_FILE: cmsFile,
        CMS_URL: cmsServer.url,
        REVALIDATE_SECRET: secret,
        ...(opts.env || {}),
      }
      // `next start` loads next.config.js, which reads these; a standalone server.js carries
      // its build-time config and needs neither (a Docker image would not set them).
      if (!standalone) {
        env.NEXT_DIST_DIR = built.distDir
        if (useSharedIsr) {
          env.SHARED_ISR_HANDLER = handler
          env.SHARED_ISR_USE_CACHE_HANDLER = useCacheHandler
        }
      }
      if (useSharedIsr && !redis && !memoryStore && !env.SHARED_ISR_REDIS_URL) {
        // Without our redis, point the handler at a port where nothing listens rather than
        // let it default to 127.0.0.1:6379.
        env.SHARED_ISR_REDIS_URL = `redis://127.0.0.1:${deadPort}`
      }
      if (memoryStore) delete env.SHARED_ISR_REDIS_URL
      if (redis) env.SHARED_ISR_REDIS_URL = redis.url
      return env
    }
    const deadPort = await freePort()
    const fixedPorts = [...(opts.instancePorts || [])]

    async function launch(name, dir) {
      const port = fixedPorts.shift() ?? (await freePort())
      const logFile = path.join(runDir, `${name}.log`)
      logs[name] = logFile
      let child
      if (standalone) {
        // Exactly what the Dockerfile of Next's docs runs: `node server.js` with PORT/HOSTNAME.
        const appDir = path.join(dir, built.relativeAppDir || '')
        child = spawnGuarded(process.execPath, ['server.js'], {
          cwd: appDir,
          env: { ...envFor(name), PORT: String(port), HOSTNAME: '127.0.0.1' },
          logFile,
        })
      } else {
        const nextBin = path.join(built.nodeModules ?? path.join(built.vdir, 'node_modules'), 'next', 'dist', 'bin', 'next')
        child = spawnGuarded(process.execPath, [nextBin, 'start', dir, '-p', String(port), '-H', '127.0.0.1'], {
          cwd: dir,
          env: envFor(name),
          logFile,
        })
      }
      children.push(child)
      const inst = { name, port, url: `http://127.0.0.1:${port}`, logFile, dir, child, stopped: false }
      await waitReady(inst)
      return inst
    }

    const tStart = Date.now()
    const started = await Promise.all(names.map((name) => launch(name, path.join(runDir, name))))
    instances.push(...started)
    timings.startMs = Date.now() - tStart

    lb = await startBalancer(instances, path.join(runDir, 'lb.log'), opts.lbPort)
    logs.lb = path.join(runDir, 'lb.log')
    timings.totalMs = Date.now() - t0
    log(`${label}: ${count} instances up in ${(timings.startMs / 1000).toFixed(1)}s, lb ${lb.url}, run dir ${runDir}`)

    let extra = 0
    return {
      version: major,
      nextVersion: VERSIONS[major].next,
      app,
      mode,
      lbUrl: lb.url,
      routed: lb.routed,
      instances,
      redisUrl: redis ? redis.url : null,
      /** Outage control: kill the server (SIGKILL), and start an empty one on the same port. */
      killRedis: async () => {
        if (redis) await killGroup(redis.child)
      },
      restartRedis: async () => {
        if (!redis) throw new Error('this cluster has no redis')
        await killGroup(redis.child)
        redis = await startRedis(runDir, redis.port)
        children.push(redis.child)
        return redis.url
      },
      runDir,
      cmsFile,
      cmsUrl: cmsServer.url,
      /** GETs of /cms.json so far: what the backend behind the pages saw. */
      get cmsHits() {
        return cmsServer.hits
      },
      setCmsDelay: (ms) => cmsServer.setDelay(ms),
      secret,
      logs,
      timings,
      build: built,
      setCms: (obj) => writeJsonAtomic(cmsFile, obj),
      getCms: () => JSON.parse(fs.readFileSync(cmsFile, 'utf8')),
      /** POST the CMS webhook (App Router revalidateTag/revalidatePath); default via the balancer. */
      revalidate: (body, { via = lb.url } = {}) =>
        request(`${via}/api/revalidate`, { method: 'POST', headers: { 'x-revalidate-secret': secret }, body }),
      /** POST the Pages Router on-demand ISR endpoint (res.revalidate). */
      revalidatePages: (paths, { via = lb.url } = {}) =>
        request(`${via}/api/revalidate-page`, { method: 'POST', headers: { 'x-revalidate-secret': secret }, body: { paths } }),
      /** Starts one more instance (own copy of the same build), joins the balancer. */
      addInstance: async () => {
        const name = `app-${count + ++extra}`
        const dir = path.join(runDir, name)
        await withLock(versionDir(major), async () => prepareInstanceDir(built, dir, { standalone }))
        const inst = await launch(name, dir)
        instances.push(inst)
        return inst
      },
      /** Stops one instance (its process group); the balancer skips it from then on. */
      stopInstance: async (inst) => {
        inst.stopped = true
        await killGroup(inst.child)
      },
      logTail,
      stop,
    }
  } catch (err) {
    const diag = logTail(60)
    await stop({ keepLogs: true })
    err.message += `\n${diag}`
    throw err
  }
}

// What a container image holds: the build output, config, package.json and node_modules.
// The sources are not needed by `next start`. `cache/` (webpack/turbopack caches, build-time
// fetch cache) is left out: it is large, and no instance should start with another's cache.
//
// Standalone: what the Dockerfile of Next's docs copies: `.next/standalone` as the app root,
// `.next/static` into its dist dir and `public/`. Nothing links back to the repository: a
// symlink in the traced tree that points outside it is an error.
function prepareInstanceDir(built, dir, { standalone = false } = {}) {
  fs.mkdirSync(dir, { recursive: true })
  const src = path.join(built.vdir, built.distDir)
  if (standalone) {
    const tree = path.join(src, 'standalone')
    fs.cpSync(tree, dir, { recursive: true, verbatimSymlinks: true })
    const rsf = JSON.parse(fs.readFileSync(path.join(src, 'required-server-files.json'), 'utf8'))
    built.relativeAppDir = rsf.relativeAppDir || ''
    const appDir = path.join(dir, built.relativeAppDir)
    fs.cpSync(path.join(src, 'static'), path.join(appDir, built.distDir, 'static'), { recursive: true })
    if (fs.existsSync(path.join(built.vdir, 'public'))) {
      fs.cpSync(path.join(built.vdir, 'public'), path.join(appDir, 'public'), { recursive: true })
    }
    const outside = symlinksLeaving(dir)
    if (outside.length) throw new Error(`the standalone output links outside itself:\n${outside.join('\n')}`)
    return
  }
  fs.cpSync(src, path.join(dir, built.distDir), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (p) => p !== path.join(src, 'cache') && p !== path.join(src, 'standalone'),
  })
  fs.copyFileSync(path.join(built.vdir, 'next.config.js'), path.join(dir, 'next.config.js'))
  fs.copyFileSync(path.join(built.vdir, 'package.json'), path.join(dir, 'package.json'))
  if (fs.existsSync(path.join(built.vdir, 'public'))) {
    fs.cpSync(path.join(built.vdir, 'public'), path.join(dir, 'public'), { recursive: true })
  }
  fs.symlinkSync(built.nodeModules ?? path.join(built.vdir, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
}

/** Symlinks under `root` whose target lies outside it, as "link -> target". */
function symlinksLeaving(root) {
  const out = []
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name)
      if (ent.isSymbolicLink()) {
        const target = path.resolve(d, fs.readlinkSync(p))
        if (target !== root && !target.startsWith(root + path.sep)) out.push(`${p} -> ${target}`)
      } else if (ent.isDirectory()) walk(p)
    }
  }
  walk(root)
  return out
}

async function waitReady(inst, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs
  let lastErr = null
  while (Date.now() < deadline) {
    if (exited(inst.child)) throw new Error(`${inst.name} exited before it was ready:\n${tail(inst.logFile)}`)
    try {
      const res = await request(`${inst.url}/api/health`, { timeout: 5000 })
      if (res.status === 200 && JSON.parse(res.body).instance === inst.name) return
      lastErr = new Error(`health answered ${res.status}: ${res.body.slice(0, 200)}`)
    } catch (e) {
      lastErr = e
    }
    await sleep(200)
  }
  throw new Error(`${inst.name} not ready after ${timeoutMs} ms (${lastErr?.message}):\n${tail(inst.logFile)}`)
}

module.exports = {
  startCluster,
  onSignal,
  redisServerAvailable,
  buildApp,
  e2eVersions,
  request,
  getPage,
  parseMarkers,
  cmsWithRev,
  readBaseCms,
  freePort,
  sleep,
  redisCommand,
  BLOG_DIR,
  USE_CACHE_DIR,
  APPS,
  DEFAULT_HANDLER,
  DEFAULT_USE_CACHE_HANDLER,
  spawnGuarded,
  killGroup,
  startRedis,
  baseEnv,
  tail,
}
