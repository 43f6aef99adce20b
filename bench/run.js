#!/usr/bin/env node
'use strict'
// shared-isr benchmarks, one command:  node bench/run.js [--quick]
//
// Installs bench/'s own dependencies when needed, waits for a quiet machine, starts its own
// redis-server, runs the micro benchmarks (handler API) and the macro benchmark (real Next.js
// behind a balancer), profiles shared-isr where a target is missed, and writes
// docs/benchmarks.md + docs/benchmarks-*.svg (raw numbers: bench/results/latest.json).
//
// Options:
//   --quick              short smoke run (CI): few short batches, 10k revalidateTag level only
//   --no-wait            do not wait for the machine to be quiet (1-min load < 0.7)
//   --skip-macro         micro benchmarks only
//   --skip-micro         macro benchmark only
//   --no-profile         do not profile missed targets
//   --only=a,b           micro contenders subset (names as in bench/lib/contenders.js)
//   --baseline=<rev>     also run shared-isr at git revision <rev> (checked out and built in
//                        bench/.work/baseline-<sha>) as `shared-isr@base:l1` and
//                        `shared-isr@base:redis`, interleaved with everything else; the report
//                        gives current/baseline per scenario. With --only, a baseline contender
//                        runs when its current configuration does (or is named itself).
//   --refresh-fixtures   rebuild bench/fixtures/ from the e2e build
//   --render-only        only re-render the markdown and charts from bench/results/latest.json
//   --out=<file>         markdown output (default docs/benchmarks.md; with --quick
//                        bench/results/quick/benchmarks.md, so CI never replaces the docs)

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync, execFileSync } = require('node:child_process')

const BENCH = __dirname
const ROOT = path.resolve(BENCH, '..')
const args = process.argv.slice(2)
const flag = (f) => args.includes(f)
const opt = (k) =>
  args
    .find((a) => a.startsWith(`--${k}=`))
    ?.split('=')
    .slice(1)
    .join('=')
const QUICK = flag('--quick')
const PROFILE = QUICK ? 'quick' : 'full'
const log = (...a) => console.error('[bench]', ...a)

function ensureDeps() {
  const pkg = JSON.parse(fs.readFileSync(path.join(BENCH, 'package.json'), 'utf8'))
  const missing = Object.entries(pkg.dependencies).filter(([name, spec]) => {
    const want = spec.startsWith('npm:') ? spec.slice(spec.lastIndexOf('@') + 1) : spec
    try {
      return JSON.parse(fs.readFileSync(path.join(BENCH, 'node_modules', name, 'package.json'), 'utf8')).version !== want
    } catch {
      return true
    }
  })
  if (!missing.length) return
  log(`installing bench dependencies (${missing.map(([n]) => n).join(', ')}) ...`)
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: BENCH,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (r.status !== 0) throw new Error(`npm install in bench/ failed (exit ${r.status})`)
}

function ensureAddon() {
  try {
    require(path.join(ROOT, 'lib', 'native.js'))
    return
  } catch (err) {
    log(`the shared-isr addon does not load (${String(err.message).split('\n')[0]}); building it (npm run build) ...`)
  }
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error('building the addon failed; run `npm run build` (needs Rust)')
}

const load1 = () => Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

async function waitQuiet() {
  if (flag('--no-wait') || QUICK) return `not waited for (${QUICK ? '--quick' : '--no-wait'})`
  const t0 = Date.now()
  const limit = 15 * 60 * 1000
  let l = load1()
  if (l < 0.7) return 'quiet at the start'
  log(`waiting for a quiet machine (1-min load ${l} >= 0.7, up to 15 min) ...`)
  while (Date.now() - t0 < limit) {
    await new Promise((r) => setTimeout(r, 10_000))
    l = load1()
    if (l < 0.7) return `waited ${Math.round((Date.now() - t0) / 1000)} s for load < 0.7`
  }
  return `still ${l} after waiting 15 min; ran anyway`
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
  const cpu = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() || os.cpus()[0]?.model
  let nproc = os.cpus().length
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim())
  } catch {}
  return { cpu, nproc, memGB: Math.round(os.totalmem() / 1024 ** 3), kernel: os.release() }
}

