'use strict'
// Shared test utilities: a clean environment, unique prefixes, console capture, polling,
// temporary build dirs and a value comparator that knows what "lossless" means for Next.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ENV_NAMES = [
  'SHARED_ISR_REDIS_URL',
  'REDIS_URL',
  'SHARED_ISR_PREFIX',
  'SHARED_ISR_TIMEOUT_MS',
  'SHARED_ISR_CONNECT_TIMEOUT_MS',
  'SHARED_ISR_MEMORY_MAX_MB',
  'SHARED_ISR_MAX_VALUE_MB',
  'SHARED_ISR_DEFAULT_TTL_SECONDS',
  'SHARED_ISR_BUILD_ID',
  'SHARED_ISR_L1_MAX_MB',
  'SHARED_ISR_MAX_STALENESS_MS',
  'SHARED_ISR_STRICT',
  'SHARED_ISR_TLS_CA_FILE',
  'SHARED_ISR_TLS_CERT_FILE',
  'SHARED_ISR_TLS_KEY_FILE',
  'SHARED_ISR_HEARTBEAT_SECONDS',
]

/** Tests configure everything explicitly; nothing may leak in from the shell. */
function clearEnv(env = process.env) {
  for (const n of ENV_NAMES) delete env[n]
  return env
}

let seq = 0
/** A prefix no other test (or earlier run) uses. */
function uniquePrefix(name = 't') {
  seq++
  return `sit-${name}-${process.pid}-${Date.now().toString(36)}-${seq}:`
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Polls `fn` until it returns a truthy value; returns it, or throws after `timeoutMs`. */
async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      last = await fn()
      if (last) return last
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`)
    await sleep(intervalMs)
  }
}

/** Captures console.warn / console.info / console.error lines until `restore()`. */
function captureConsole() {
  const saved = { warn: console.warn, info: console.info, error: console.error, log: console.log }
  const lines = { warn: [], info: [], error: [], log: [] }
  for (const k of Object.keys(saved)) {
    console[k] = (...args) => lines[k].push(args.map(String).join(' '))
  }
  return {
    lines,
    all: () => [...lines.warn, ...lines.info, ...lines.error, ...lines.log],
    restore() {
      Object.assign(console, saved)
    },
  }
}

const buildDirs = []
process.on('exit', () => {
  for (const d of buildDirs) fs.rmSync(d, { recursive: true, force: true })
})

/**
 * A fake `.next` dir: `<root>/BUILD_ID`, `<root>/server` and, when `routes` is given, a
 * `<root>/prerender-manifest.json` listing prerendered paths: `{ '/closed/a': '/closed/[slug]' }`
 * maps a path to its dynamic route; `closedRoutes` lists the routes with `fallback: false`
 * (dynamicParams = false / Pages fallback: false). Returns the serverDistDir.
 */
function makeBuildDir(buildId, { routes, closedRoutes = [] } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-build-'))
  buildDirs.push(root)
  fs.mkdirSync(path.join(root, 'server'))
  if (buildId !== undefined) fs.writeFileSync(path.join(root, 'BUILD_ID'), `${buildId}\n`)
  if (routes) {
    const manifest = { version: 4, routes: {}, dynamicRoutes: {}, notFoundRoutes: [], preview: {} }
    for (const [p, src] of Object.entries(routes)) {
      manifest.routes[p] = { initialRevalidateSeconds: 60, srcRoute: src, dataRoute: `${p}.rsc` }
      if (src)
        manifest.dynamicRoutes[src] ??= { routeRegex: '^x$', dataRoute: `${src}.rsc`, fallback: closedRoutes.includes(src) ? false : null }
    }
    fs.writeFileSync(path.join(root, 'prerender-manifest.json'), JSON.stringify(manifest))
  }
  return path.join(root, 'server')
}

/**
 * An invalidated page or route entry of an open route: a plain miss, so Next renders fresh
 * content in the foreground (closed routes get `lastModified: -1` instead, tested separately).
 */
function assertMiss(hit, message = 'invalidated: a miss') {
  assert.equal(hit, null, message)
}

/** A page or route entry served as valid (not invalidated). */
function assertServed(hit, message = 'served') {
  assert.ok(hit, `${message}: got a miss`)
  assert.notEqual(hit.lastModified, -1, `${message}: got lastModified -1`)
}

/** Measures how long `fn` takes; returns [result, ms]. */
async function timed(fn) {
  const t0 = performance.now()
  const r = await fn()
  return [r, performance.now() - t0]
}

// ---------------------------------------------------------------------------------------
// Lossless comparison

const isPlainObject = (v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype

/**
 * Asserts `actual` is what Next must get back for `expected`: Buffers as Buffers with the same
 * bytes, Maps as Maps, `undefined` fields undefined (absent is fine, `null` is not), the rest equal.
 */
function assertLossless(actual, expected, at = 'value') {
  if (expected instanceof Uint8Array) {
    assert.ok(Buffer.isBuffer(actual), `${at}: expected a Buffer, got ${describeType(actual)}`)
    assert.equal(actual.length, expected.byteLength, `${at}: byte length`)
    assert.ok(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength).equals(actual), `${at}: bytes differ`)
    return
  }
  if (expected instanceof Map) {
    assert.ok(actual instanceof Map, `${at}: expected a Map, got ${describeType(actual)}`)
    assert.deepEqual([...actual.keys()], [...expected.keys()], `${at}: Map keys`)
    for (const [k, v] of expected) assertLossless(actual.get(k), v, `${at}.get(${JSON.stringify(k)})`)
    return
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${at}: expected an array, got ${describeType(actual)}`)
    assert.equal(actual.length, expected.length, `${at}: array length`)
    for (const [i, v] of expected.entries()) assertLossless(actual[i], v, `${at}[${i}]`)
    return
  }
  if (isPlainObject(expected)) {
    assert.ok(isPlainObject(actual), `${at}: expected a plain object, got ${describeType(actual)}`)
    for (const k of Object.keys(expected)) {
      if (expected[k] === undefined) {
        assert.equal(actual[k], undefined, `${at}.${k}: expected undefined, got ${describeType(actual[k])}`)
      } else {
        assert.ok(Object.hasOwn(actual, k), `${at}.${k}: missing`)
        assertLossless(actual[k], expected[k], `${at}.${k}`)
      }
    }
    for (const k of Object.keys(actual)) {
      if (!Object.hasOwn(expected, k)) assert.equal(actual[k], undefined, `${at}.${k}: unexpected field`)
    }
    return
  }
  assert.equal(actual, expected, `${at}: ${describeType(actual)} !== ${describeType(expected)}`)
}

