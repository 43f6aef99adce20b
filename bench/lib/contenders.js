'use strict'
// Every contender behind one small interface, driven through its own handler API exactly as
// Next drives it (same keys, values and ctx objects as Next 15.5, or Next 14.2 for @neshca).
//   init()            connect, configure
//   get(entry)        what Next's IncrementalCache would call: handler.get(key, ctx)
//   set(entry)        handler.set(key, value, ctx)
//   revalidate(tags)  handler.revalidateTag(tags)
//   info()            anything worth reporting (versions, L1 detection)
//   close()

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..', '..')
const BENCH = path.resolve(__dirname, '..')
const MB = 1024 * 1024

/** What each contender is, for the orchestrator and the report. */
const CONTENDERS = {
  'shared-isr:l1': { product: 'shared-isr', label: 'shared-isr, L1 on', shape: 15, l1: true },
  // `--baseline=<rev>`: the same two configurations, loaded from a checkout of another revision
  // (bench/.work/baseline-<sha>; the root comes with `init` or BENCH_BASELINE_ROOT).
  'shared-isr@base:l1': { product: 'shared-isr', label: 'shared-isr baseline, L1 on', shape: 15, l1: true, baseline: 'shared-isr:l1' },
  'shared-isr:redis': { product: 'shared-isr', label: 'shared-isr, L1 off', shape: 15, l1: false },
  'shared-isr@base:redis': {
    product: 'shared-isr',
    label: 'shared-isr baseline, L1 off',
    shape: 15,
    l1: false,
    baseline: 'shared-isr:redis',
  },
  'shared-isr:strict': { product: 'shared-isr', label: 'shared-isr, strict', shape: 15, l1: true, strict: true },
  forte: { product: '@fortedigital/nextjs-cache-handler', label: '@fortedigital', shape: 15, l1: false },
  forte3: { product: '@fortedigital/nextjs-cache-handler@3', label: '@fortedigital 3.x', shape: 15, l1: false },
  trieb: { product: '@trieb.work/nextjs-turbo-redis-cache', label: '@trieb.work (default, 10 s in-memory)', shape: 15, l1: true },
  'trieb:nomem': { product: '@trieb.work/nextjs-turbo-redis-cache', label: '@trieb.work (in-memory off)', shape: 15, l1: false },
  neshca: { product: '@neshca/cache-handler', label: '@neshca (Next 14 shapes)', shape: 14, l1: false },
  'next-default': { product: 'next', label: "Next's default (FileSystemCache)", shape: 15, l1: true, local: true },
  raw: { product: '@redis/client', label: 'raw Redis GET/SET (floor)', shape: 15, l1: false, raw: true },
}

function pkgVersion(name, from = BENCH) {
  try {
    const p = require.resolve(`${name}/package.json`, { paths: [from] })
    return JSON.parse(fs.readFileSync(p, 'utf8')).version
  } catch {
    // packages whose exports hide package.json
    const dir = path.join(from, 'node_modules', name)
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version
    } catch {
      return null
    }
  }
}

const benchRequire = (id) => require(require.resolve(id, { paths: [BENCH] }))

/** Base URL + db index -> the URL form each client takes. */
function dbUrl(base, db) {
  return `${base}/${db}`
}

// ------------------------------------------------------------------ shared-isr

/** The checkout a shared-isr contender loads: this one, or the baseline's for `@base` names. */
function sharedIsrRoot(name, root) {
  if (!CONTENDERS[name]?.baseline) return root || ROOT
  const r = root || process.env.BENCH_BASELINE_ROOT
  if (!r) throw new Error(`${name} needs the baseline's checkout (run.js --baseline=<rev>, or BENCH_BASELINE_ROOT)`)
  return r
}

/** require() of one of the library's files, or null when this revision does not have it. */
function tryRequire(file) {
  try {
    return require(file)
  } catch (err) {
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes(file)) return null
    throw err
  }
}

// What the bench calls on the library, so an older (or newer) revision that lacks one is
// detected and its rows marked instead of failing somewhere in the middle of a run.
const NEEDED = ['createHandler', 'stats', 'close']

