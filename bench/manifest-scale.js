#!/usr/bin/env node
'use strict'
// Does the tag manifest scale to millions of tags?
//
//   node bench/manifest-scale.js [--sizes 10000,100000,1000000] [--quick]
//
// For each size N (default 10000,100000,1000000; --quick = 10000,100000) against the bench's
// own redis-server (free port, never 6379, --save '' --appendonly no):
//   1. record  this process writes two fetch entries (one tagged product-7, one with an
//              untouched tag), then records N distinct tag revalidations, 1,000 tags per
//              revalidateTags() call (a CMS bulk webhook), 4 calls in flight.
//   2. join    a fresh `node` process (a pod joining the fleet) reads both entries: the
//              tagged one must be a miss (revalidated after it was written), the untouched one
//              a hit. Its first-read latency, RSS (minus a baseline joiner reading an empty
//              prefix) and stats() are reported. Wrong outcomes fail the run (exit 1).
//   3. traffic ~3 s of this process revalidating 1,000 random existing tags per call while a
//              reader process reads in a loop (L1 off, so every read reaches Redis).
// During join and traffic a separate process PINGs Redis on its own connection, one PING
// outstanding at a time: its longest round trip is how long Redis was blocked for everybody.
// SLOWLOG (threshold 1 ms, reset before each phase) names the slowest server-side command.
// Redis memory: used_memory growth over the recording, and DBSIZE.
//
// Output: a Markdown table on stdout (progress on stderr), raw numbers in
// bench/results/manifest-scale.json. Every phase is capped; a cap hit, a failed child or a
// wrong read is a FAIL and the exit code is 1.

const T0 = process.hrtime.bigint() // a joiner's "process start", before anything is loaded

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, fork } = require('node:child_process')
const { connect } = require('../scripts/lib/resp')