function describeType(v) {
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`
  if (v instanceof Map) return `Map(${v.size})`
  if (Array.isArray(v)) return `Array(${v.length})`
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)
  return typeof v === 'object' ? 'object' : `${typeof v} ${String(v)}`
}

/** JSON-safe description keeping Buffer/Map/undefined distinctions (for IPC between processes). */
function describeValue(v) {
  if (v === undefined) return { $undef: true }
  if (v === null || typeof v !== 'object') return v
  if (Buffer.isBuffer(v)) return { $buf: v.toString('base64') }
  if (v instanceof Uint8Array) return { $u8: Buffer.from(v).toString('base64') }
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [k, describeValue(x)]) }
  if (Array.isArray(v)) return v.map(describeValue)
  const out = {}
  for (const k of Object.keys(v)) out[k] = describeValue(v[k])
  return isPlainObject(v) ? out : { $class: v.constructor?.name, ...out }
}

/** Inverse of describeValue. */
function reviveValue(d) {
  if (d === null || typeof d !== 'object') return d
  if (Array.isArray(d)) return d.map(reviveValue)
  if (d.$undef) return undefined
  if (typeof d.$buf === 'string') return Buffer.from(d.$buf, 'base64')
  if (typeof d.$u8 === 'string') return new Uint8Array(Buffer.from(d.$u8, 'base64'))
  if (Array.isArray(d.$map)) return new Map(d.$map.map(([k, x]) => [k, reviveValue(x)]))
  const out = {}
  for (const k of Object.keys(d)) out[k] = reviveValue(d[k])
  return out
}

// ---------------------------------------------------------------------------------------
// CRC-32 (IEEE), to forge envelopes that pass the checksum

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** Recomputes the trailing CRC of an envelope after the test edited it. */
function fixCrc(envelope) {
  const out = Buffer.from(envelope)
  out.writeUInt32LE(crc32(out.subarray(0, out.length - 4)), out.length - 4)
  return out
}

// The documented ACL line (docs/operations.md): keys under the prefix, no channels, and only
// the commands shared-isr sends (scripts' inner commands included); `extra` per topology.
const aclLine = (user, password, prefix, extra = []) => [
  'ACL',
  'SETUSER',
  user,
  'reset',
  'on',
  `>${password}`,
  `~${prefix}*`,
  'resetchannels',
  '-@all',
  '+hello',
  '+auth',
  '+ping',
  '+client|tracking', // Redis >= 7.2 also: '+client|setinfo'
  '+get',
  '+set',
  '+strlen',
  '+getrange',
  '+multi',
  '+exec',
  '+evalsha',
  '+eval',
  '+script|load',
  '+incr',
  '+exists',
  '+hset',
  '+hget',
  '+hdel',
  '+zadd',
  '+zrem',
  '+zscore',
  '+zrangebyscore',
  // The fleet's heartbeat and listing.
  '+del',
  '+time',
  '+zremrangebyscore',
  '+zrevrangebyscore',
  '+mget', // the fleet listing reads the instances' summaries
  '+zrange', // a heartbeat reads the index entries it examines for pruning
  // The CDN purge feed (with a CDN set).
  '+zcount',
  '+zcard',
  ...extra,
]

/** Runs `code` in a fresh Node process (no Redis URL from our environment); killed after `timeoutMs`. */
function runNode(code, timeoutMs = 15_000) {
  const { spawn } = require('node:child_process')
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SHARED_ISR_REDIS_URL: '' },
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const started = Date.now()
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, ms: Date.now() - started })
    })
  })
}

module.exports = {
  aclLine,
  runNode,
  clearEnv,
  uniquePrefix,
  sleep,
  waitFor,
  captureConsole,
  makeBuildDir,
  timed,
  assertMiss,
  assertServed,
  assertLossless,
  describeValue,
  reviveValue,
  crc32,
  fixCrc,
  ENV_NAMES,
}