function sharedIsr(name, { redisUrl, db, dir, root }) {
  const spec = CONTENDERS[name]
  const base = sharedIsrRoot(name, root)
  const lib = require(path.join(base, 'lib', 'index.js'))
  const missing = NEEDED.filter((f) => typeof lib[f] !== 'function')
  // lib/index.js stopped exporting resolveConfig at 4bafef4; lib/config.js still has it.
  const resolveConfig = lib.resolveConfig || tryRequire(path.join(base, 'lib', 'config.js'))?.resolveConfig
  const options = {
    redisUrl: dbUrl(redisUrl, db),
    prefix: 'bench:',
    buildId: 'bench',
    // The L1 and strict options (issue 5): ignored by versions that do not have them yet,
    // which the bench detects (see info()) instead of reporting the Redis path twice.
    l1MaxBytes: spec.l1 ? 64 * MB : 0,
    ...(spec.strict ? { strict: true } : {}),
  }
  let h
  return {
    options,
    async init() {
      if (missing.includes('createHandler')) throw new Error(`not implemented in this revision: ${missing.join('(), ')}()`)
      const Handler = lib.createHandler(options)
      h = new Handler({ serverDistDir: path.join(dir, 'server'), dev: false, flushToDisk: false, revalidatedTags: [], _requestHeaders: {} })
    },
    get: (e) => h.get(e.key, e.getCtx),
    set: (e) => h.set(e.key, e.value, e.setCtx()),
    revalidate: (tags) => h.revalidateTag(tags),
    info() {
      const stats = typeof lib.stats === 'function' ? lib.stats(options) : null
      let resolved = {}
      try {
        resolved = resolveConfig(options)
      } catch {}
      return {
        version: JSON.parse(fs.readFileSync(path.join(base, 'package.json'), 'utf8')).version,
        root: base,
        // The addon this process loaded: a check that a baseline row is not the current build.
        addon: Object.keys(require.cache).find((k) => k.endsWith('.node') && k.startsWith(fs.realpathSync(base))) || null,
        missing,
        stats,
        l1Implemented: stats && Object.hasOwn(stats, 'l1Entries'),
        strictImplemented: resolved.strict === true || Object.keys(stats || {}).some((k) => /strict/i.test(k)),
      }
    },
    // The store (for the anatomy rows: encode, decode, native get without the handler).
    internals: () => ({
      lib: require(path.join(base, 'lib', 'codec.js')),
      store: require(path.join(base, 'lib', 'store.js')).getStore(options),
    }),
    async close() {
      if (typeof lib.close === 'function') await lib.close()
    },
  }
}

// ------------------------------------------------------------------ @fortedigital 2.x

function forte(name, { redisUrl, db, dir }) {
  // 3.x is installed under the alias `forte3` (it declares Node >= 22 and Next >= 16.1.5; its
  // handler API runs on Node 20, and the values it gets here are the same in Next 16).
  const pkg = name === 'forte3' ? 'forte3' : '@fortedigital/nextjs-cache-handler'
  const { CacheHandler } = benchRequire(pkg)
  const createRedisHandler = benchRequire(`${pkg}/redis-strings`).default
  const { createClient } = benchRequire('@redis/client')
  let client
  let h
  return {
    async init() {
      // As in its README / examples/redis-minimal: a node-redis 5 client, the redis-strings handler.
      client = createClient({ url: dbUrl(redisUrl, db) })
      client.on('error', () => {})
      await client.connect()
      CacheHandler.onCreation(async () => ({ handlers: [createRedisHandler({ client, keyPrefix: 'bench:' })] }))
      h = new CacheHandler({ serverDistDir: path.join(dir, 'server'), dev: false })
    },
    get: (e) => h.get(e.key, e.getCtx),
    set: (e) => h.set(e.key, e.value, e.setCtx()),
    revalidate: (tags) => h.revalidateTag(tags),
    info: () => ({ version: pkgVersion(pkg), client: `@redis/client ${pkgVersion('@redis/client')}` }),
    async close() {
      await client?.quit().catch(() => {})
    },
  }
}

// ------------------------------------------------------------------ @neshca 1.9 (Next 14)

function neshca(name, { redisUrl, db, dir }) {
  const { CacheHandler } = benchRequire('@neshca/cache-handler')
  const createRedisHandler = benchRequire('@neshca/cache-handler/redis-strings').default
  const { createClient } = benchRequire('redis') // 4.x: what neshca's commandOptions need
  let client
  let h
  return {
    async init() {
      client = createClient({ url: dbUrl(redisUrl, db) })
      client.on('error', () => {})
      await client.connect()
      CacheHandler.onCreation(async () => ({ handlers: [createRedisHandler({ client, keyPrefix: 'bench:' })] }))
      h = new CacheHandler({ serverDistDir: path.join(dir, 'server'), dev: false })
    },
    get: (e) => h.get(e.key, e.getCtx),
    set: (e) => h.set(e.key, e.value, e.setCtx()),
    revalidate: (tags) => h.revalidateTag(tags),
    info: () => ({ version: pkgVersion('@neshca/cache-handler'), client: `redis ${pkgVersion('redis')}` }),
    async close() {
      await client?.quit().catch(() => {})
    },
  }
}