function git(...a) {
  try {
    return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

function renderOnly() {
  const { render } = require('./lib/report')
  const res = JSON.parse(fs.readFileSync(path.join(BENCH, 'results', QUICK ? 'quick.json' : 'latest.json'), 'utf8'))
  res.peerNotes = peerNotes(res)
  let notes = null
  try {
    notes = fs.readFileSync(path.join(BENCH, 'notes.md'), 'utf8')
  } catch {}
  const outFile = opt('out')
    ? path.resolve(opt('out'))
    : QUICK
      ? path.join(BENCH, 'results', 'quick', 'benchmarks.md')
      : path.join(ROOT, 'docs', 'benchmarks.md')
  fs.writeFileSync(outFile, render(res, { docsDir: path.dirname(outFile), notes }))
  log(`re-rendered ${path.relative(process.cwd(), outFile)} from the results of ${res.meta.date}`)
}

async function main() {
  if (flag('--render-only')) return renderOnly()
  const started = Date.now()
  const durations = {}
  ensureDeps()
  ensureAddon()
  let baseline = null
  if (opt('baseline')) {
    if (flag('--skip-micro')) log('--baseline only adds micro contenders; ignored with --skip-micro')
    else {
      const t0 = Date.now()
      baseline = require('./lib/baseline').prepareBaseline(ROOT, opt('baseline'), log)
      durations.baseline = Date.now() - t0
      // Both addons are loaded from their own checkout; a forced library path would make the
      // baseline rows measure this build.
      if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
        log('NAPI_RS_NATIVE_LIBRARY_PATH is set: unset for the workers, so each loads its own checkout')
        delete process.env.NAPI_RS_NATIVE_LIBRARY_PATH
      }
      process.env.BENCH_BASELINE_ROOT = baseline.root // the workers' fallback
    }
  }
  const fixtures = require('./lib/fixtures')
  if (flag('--refresh-fixtures') || !fixtures.fixturesPresent()) fixtures.generateFixtures(log)
  const { startRedis } = require('./lib/redis')
  const { Micro, PROFILES: MICRO, POOL } = require('./lib/micro')
  const { runMacro } = require('./lib/macro')
  const { profileOp } = require('./lib/profile')
  const { render, targets } = require('./lib/report')
  const { pkgVersion } = require('./lib/contenders')
  durations.setup = Date.now() - started - (durations.baseline || 0)

  const loadWait = await waitQuiet()
  const mac = { ...machine(), loadBefore: load1(), loadWait }
  log(`machine: ${mac.nproc} cores, ${mac.cpu}, load ${mac.loadBefore}`)

  const fx = fixtures.loadFixtures()
  const res = {
    meta: {
      date: new Date().toISOString(),
      command: `node bench/run.js${args.length ? ' ' + args.join(' ') : ''}`,
      profile: PROFILE,
      machine: mac,
      versions: {
        node: process.version,
        redis: null,
        next: pkgVersion('next'),
        sharedIsr: JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version,
        gitHead: git('rev-parse', '--short', 'HEAD'),
        dirty: !!git('status', '--porcelain', '--', 'lib', 'src', 'binding.js'),
        packages: Object.fromEntries(
          [
            '@fortedigital/nextjs-cache-handler',
            'forte3',
            '@trieb.work/nextjs-turbo-redis-cache',
            '@neshca/cache-handler',
            'redis',
            '@redis/client',
            'next',
            'autocannon',
          ].map((n) => [n === 'forte3' ? '@fortedigital/nextjs-cache-handler (3.x, alias forte3)' : n, pkgVersion(n)]),
        ),
      },
    },
    fixtures: {
      source: fx.source,
      sizes: {
        real: fixtures.pageBytes(fx.real),
        page100k: fixtures.pageBytes(fx.page100k),
        page1m: fixtures.pageBytes(fx.page1m),
        fetch2k: JSON.stringify(fx.fetch2k).length,
        small: fixtures.pageBytes(fx.small),
      },
      compress: Object.fromEntries(['real', 'page100k', 'page1m'].map((k) => [k, fixtures.compressionRatios(fixtures.pageRaw(fx[k]))])),
    },
    micro: null,
    macro: null,
    baseline: baseline && { ...baseline, root: undefined },
    profiles: [],
    peerNotes: [],
    durations,
  }

  // ------------------------------------------------------------ micro
  const redis = await startRedis()
  res.meta.versions.redis = redis.version
  let micro = null
  try {
    if (!flag('--skip-micro')) {
      const t0 = Date.now()
      micro = new Micro({ redis, profile: PROFILE, only: opt('only')?.split(','), baseline })
      await micro.start()
      await micro.runGetSet()
      await micro.runRevalidated()
      await micro.runMemory()
      await micro.runTagScale()
      const p = MICRO[PROFILE]
      res.micro = {
        ...micro.results,
        payloads: p.payloads,
        rounds: p.rounds,
        batchMs: p.batchMs,
        pool: POOL,
        tagMaxOps: p.tagMaxOps,
        tagBatchMs: p.tagBatchMs,
        tagRounds: p.tagRounds,
        populateCapMs: p.populateCapMs,
      }
      res.status = micro.status
      res.info = micro.info
      res.compression = require('./lib/compress').compressionEstimate(
        ROOT,
        QUICK ? ['real', 'page100k'] : ['real', 'page100k', 'page1m'],
        QUICK ? 50 : 200,
      )
      durations.micro = Date.now() - t0
      await micro.stop()
    } else {
      res.micro = { scenarios: [], revalidated: [], tagScale: [], memory: [], wire: [], anatomy: [], payloads: [], pool: POOL }
    }

    // ------------------------------------------------------------ macro
    if (!flag('--skip-macro')) {
      const t0 = Date.now()
      try {
        res.macro = await runMacro({ profile: PROFILE, l1Implemented: res.status?.['shared-isr:l1'] === 'ok' })
      } catch (err) {
        res.macro = { error: String(err.message).split('\n')[0] }
        log(`macro failed: ${err.stack}`)
      }
      durations.macro = Date.now() - t0
    }
    res.meta.machine.loadAfter = load1()

    // ------------------------------------------------------------ profiles of missed targets
    if (!flag('--no-profile') && res.micro.scenarios.length) {
      const t0 = Date.now()
      const missed = targets(res)
        .filter((t) => t.met === false)
        .map((t) => t.id)
      const l1 = res.status?.['shared-isr:l1'] === 'ok'
      const jobs = []
      if (missed.includes('get-redis'))
        jobs.push({
          contender: 'shared-isr:redis',
          op: 'get',
          title: 'get from Redis (L1 off), 100 KB page, one caller',
          description: 'The handler `get` path with the L1 off, one caller, the same pool of 100 KB pages as above.',
        })
      if (missed.includes('get-l1') && l1)
        jobs.push({
          contender: 'shared-isr:l1',
          op: 'get',
          title: 'get from the L1, 100 KB page, one caller',
          description: 'The handler `get` path with the L1 on (every get is an L1 hit after warm-up), one caller.',
        })
      if (missed.includes('set'))
        jobs.push({
          contender: l1 ? 'shared-isr:l1' : 'shared-isr:redis',
          op: 'set',
          title: 'set, 100 KB page, one caller',
          description: 'The handler `set` path (encode, envelope, Redis SET), one caller.',
        })
      if (missed.includes('revalidate'))
        jobs.push({
          contender: l1 ? 'shared-isr:l1' : 'shared-isr:redis',
          op: 'revalidate',
          title: 'revalidateTag (one new tag per call), one caller',
          description:
            'The handler `revalidateTag` path, one caller, each call a tag never revalidated before (as in the scale test; the cost does not depend on the number of entries by design, so this runs on an empty database).',
        })
      if (missed.includes('macro'))
        res.profiles.push({ title: 'macro', description: 'Not profiled automatically (a Next.js cluster); see the analysis below.' })
      let db = 15 // above the contenders' databases (0-11)
      for (const j of jobs) {
        log(`profiling ${j.title} ...`)
        try {
          res.profiles.push(
            await profileOp({ redisUrl: redis.url, db: db--, payload: 'page100k', pool: POOL.page100k, seconds: QUICK ? 1 : 3, ...j }),
          )
        } catch (err) {
          res.profiles.push({ title: j.title, description: j.description, error: String(err.message).split('\n')[0] })
        }
      }
      durations.profiles = Date.now() - t0
    }
  } finally {
    await micro?.stop().catch(() => {})
    await redis.stop()
  }

  res.peerNotes = peerNotes(res)
  durations.total = Date.now() - started
  const docsDir = path.join(ROOT, 'docs')
  fs.mkdirSync(docsDir, { recursive: true })
  fs.mkdirSync(path.join(BENCH, 'results'), { recursive: true })
  fs.writeFileSync(path.join(BENCH, 'results', QUICK ? 'quick.json' : 'latest.json'), JSON.stringify(res, null, 1) + '\n')
  let notes = null
  try {
    notes = fs.readFileSync(path.join(BENCH, 'notes.md'), 'utf8')
  } catch {}
  // A --quick run never replaces the published results.
  const outFile = opt('out')
    ? path.resolve(opt('out'))
    : QUICK
      ? path.join(BENCH, 'results', 'quick', 'benchmarks.md')
      : path.join(docsDir, 'benchmarks.md')
  fs.mkdirSync(path.dirname(outFile), { recursive: true })
  fs.writeFileSync(outFile, render(res, { docsDir: path.dirname(outFile), notes }))
  log(`wrote ${path.relative(process.cwd(), outFile)} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  for (const t of targets(res))
    log(`${t.met === true ? 'MET    ' : t.met === false ? 'NOT MET' : 'n/a    '} ${t.id}: ${t.measured.replace(/\*\*/g, '')}`)
}

/** Observations about the peers, from this run's data (plus what the bench had to do). */
function peerNotes(res) {
  const n = []
  const v = (k) => res.meta.versions.packages[k]
  const rev = res.micro?.revalidated || []
  for (const r of rev) {
    for (const row of r.rows) {
      if (row.servedOld && !row.sameProcess && !row.contender.startsWith('shared-isr'))
        n.push(
          `**${row.contender}** served the old content as a fresh hit in ${row.servedOld} of ${row.ops} gets right after another instance revalidated it (${r.payload}, ${r.concurrency} caller${r.concurrency > 1 ? 's' : ''}), for ${require('./lib/report').windowText(row.windowsMs)} after the other instance's \`revalidateTag\` returned: its in-process copy is dropped by a Pub/Sub message that had not arrived yet.`,
        )
    }
  }
  const ex = res.macro?.excludedPaths || {}
  if (Object.keys(ex).length) {
    const who = [
      ...new Set(
        Object.values(ex)
          .flat()
          .map((w) => w.replace(/ \(.*\)$/, '')),
      ),
    ]
    n.push(
      `Macro: ${Object.keys(ex)
        .map((p) => `\`${p}\``)
        .join(
          ', ',
        )} answered 404 with ${who.join(' and ')}. These are prerendered pages of a closed route (\`dynamicParams = false\`): they are not in Redis until something writes them, these handlers do not read the build output on a miss, and Next answers 404. @fortedigital offers \`registerInitialCache\` in \`instrumentation.ts\` for this (not wired in the example app); @trieb.work has no seeding.`,
    )
  }
  n.push(
    `@fortedigital ${v('@fortedigital/nextjs-cache-handler')} (the Next 15 line) declares \`engines.node >= 22\` and npm warns on Node 20; it runs on Node ${res.meta.versions.node.slice(1)} without a problem here. 3.x (${v('@fortedigital/nextjs-cache-handler (3.x, alias forte3)')}) declares Node ≥ 22 and Next ≥ 16.1.5: its handler API also runs on Node 20 and is measured in the micro benchmarks (its storage path is 2.x's plus a pluggable serializer); it is not in the Next 15 macro benchmark.`,
  )
  n.push(
    '@fortedigital: a get is three sequential round trips (GET, HEXISTS on the shared tags hash, HMGET of the tag timestamps); set is four commands (two HSETs, SET, EXPIREAT); `revalidateTag` HSCANs the whole `__sharedTags__` hash and also the `__sharedTagsTtl__` hash on every call, so its cost grows with the number of entries. Buffers are stored as base64 inside JSON.',
  )
  n.push(
    '@neshca 1.9: Next 13.5–14 only (`peerDependencies.next < 15`; installed here with `legacy-peer-deps`). A get is GET + HMGET; `revalidateTag` HSCANs the whole tags hash with `COUNT 100`, so one call at 1M entries is ~10k round trips.',
  )
  n.push(
    `@trieb.work ${v('@trieb.work/nextjs-turbo-redis-cache')}: pins \`redis\` 4.7.0; needs \`notify-keyspace-events\` to include \`Exe\` or its maps never become ready (every call then waits for them); uses database 1 unless \`VERCEL_ENV=production\`; keeps the whole tag index in memory in every process (filled by an HSCAN at start-up and by Pub/Sub), which makes \`revalidateTag\` a scan of a local Map; by default serves gets from a 10 s in-process copy (\`inMemoryCachingTime\`) whose invalidation travels by Pub/Sub; values are JSON with base64 Buffers.`,
  )
  return n
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