const ROOT = path.resolve(__dirname, '..')
const LIB = path.join(ROOT, 'lib', 'index.js')
const OUT = path.join(__dirname, 'results', 'manifest-scale.json')
const BATCH = 1000 // tags per revalidateTags() call, like a CMS bulk webhook
const IN_FLIGHT = 4
const TRAFFIC_MS = 3000
const CHILD_TIMEOUT_MS = 60_000
const RECORD_TIMEOUT_MS = 10 * 60_000 // the old design is slow at 1M; a cap, not a target
const SLOWLOG_LEN = 10_000 // SLOWLOG GET 128 could miss the slowest once > 128 calls pass 1 ms
const MB = 1024 * 1024
const TAGGED_KEY = 'manifest-scale-tagged'
const UNTOUCHED_KEY = 'manifest-scale-untouched'
const TAGGED_TAG = 'product-7'
const UNTOUCHED_TAG = 'untouched-tag'
const log = (...a) => console.error('[manifest-scale]', ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const msSince = (t) => Number(process.hrtime.bigint() - t) / 1e6

// ------------------------------------------------------------------ Redis admin
// bench/lib/redis.js's admin client needs bench/'s npm dependencies; the PING probe needs a
// bare socket anyway, so the repository's small RESP2 client (scripts/lib/resp.js) serves both.

/** INFO <section> as an object of strings. */
async function info(conn, section) {
  const out = {}
  for (const line of (await conn.cmd('INFO', section)).split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

// ------------------------------------------------------------------ redis-server

async function startRedis() {
  const { benchPort } = require('./lib/redis')
  const port = await benchPort()
  const bin = process.env.REDIS_SERVER || (fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-manifest-scale-'))
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const kill = () => child.exitCode === null && child.kill('SIGKILL')
  process.on('exit', kill)
  const deadline = Date.now() + 10_000
  let admin = null
  while (!admin && Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${stderr}`)
    admin = await connect(port, '127.0.0.1', { connectTimeoutMs: 1000 }).catch(() => sleep(100).then(() => null))
  }
  if (!admin) throw new Error(`redis-server did not come up on ${port}`)
  await admin.cmd('PING')
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    admin,
    async stop() {
      admin.close()
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)])
      }
      kill()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Starts a fresh SLOWLOG window: everything over 1 ms from now on is kept. */
async function slowlogReset(admin) {
  await admin.cmd('CONFIG', 'SET', 'slowlog-log-slower-than', '1000')
  await admin.cmd('CONFIG', 'SET', 'slowlog-max-len', String(SLOWLOG_LEN))
  await admin.cmd('SLOWLOG', 'RESET')
}

/** The slowest command since slowlogReset: { us, name, entries } (us 0 when none took > 1 ms). */
async function slowest(admin) {
  const entries = await admin.cmd('SLOWLOG', 'GET', String(SLOWLOG_LEN))
  let top = null
  for (const [, , us, argv] of entries) if (!top || us > top.us) top = { us, argv }
  if (!top) return { us: 0, name: null, entries: 0 }
  // For scripts and functions the name that matters is the script's (EVALSHA <sha>, FCALL <fn>).
  const [cmd, first] = top.argv
  const name = /^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro)$/i.test(cmd) ? `${cmd} ${String(first).slice(0, 40)}` : cmd
  return { us: top.us, name, args: top.argv.length, entries: entries.length }
}

// ------------------------------------------------------------------ children
// One file, four roles: the parent, and children selected by --child=<role> that get their
// settings in MANIFEST_SCALE and answer over IPC ({ type: 'ready' | 'result' | 'error' }).

function spawnChild(role, settings) {
  const child = fork(__filename, [`--child=${role}`], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, MANIFEST_SCALE: JSON.stringify(settings) },
  })
  // Our stdout is the table; whatever a child prints goes to stderr.
  child.stdout.pipe(process.stderr)
  child.stderr.pipe(process.stderr)
  child.inbox = []
  child.waiters = []
  child.on('message', (m) => {
    child.inbox.push(m)
    for (const w of child.waiters.splice(0)) w()
  })
  child.on('exit', () => {
    for (const w of child.waiters.splice(0)) w()
  })
  return child
}

/** The child's next message of this type; rejects on timeout, error or exit (and kills it). */
function message(child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${type} from child timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    const check = () => {
      const i = child.inbox.findIndex((m) => m.type === type || m.type === 'error')
      if (i >= 0) {
        clearTimeout(timer)
        const [m] = child.inbox.splice(i, 1)
        return m.type === 'error' ? reject(new Error(`child: ${m.message}`)) : resolve(m)
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        clearTimeout(timer)
        return reject(new Error(`child exited (${child.exitCode ?? child.signalCode}) before ${type}`))
      }
      child.waiters.push(check)
    }
    check()
  })
}

/** process.send that resolves once the message is out (a child exits right after its result). */
const send = (m) => new Promise((resolve) => process.send(m, () => resolve()))

/** PINGs in a tight loop, one outstanding, until told to stop; reports the longest round trip. */
async function proberChild({ port }) {
  const conn = await connect(port, '127.0.0.1', { connectTimeoutMs: 5000 })
  let stop = false
  process.on('message', (m) => m === 'stop' && (stop = true))
  let max = 0
  let count = 0
  let over10 = 0
  await conn.cmd('PING')
  await send({ type: 'ready' })
  while (!stop) {
    const t = process.hrtime.bigint()
    await conn.cmd('PING')
    const ms = msSince(t)
    count++
    if (ms > max) max = ms
    if (ms > 10) over10++
  }
  await send({ type: 'result', maxMs: max, pings: count, over10ms: over10 })
  conn.close()
}

/** Fetch-cache get context as Next passes it for a `fetch(url, { next: { tags } })`. */
const fetchCtx = (tag) => ({ kind: 'FETCH', revalidate: 3600, fetchUrl: 'https://x', fetchIdx: 0, tags: [tag], softTags: [] })

/** A pod joining the fleet: its first reads, its memory, its stats. */
async function joinChild({ redisUrl, prefix }) {
  const api = require(LIB)
  const H = api.createHandler({ redisUrl, prefix })
  const t = process.hrtime.bigint()
  const tagged = await new H({}).get(TAGGED_KEY, fetchCtx(TAGGED_TAG))
  const firstReadMs = msSince(t)
  const startToFirstReadMs = Number(process.hrtime.bigint() - T0) / 1e6
  const t2 = process.hrtime.bigint()
  const untouched = await new H({}).get(UNTOUCHED_KEY, fetchCtx(UNTOUCHED_TAG))
  const secondReadMs = msSince(t2)
  await send({
    type: 'result',
    firstReadMs,
    secondReadMs,
    startToFirstReadMs,
    taggedHit: !!tagged?.value,
    untouchedHit: !!untouched?.value,
    rss: process.memoryUsage().rss,
    stats: api.stats({ redisUrl, prefix }),
  })
  await api.close()
}

/** Normal read traffic: both entries in a loop, L1 off so every read reaches Redis. */
async function readerChild({ redisUrl, prefix }) {
  const api = require(LIB)
  const H = api.createHandler({ redisUrl, prefix, l1MaxBytes: 0 })
  let stop = false
  process.on('message', (m) => m === 'stop' && (stop = true))
  const r = { reads: 0, maxMs: 0, taggedHits: 0, untouchedMisses: 0 }
  const read = async (key, tag) => {
    const t = process.hrtime.bigint()
    const v = await new H({}).get(key, fetchCtx(tag))
    r.maxMs = Math.max(r.maxMs, msSince(t))
    r.reads++
    return !!v?.value
  }
  await read(UNTOUCHED_KEY, UNTOUCHED_TAG)
  await send({ type: 'ready' })
  while (!stop) {
    if (await read(TAGGED_KEY, TAGGED_TAG)) r.taggedHits++
    if (!(await read(UNTOUCHED_KEY, UNTOUCHED_TAG))) r.untouchedMisses++
  }
  await send({ type: 'result', ...r, stats: api.stats({ redisUrl, prefix, l1MaxBytes: 0 }) })
  await api.close()
}

async function runChildRole(role) {
  const settings = JSON.parse(process.env.MANIFEST_SCALE || '{}')
  const roles = { prober: proberChild, join: joinChild, reader: readerChild }
  try {
    await roles[role](settings)
  } catch (err) {
    await send({ type: 'error', message: String(err?.stack || err) })
  }
  // The addon's background tasks must not keep a finished child alive.
  process.disconnect()
  process.exit(0)
}

// ------------------------------------------------------------------ phases (parent)

async function startProber(port) {
  const p = spawnChild('prober', { port })
  await message(p, 'ready', 10_000)
  return async () => {
    p.send('stop')
    return message(p, 'result', 10_000)
  }
}

/** Runs fn with the PING probe and a fresh SLOWLOG window around it. */
async function observed(redis, fn) {
  await slowlogReset(redis.admin)
  const stopProbe = await startProber(redis.port)
  let out
  let error = null
  try {
    out = await fn()
  } catch (err) {
    error = err
  }
  const ping = await stopProbe().catch((err) => ({ maxMs: null, error: err.message }))
  const slow = await slowest(redis.admin)
  // Up to SLOWLOG_LEN kept commands are Redis memory too: gone before used_memory is read.
  await redis.admin.cmd('SLOWLOG', 'RESET')
  return { out, error, ping, slow }
}

async function writeEntries(api, opts) {
  const H = api.createHandler(opts)
  const value = (url) => ({ kind: 'FETCH', data: { headers: {}, body: 'eA==', url }, revalidate: 3600 })
  await new H({}).set(TAGGED_KEY, value('https://x'), { fetchCache: true, tags: [TAGGED_TAG] })
  await new H({}).set(UNTOUCHED_KEY, value('https://x'), { fetchCache: true, tags: [UNTOUCHED_TAG] })
  // Revalidation stamps are in ms: make sure they land strictly after the writes.
  await sleep(20)
}

/** N distinct tags, BATCH per call, IN_FLIGHT calls at a time, within RECORD_TIMEOUT_MS. */
async function record(api, opts, n) {
  const batches = Math.ceil(n / BATCH)
  const deadline = Date.now() + RECORD_TIMEOUT_MS
  let next = 0
  const worker = async () => {
    while (next < batches) {
      if (Date.now() > deadline) throw new Error(`recording ${n} tags exceeded ${RECORD_TIMEOUT_MS / 1000} s`)
      const b = next++
      const tags = []
      for (let i = b * BATCH; i < Math.min(n, (b + 1) * BATCH); i++) tags.push(`product-${i}`)
      await api.revalidateTags(tags, undefined, opts)
    }
  }
  const t = process.hrtime.bigint()
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return msSince(t) / 1000
}

async function join(opts) {
  const child = spawnChild('join', opts)
  return message(child, 'result', CHILD_TIMEOUT_MS)
}

/** ~3 s of webhooks on existing tags (this process) while a reader process reads in a loop. */
async function traffic(api, opts, n) {
  const reader = spawnChild('reader', opts)
  try {
    await message(reader, 'ready', CHILD_TIMEOUT_MS)
    const w = { calls: 0, maxMs: 0 }
    const end = Date.now() + TRAFFIC_MS
    while (Date.now() < end) {
      const tags = Array.from({ length: BATCH }, () => `product-${Math.floor(Math.random() * n)}`)
      const t = process.hrtime.bigint()
      await api.revalidateTags(tags, undefined, opts)
      w.maxMs = Math.max(w.maxMs, msSince(t))
      w.calls++
    }
    reader.send('stop')
    const r = await message(reader, 'result', CHILD_TIMEOUT_MS)
    return { writer: w, reader: r }
  } finally {
    // A failed webhook must not leave the reader running into the next phase.
    if (reader.exitCode === null && reader.signalCode === null) reader.kill('SIGKILL')
  }
}

async function usedMemory(admin) {
  return Number((await info(admin, 'memory')).used_memory)
}

/** One size: record, baseline joiner, joiner, traffic. Failures are recorded, not thrown. */
async function runSize(redis, n) {
  const api = require(LIB)
  const prefix = `ms${n}-${Date.now()}:`
  const opts = { redisUrl: redis.url, prefix }
  const row = { n, prefix, failures: [] }
  const fail = (what, err) => {
    row.failures.push(`${what}: ${err?.message ?? err}`)
    log(`N=${n} ${what} FAILED: ${err?.message ?? err}`)
  }
  await redis.admin.cmd('FLUSHALL')

  log(`N=${n}: writing the two entries, recording ${n} tags ...`)
  await writeEntries(api, opts)
  await redis.admin.cmd('SLOWLOG', 'RESET')
  const memBefore = await usedMemory(redis.admin)
  const rec = await observed(redis, () => record(api, opts, n))
  if (rec.error) {
    fail('record', rec.error)
    await api.close()
    return row
  }
  row.recordS = rec.out
  row.record = { ping: rec.ping, slowest: rec.slow, parentRss: process.memoryUsage().rss }
  row.usedMemoryBefore = memBefore
  row.usedMemoryAfter = await usedMemory(redis.admin)
  row.usedMemoryDelta = row.usedMemoryAfter - memBefore
  row.dbsize = await redis.admin.cmd('DBSIZE')

  log(`N=${n}: baseline joiner (empty prefix), then the joiner ...`)
  row.baseline = await join({ ...opts, prefix: `${prefix}empty:` }).catch((err) => fail('baseline joiner', err))
  const j = await observed(redis, () => join(opts))
  if (j.error) fail('join', j.error)
  row.join = { ...j.out, ping: j.ping, slowest: j.slow }
  if (j.out && (j.out.taggedHit || !j.out.untouchedHit)) {
    fail(
      'correctness',
      `tagged entry ${j.out.taggedHit ? 'HIT (should be a miss)' : 'miss'}, untouched entry ${j.out.untouchedHit ? 'hit' : 'MISS (should be a hit)'}`,
    )
  }
  if (j.out && row.baseline) row.joinRssGrowth = j.out.rss - row.baseline.rss

  log(`N=${n}: ${TRAFFIC_MS / 1000} s of traffic ...`)
  const t = await observed(redis, () => traffic(api, opts, n))
  if (t.error) fail('traffic', t.error)
  row.traffic = { ...t.out, ping: t.ping, slowest: t.slow }
  if (t.ping.maxMs === null) fail('traffic probe', t.ping.error)
  if (j.ping.maxMs === null) fail('join probe', j.ping.error)

  // The next size starts from an empty database and a process without this prefix's state.
  await api.close()
  return row
}

// ------------------------------------------------------------------ report

const fmt = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—')
// A script's sha is shortened in the table (in full in the JSON).
const slowCell = (s) => (!s ? '—' : s.us === 0 ? 'none > 1 ms' : `${s.us} µs ${s.name.replace(/\b([0-9a-f]{12})[0-9a-f]{28}\b/, '$1…')}`)

function table(rows) {
  const head = [
    'N',
    'record (s)',
    'join: first read (ms)',
    'longest PING during join (ms)',
    'slowest command during join',
    'longest PING during traffic (ms)',
    'slowest command during traffic',
    'joiner RSS growth vs baseline (MB)',
    'Redis used_memory delta (MB)',
    'DBSIZE',
    'correctness',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of rows) {
    const cells = [
      r.n,
      fmt(r.recordS, 2),
      fmt(r.join?.firstReadMs),
      fmt(r.join?.ping?.maxMs),
      slowCell(r.join?.slowest),
      fmt(r.traffic?.ping?.maxMs),
      slowCell(r.traffic?.slowest),
      fmt(r.joinRssGrowth / MB),
      fmt(r.usedMemoryDelta / MB),
      r.dbsize ?? '—',
      r.failures.length ? 'FAIL' : 'ok',
    ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

function parseSizes(argv) {
  const i = argv.findIndex((a) => a === '--sizes' || a.startsWith('--sizes='))
  if (i >= 0) {
    const raw = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1]
    const sizes = String(raw ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number)
    if (!sizes.length || sizes.some((s) => !Number.isInteger(s) || s < 8)) {
      throw new Error(`--sizes wants integers >= 8 (product-7 must be among the tags), got ${raw}`)
    }
    return sizes
  }
  return argv.includes('--quick') ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]
}

async function main() {
  const sizes = parseSizes(process.argv.slice(2))
  // Every phase has its cap; this is the backstop should something still hang.
  const cap = sizes.length * (RECORD_TIMEOUT_MS + 4 * CHILD_TIMEOUT_MS + 60_000)
  setTimeout(() => {
    log(`gave up after ${cap / 1000} s`)
    process.exit(2)
  }, cap).unref()

  const redis = await startRedis()
  const server = await info(redis.admin, 'server')
  log(`redis-server ${server.redis_version} on port ${redis.port}; sizes ${sizes.join(', ')}`)
  const rows = []
  try {
    for (const n of sizes) rows.push(await runSize(redis, n))
  } finally {
    await redis.stop()
  }

  const cpus = os.cpus()
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    redis: server.redis_version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    batch: BATCH,
    inFlight: IN_FLIGHT,
    trafficMs: TRAFFIC_MS,
    rows,
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n')
  console.log(table(rows))
  const failures = rows.flatMap((r) => r.failures.map((f) => `N=${r.n} ${f}`))
  if (failures.length) console.log(`\n${failures.map((f) => `- FAIL ${f}`).join('\n')}`)
  log(`raw results: ${path.relative(process.cwd(), OUT)}`)
  return failures.length ? 1 : 0
}

const childRole = process.argv.find((a) => a.startsWith('--child='))?.slice('--child='.length)
if (childRole) {
  runChildRole(childRole)
} else {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err)
      process.exit(1)
    },
  )
}