// ------------------------------------------------------------------ @trieb.work

function trieb(name, { redisUrl, db }) {
  const { RedisStringsHandler } = benchRequire('@trieb.work/nextjs-turbo-redis-cache')
  const variant = name === 'trieb:nomem' ? { inMemoryCachingTime: 0, redisGetDeduplication: false } : {}
  let h
  return {
    async init() {
      // Its documented wrapper: one RedisStringsHandler per process. keyspace events are
      // configured on the server by the orchestrator (its README requires `Exe`).
      h = new RedisStringsHandler({ redisUrl, database: db, keyPrefix: 'bench:', ...variant })
      // Wait for its maps (initial HSCAN sync, pub/sub) like its own get() does.
      await h.get('__bench_warmup__', { kind: 'APP_PAGE', isRoutePPREnabled: false, isFallback: false })
    },
    get: (e) => h.get(e.key, e.getCtx),
    set: (e) => h.set(e.key, e.value, e.setCtx()),
    revalidate: (tags) => h.revalidateTag(tags),
    info: () => ({
      version: pkgVersion('@trieb.work/nextjs-turbo-redis-cache'),
      client: `redis ${pkgVersion('redis', path.dirname(require.resolve('@trieb.work/nextjs-turbo-redis-cache', { paths: [BENCH] })))}`,
      variant,
    }),
    async close() {
      try {
        await h?.client?.quit()
      } catch {}
    },
  }
}

// ------------------------------------------------------------------ Next's FileSystemCache

function nextDefault(name, { dir }) {
  const FileSystemCache = benchRequire('next/dist/server/lib/incremental-cache/file-system-cache').default
  const { nodeFs } = benchRequire('next/dist/server/lib/node-fs-methods')
  let h
  return {
    async init() {
      const serverDistDir = path.join(dir, 'server')
      fs.mkdirSync(serverDistDir, { recursive: true })
      // What `next start` passes by default: memory LRU of cacheMaxMemorySize (50 MB) and
      // isrFlushToDisk (true): every set is also written to disk.
      h = new FileSystemCache({
        fs: nodeFs,
        dev: false,
        flushToDisk: true,
        serverDistDir,
        revalidatedTags: [],
        maxMemoryCacheSize: 50 * MB,
        _requestHeaders: {},
      })
    },
    get: (e) => h.get(e.key, e.getCtx),
    set: (e) => h.set(e.key, e.value, e.setCtx()),
    revalidate: (tags) => h.revalidateTag(tags),
    info: () => ({ version: pkgVersion('next') }),
    async close() {},
  }
}

// ------------------------------------------------------------------ the floor

function raw(name, { redisUrl, db }) {
  const { createClient, RESP_TYPES } = benchRequire('@redis/client')
  let client
  const bytes = new Map() // payload -> Buffer (built once)
  const bytesOf = (e) => {
    let b = bytes.get(e.value)
    if (!b) bytes.set(e.value, (b = e.raw()))
    return b
  }
  return {
    async init() {
      client = createClient({ url: dbUrl(redisUrl, db) }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
      client.on('error', () => {})
      await client.connect()
    },
    get: (e) => client.get(`bench:${e.key}`),
    set: (e) => client.set(`bench:${e.key}`, bytesOf(e)),
    revalidate: async () => {},
    info: () => ({ version: pkgVersion('@redis/client') }),
    async close() {
      await client?.quit().catch(() => {})
    },
  }
}

function createContender(name, opts) {
  const dir = opts.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-bench-'))
  const o = { ...opts, dir }
  if (name.startsWith('shared-isr')) return sharedIsr(name, o)
  if (name === 'forte' || name === 'forte3') return forte(name, o)
  if (name === 'neshca') return neshca(name, o)
  if (name.startsWith('trieb')) return trieb(name, o)
  if (name === 'next-default') return nextDefault(name, o)
  if (name === 'raw') return raw(name, o)
  throw new Error(`unknown contender ${name}`)
}

module.exports = { CONTENDERS, createContender, pkgVersion, ROOT, BENCH }
