'use strict'
// `npx shared-isr <command>`: see and steer the fleet's cache. Connection settings as in the
// package (SHARED_ISR_REDIS_URL / REDIS_URL, SHARED_ISR_PREFIX, TLS files; or the flags below);
// secrets never printed. `--json` on every command. Exit code 1 when the command failed or
// (doctor) found problems, 2 on bad usage.

const { parseArgs } = require('node:util')
const { parseKey, pageKeyGlob, fetchKey, keyPathOf, nextKeyPath } = require('./keys')
const { pathTags, toDurations } = require('./tags')

const USAGE = `Usage: shared-isr <command> [options]

Commands:
  status                         the fleet (instances, builds, hit rates, errors) and Redis
  revalidate --tag T... | --path P... [--type page|layout] [--profile max]
                                 records a revalidation, as a webhook would
  inspect <path | key>           the entries of a route across builds (or one key), judged now;
                                 a path as in the URL (/ is the home page)
  builds                         entries and bytes per build, fetch and 'use cache' data
  purge --build ID | --old-builds [--dry-run] [--force]
                                 deletes the entries of builds no live instance serves
  doctor                         checks the deployment; exit code 1 on problems

Options:
  --redis-url URL     default: SHARED_ISR_REDIS_URL, then REDIS_URL
  --prefix P          default: SHARED_ISR_PREFIX, then shared-isr:
  --tls-ca-file F     CA bundle for rediss:// (default: SHARED_ISR_TLS_CA_FILE)
  --tls-cert-file F   client certificate (default: SHARED_ISR_TLS_CERT_FILE)
  --tls-key-file F    client key (default: SHARED_ISR_TLS_KEY_FILE)
  --timeout-ms N      per Redis call (default 5000 here)
  --json              machine-readable output
  -h, --help          this help`

const OPTIONS = {
  'redis-url': { type: 'string' },
  prefix: { type: 'string' },
  'tls-ca-file': { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-key-file': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  tag: { type: 'string', multiple: true },
  path: { type: 'string', multiple: true },
  type: { type: 'string' },
  profile: { type: 'string' },
  build: { type: 'string' },
  'old-builds': { type: 'boolean', default: false },
  'dry-run': { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
}

class UsageError extends Error {}

/**
 * Entries of the fleet's index one listing examines at most (real fleets hold far fewer). Past
 * it the listing says it was cut: `status` warns, and `purge`, which must know every build in
 * use, refuses.
 */
const FLEET_LIMIT = 10_000
const SCAN_COUNT = 1000

function storeOptions(v) {
  const options = { l1MaxBytes: 0, timeoutMs: 5000, connectTimeoutMs: 5000 }
  if (v['redis-url'] !== undefined) options.redisUrl = v['redis-url']
  if (v.prefix !== undefined) options.prefix = v.prefix
  if (v['tls-ca-file'] !== undefined) options.tlsCaFile = v['tls-ca-file']
  if (v['tls-cert-file'] !== undefined) options.tlsCertFile = v['tls-cert-file']
  if (v['tls-key-file'] !== undefined) options.tlsKeyFile = v['tls-key-file']
  if (v['timeout-ms'] !== undefined) {
    if (!/^\d{1,9}$/.test(v['timeout-ms']) || Number(v['timeout-ms']) < 1) {
      throw new UsageError(`--timeout-ms must be a whole number of milliseconds >= 1, got ${JSON.stringify(v['timeout-ms'])}`)
    }
    options.timeoutMs = Number(v['timeout-ms'])
  }
  return options
}

/** INFO's `key:value` lines as an object. */
function parseInfo(text) {
  const out = {}
  for (const line of String(text).split(/\r?\n/)) {
    const m = /^([^#:][^:]*):(.*)$/.exec(line)
    if (m) out[m[1]] = m[2]
  }
  return out
}

/** The build ids the live instances serve, as configured (the form parseKey gives). */
const liveBuilds = (instances) => new Set(instances.flatMap((i) => i.builds ?? []))

/** The live instances; `complete` false when the listing was cut (`cut`: what to say then). */
async function fleetOf(store) {
  const { now, instances, complete, index } = await store.native.fleet(FLEET_LIMIT)
  const list = []
  for (const raw of instances) {
    try {
      const i = JSON.parse(raw)
      // Summaries are read as found: whatever wrote one (another version, a hand), its fields
      // are checked before they are used.
      if (i === null || typeof i !== 'object' || typeof i.id !== 'string') continue
      i.builds = Array.isArray(i.builds) ? i.builds.filter((b) => typeof b === 'string') : []
      if (i.stats === null || typeof i.stats !== 'object') i.stats = {}
      // Age by Redis's clock: the instance's own time corrected by its measured skew.
      i.ageMs = Math.max(0, Math.round(now - (i.heartbeatAt - (i.clockSkewMs ?? 0))))
      list.push(i)
    } catch {}
  }
  const cut = complete
    ? null
    : `the fleet index ${index} holds more than ${FLEET_LIMIT} entries that could be live instances (not written by shared-isr?), so the listing stopped there and live instances may be missing. They drop out as their scores pass (3 hours at most); or DEL the key and wait one heartbeat period of the slowest instance, so that every instance registers again`
  return { now, instances: list, complete, cut }
}

/** Every key matching `pattern` (a glob under the store's entry keys), page by page. */
async function* scan(store, pattern) {
  let cursor = null
  do {
    const page = await store.native.scanPage(store.native.entryKey(pattern), cursor, SCAN_COUNT)
    for (let i = 0; i < page.keys.length; i++) yield [page.keys[i], page.sizes[i]]
    cursor = page.cursor ?? null
  } while (cursor !== null)
}

async function status(store) {
  const { now, instances, complete, cut } = await fleetOf(store)
  const info = parseInfo(await store.native.command(['INFO']))
  const primaries = await store.native.primaries()
  // What the fleet owes the CDN (any instance with a CDN set delivers it).
  const cdn = await store.native.cdnPending()
  const sum = (f) => instances.reduce((a, i) => a + (i.stats?.[f] ?? 0), 0)
  const gets = sum('gets')
  const served = sum('hits') + sum('staleHits') + sum('expiredHits')
  const builds = [...new Set(instances.flatMap((i) => i.builds ?? []))]
  const warnings = policyWarnings(info)
  if (!complete) warnings.push(cut)
  else if (instances.length === 0) warnings.push('no live instance registered (none running, or SHARED_ISR_HEARTBEAT_SECONDS=0)')
  for (const i of instances) {
    if (i.status !== 'ok') warnings.push(`${i.id}: store ${i.status}`)
    if (Math.abs(i.clockSkewMs ?? 0) > 1000) warnings.push(`${i.id}: clock ${i.clockSkewMs} ms off Redis's`)
  }
  return {
    redisTime: now,
    fleet: {
      instances: instances.length,
      complete,
      builds,
      gets,
      hitRate: gets ? served / gets : null,
      l1HitRate: gets ? sum('l1Hits') / gets : null,
      errors: sum('errors'),
      revalidations: sum('revalidations'),
      revalidationsPending: sum('revalidationsPending'),
      revalidationsDropped: sum('revalidationsDropped'),
      circuitOpen: instances.filter((i) => i.stats?.circuitOpen).length,
      // Mean over every instance's applied revalidations since it started.
      invalidationLagMeanMs: (() => {
        const n = sum('invalidations')
        return n
          ? Math.round(instances.reduce((a, i) => a + (i.stats?.invalidationLagMeanMs ?? 0) * (i.stats?.invalidations ?? 0), 0) / n)
          : null
      })(),
    },
    instances: instances.map((i) => ({
      id: i.id,
      host: i.host,
      pid: i.pid,
      status: i.status,
      builds: i.builds,
      next: i.next,
      sharedIsr: i.sharedIsr,
      ageMs: i.ageMs,
      uptimeMs: i.heartbeatAt - i.startedAt,
      clockSkewMs: i.clockSkewMs,
      stats: i.stats,
    })),
    cdn: { pending: cdn.pending, purgeAllDue: cdn.all, deliveredBy: store.cdn ? store.cdn.provider.describe() : null },
    redis: {
      version: info.redis_version,
      mode: info.cluster_enabled === '1' ? 'cluster' : (info.redis_mode ?? 'standalone'),
      primaries: primaries.filter(Boolean).length || 1,
      usedMemory: Number(info.used_memory),
      maxmemory: Number(info.maxmemory),
      maxmemoryPolicy: info.maxmemory_policy,
    },
    warnings,
  }
}

function policyWarnings(info) {
  const out = []
  const policy = info.maxmemory_policy
  if (policy?.startsWith('allkeys-')) {
    out.push(
      `maxmemory-policy is ${policy}: Redis may evict the tag state; shared-isr detects it and expires older entries (a burst of re-renders). Use volatile-lru (entries have TTLs, the tag state has none)`,
    )
  }
  if (policy === 'noeviction' && Number(info.maxmemory) > 0) {
    out.push(
      'maxmemory-policy is noeviction: once maxmemory is reached every write fails (pages are not cached); volatile-lru evicts old entries instead',
    )
  }
  return out
}

async function revalidate(store, v, api, options) {
  const tags = v.tag ?? []
  const paths = v.path ?? []
  if (tags.length === 0 && paths.length === 0) throw new UsageError('revalidate needs --tag or --path')
  let profile
  if (v.profile !== undefined) profile = /^\d+(\.\d+)?$/.test(v.profile) ? { expire: Number(v.profile) } : v.profile
  // Bad arguments are a usage error (exit 2), judged by the library's own rules before anything is recorded.
  try {
    toDurations(profile)
    for (const p of paths) pathTags(p, v.type)
    if (v.type !== undefined && paths.length === 0) pathTags('/', v.type)
  } catch (err) {
    throw new UsageError(err.message)
  }
  const calls = [
    ...(tags.length ? [() => api.revalidateTags(tags, profile, options)] : []),
    ...paths.map((p) => () => api.revalidatePath(p, v.type, options)),
  ]
  const { CONNECTIVITY } = require('./native')
  const { describeTags } = require('./store')
  let failed = null
  for (const call of calls) {
    try {
      await call()
    } catch (err) {
      // Redis failing: the store keeps the revalidation to record it once Redis answers, but
      // this process is about to exit, so it waits for that here (as long as a call may take).
      if (!CONNECTIVITY.has(err.code)) throw err
      failed ??= err
    }
  }
  if (failed) {
    const waitMs = options.timeoutMs
    const left = await store.close(waitMs)
    if (left) {
      const why = failed.cause?.message ?? failed.message
      const err = new Error(`not recorded: ${describeTags(left.first, left.tags)}; Redis did not answer within ${waitMs} ms (${why})`)
      err.code = failed.code
      throw err
    }
  }
  return { revalidated: { tags, paths }, late: !!failed }
}

async function inspect(store, target) {
  if (!target) throw new UsageError('inspect needs a path (/products/42) or a key (p:<build>:/products/42, f:<hash>)')
  const entryPrefix = store.native.entryKey('')
  const keys = []
  if (parseKey(target).kind !== 'other') keys.push(target)
  else {
    if (!target.startsWith('/')) throw new UsageError(`a path starts with '/', got ${JSON.stringify(target)}`)
    // Next keys the path as it normalizes it ('/' is '/index'), and from 15.5.27 / 16.3.8 as
    // `/route-cache/<kind>/<hash>/$<that>`: keys.js knows both forms.
    const keyPath = keyPathOf(target)
    for await (const [full] of scan(store, pageKeyGlob({ nextKeyEnd: keyPath }))) {
      const key = full.slice(entryPrefix.length)
      const { kind, nextKey } = parseKey(key)
      if (kind === 'page' && nextKeyPath(nextKey) === keyPath) keys.push(key)
    }
  }
  const { instances, complete, cut } = await fleetOf(store)
  const live = liveBuilds(instances)
  const entries = []
  for (const key of keys.sort()) {
    const full = store.native.entryKey(key)
    const [hit, ttl, stored] = await Promise.all([
      store.native.get(key, []).catch((err) => ({ error: err.code ?? err.message })),
      store.native.command(['PTTL', full], full),
      store.native.command(['STRLEN', full], full),
    ])
    const { kind, build } = parseKey(key)
    if (!hit) continue
    if (hit.error) {
      entries.push({ key, kind, build, error: hit.error, storedBytes: stored })
      continue
    }
    entries.push({
      key,
      kind,
      build,
      buildLive: build === null ? null : live.has(build),
      freshness: hit.freshness,
      lastModified: new Date(hit.lastModified).toISOString(),
      revalidate: hit.revalidate ?? null,
      expire: hit.expire ?? null,
      tags: hit.tags,
      storedBytes: stored,
      decodedBytes: hit.payload.length,
      ttlMs: ttl,
    })
  }
  return { target, entries, warnings: complete ? [] : [cut] }
}

async function builds(store) {
  const entryPrefix = store.native.entryKey('')
  const perBuild = new Map()
  const other = { fetch: { entries: 0, bytes: 0 }, useCache: { entries: 0, bytes: 0 }, other: { entries: 0, bytes: 0 } }
  for await (const [full, size] of scan(store, '*')) {
    const key = full.slice(entryPrefix.length)
    const bytes = Math.max(0, size)
    const { kind, build } = parseKey(key)
    let bucket
    if (kind === 'page') {
      if (!perBuild.has(build)) perBuild.set(build, { entries: 0, bytes: 0 })
      bucket = perBuild.get(build)
    } else bucket = kind === 'fetch' ? other.fetch : kind === 'use-cache' ? other.useCache : other.other
    bucket.entries++
    bucket.bytes += bytes
  }
  const { instances, complete, cut } = await fleetOf(store)
  const live = liveBuilds(instances)
  return {
    builds: [...perBuild].map(([id, b]) => ({ id, ...b, live: live.has(id) })).sort((a, b) => b.bytes - a.bytes),
    ...other,
    liveInstances: instances.length,
    warnings: complete ? [] : [cut],
  }
}

async function purge(store, v) {
  if (!v.build && !v['old-builds']) throw new UsageError('purge needs --build ID or --old-builds')
  const { instances, complete, cut } = await fleetOf(store)
  const live = liveBuilds(instances)
  // Not even with --force: a build that looks unused may be served by an instance not listed.
  if (!complete) {
    return { refused: `cannot tell which builds are in use: ${cut}`, deleted: 0, bytes: 0 }
  }
  if (v.build && live.has(v.build)) {
    return { refused: `build ${v.build} is served by a live instance`, deleted: 0, bytes: 0 }
  }
  if (v['old-builds'] && instances.length === 0 && !v.force) {
    return {
      refused: 'no live instance is registered, so every build would count as old; pass --force to purge them all',
      deleted: 0,
      bytes: 0,
    }
  }
  const entryPrefix = store.native.entryKey('')
  // --build takes the id as configured (`a:b`); the glob only narrows the scan.
  const pattern = pageKeyGlob({ build: v.build || undefined })
  const doomed = []
  let bytes = 0
  const perBuild = {}
  for await (const [full, size] of scan(store, pattern)) {
    const { kind, build: id } = parseKey(full.slice(entryPrefix.length))
    if (kind !== 'page' || (v.build ? id !== v.build : live.has(id))) continue
    doomed.push(full)
    bytes += Math.max(0, size)
    perBuild[id] = (perBuild[id] ?? 0) + 1
  }
  let deleted = 0
  if (!v['dry-run']) {
    for (let i = 0; i < doomed.length; i += 500) deleted += await store.native.unlink(doomed.slice(i, i + 500))
  }
  return { dryRun: v['dry-run'], deleted: v['dry-run'] ? 0 : deleted, matched: doomed.length, bytes, builds: perBuild, kept: [...live] }
}

async function doctor(store, options) {
  const checks = []
  // `warning`: works, but in a degraded mode (printed as such; not a failure).
  const add = (name, ok, detail, warning = false) => checks.push({ name, ok, detail, ...(warning ? { warning: true } : {}) })
  const t0 = performance.now()
  let info
  try {
    info = parseInfo(await store.native.command(['INFO']))
    add('connect', true, `connected in ${Math.round(performance.now() - t0)} ms`)
  } catch (err) {
    add('connect', false, `cannot reach Redis (${err.code ?? ''}): ${err.message}`)
    return { ok: false, checks }
  }
  // What the server refused when the store connected (the words and the fix are the addon's).
  const caps = store.native.capabilities()
  add(
    'scripting',
    caps.scripting !== false,
    caps.scriptingNote ?? (caps.scripting ? 'SCRIPT LOAD and EVALSHA: allowed' : 'not checked (inconclusive answer)'),
  )
  // Optional: without it the cache works, only without local copies.
  add(
    'client tracking',
    true,
    caps.trackingNote ?? (caps.tracking ? 'CLIENT TRACKING: allowed (the L1 is kept coherent)' : 'not checked (inconclusive answer)'),
    caps.tracking === false,
  )
  const major = Number((info.redis_version ?? '0').split('.')[0])
  add('version', major >= 6, `Redis ${info.redis_version}${major >= 6 ? '' : ': shared-isr needs 6.0+ (RESP3, client tracking)'}`)
  const warnings = policyWarnings(info)
  add(
    'eviction policy',
    warnings.length === 0,
    warnings[0] ?? `maxmemory-policy ${info.maxmemory_policy}${Number(info.maxmemory) ? '' : ' (no maxmemory set)'}`,
  )
  const rtts = []
  for (let i = 0; i < 10; i++) {
    const t = performance.now()
    await store.native.command(['PING'])
    rtts.push(performance.now() - t)
  }
  rtts.sort((a, b) => a - b)
  const median = rtts[5]
  add(
    'latency',
    median < 5,
    `PING median ${median.toFixed(2)} ms, max ${rtts[9].toFixed(2)} ms${median < 5 ? '' : ': every cache miss waits this long'}`,
  )
  const sentAt = Date.now()
  const [sec, micro] = await store.native.command(['TIME'])
  const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000)
  const skew = Math.round((sentAt + Date.now()) / 2 - redisNow)
  add(
    'clock',
    Math.abs(skew) < 1000,
    `this machine's clock is ${skew} ms off Redis's${Math.abs(skew) < 1000 ? '' : ': revalidation times are compared across machines'}`,
  )
  // The commands the package needs, as this user: an entry written, read, checked and removed,
  // and a script on the tag state's slot (the fleet listing).
  try {
    const key = fetchKey(`shared-isr-doctor:${process.pid}`)
    await store.native.set(key, Buffer.from('doctor'), { lastModified: Date.now(), tags: [] })
    const back = await store.native.get(key, [])
    await store.native.unlink([store.native.entryKey(key)])
    await store.native.fleet(1)
    add('permissions', back?.payload?.toString() === 'doctor', 'SET, GET, UNLINK, EVALSHA/EVAL on the tag state: allowed')
  } catch (err) {
    add(
      'permissions',
      false,
      `${err.code ?? ''} ${err.message}: the Redis user lacks a command shared-isr needs (see the ACL line in docs/operations.md)`,
    )
  }
  if (info.cluster_enabled === '1') {
    const ci = parseInfo(await store.native.command(['CLUSTER', 'INFO']))
    add('cluster', ci.cluster_state === 'ok', `cluster_state ${ci.cluster_state}, ${ci.cluster_slots_ok} slots ok of 16384`)
  }
  const url = options.redisUrl ?? process.env.SHARED_ISR_REDIS_URL ?? process.env.REDIS_URL ?? ''
  add('tls', true, /^rediss/i.test(url) ? 'TLS (rediss://)' : 'no TLS (redis://): fine on a private network')
  let instances = []
  let complete
  let cut
  try {
    ;({ instances, complete, cut } = await fleetOf(store))
  } catch (err) {
    add('fleet', false, `cannot list the fleet (${err.code ?? ''}): ${err.message}`)
    return { ok: false, checks }
  }
  if (!complete) add('fleet index', false, cut)
  const unhealthy = instances.filter((i) => i.status !== 'ok')
  add(
    'fleet',
    unhealthy.length === 0,
    `${instances.length} live instance(s)${unhealthy.length ? `; unhealthy: ${unhealthy.map((i) => i.id).join(', ')}` : ''}`,
  )
  if (store.cdn) {
    const p = store.cdn.provider
    if (typeof p.probe !== 'function') add('cdn', true, `${p.describe()}: not checked (your onPurge)`)
    else {
      try {
        await p.probe()
        add('cdn', true, `${p.describe()}: answers purges`)
      } catch (err) {
        add('cdn', false, `${p.describe()}: ${err.message} (purges are kept and retried, but the CDN serves old pages until it answers)`)
      }
    }
  }
  const skewed = instances.filter((i) => Math.abs(i.clockSkewMs ?? 0) >= 1000)
  if (skewed.length)
    add('fleet clocks', false, `clocks off Redis's by 1 s or more: ${skewed.map((i) => `${i.id} (${i.clockSkewMs} ms)`).join(', ')}`)
  return { ok: checks.every((c) => c.ok), checks }
}

/** A Redis PTTL for people: '364d 23h', '2h 5m', '42s' ('none' without one, 'gone' once deleted). */
function ttlText(ms) {
  if (ms === -1) return 'none'
  if (ms < 0) return 'gone'
  if (ms < 1000) return `${ms} ms`
  const s = Math.floor(ms / 1000)
  const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60]
  if (d) return `${d}d ${h}h`
  if (h) return `${h}h ${m}m`
  if (m) return `${m}m ${s % 60}s`
  return `${s}s`
}

function print(command, out) {
  const line = (s = '') => process.stdout.write(`${s}\n`)
  if (command === 'status') {
    const f = out.fleet
    const pct = (x) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`)
    line(`fleet: ${f.instances} instance(s), builds ${f.builds.join(', ') || '-'}`)
    line(
      `  reads ${f.gets}, hit rate ${pct(f.hitRate)} (L1 ${pct(f.l1HitRate)}), errors ${f.errors}, revalidations ${f.revalidations}, pending ${f.revalidationsPending}, dropped ${f.revalidationsDropped}, invalidation lag ${typeof f.invalidationLagMeanMs === 'number' ? `${f.invalidationLagMeanMs} ms` : '-'} (mean)`,
    )
    for (const i of out.instances)
      line(`  ${i.id}  ${i.status}  builds ${i.builds?.join(',') || '-'}  next ${i.next ?? '-'}  seen ${(i.ageMs / 1000).toFixed(1)} s ago`)
    const c = out.cdn
    line(`cdn: ${c.pending} key(s) owed${c.purgeAllDue ? ', a purge of everything due' : ''}${c.deliveredBy ? ` (${c.deliveredBy})` : ''}`)
    const r = out.redis
    line(
      `redis: ${r.version} ${r.mode} (${r.primaries} primary), memory ${r.usedMemory} B of ${r.maxmemory || 'unlimited'}, policy ${r.maxmemoryPolicy}`,
    )
  } else if (command === 'inspect') {
    if (out.entries.length === 0) line(`no entry for ${out.target}`)
    for (const e of out.entries) {
      line(`${e.key}`)
      if (e.error) {
        line(`  error ${e.error}`)
        continue
      }
      line(`  ${e.kind}${e.build ? ` of build ${e.build} (${e.buildLive ? 'live' : 'not served'})` : ''}: ${e.freshness}`)
      line(`  lastModified ${e.lastModified}, revalidate ${e.revalidate}, expire ${e.expire}, TTL ${ttlText(e.ttlMs)}`)
      line(`  tags ${e.tags.join(', ') || '-'}; ${e.storedBytes} B stored, ${e.decodedBytes} B decoded`)
    }
  } else if (command === 'builds') {
    for (const b of out.builds) line(`build ${b.id}: ${b.entries} entries, ${b.bytes} B${b.live ? ' (live)' : ''}`)
    line(
      `fetch data: ${out.fetch.entries} entries, ${out.fetch.bytes} B; 'use cache': ${out.useCache.entries} entries, ${out.useCache.bytes} B`,
    )
  } else if (command === 'purge') {
    if (out.refused) line(`refused: ${out.refused}`)
    else
      line(
        `${out.dryRun ? 'would delete' : 'deleted'} ${out.dryRun ? out.matched : out.deleted} entries (${out.bytes} B); kept the live builds ${out.kept.join(', ') || '-'}`,
      )
  } else if (command === 'doctor') {
    for (const c of out.checks) line(`${c.ok ? (c.warning ? 'WARNING' : 'ok     ') : 'PROBLEM'}  ${c.name}: ${c.detail}`)
  } else if (command === 'revalidate') {
    line(
      `revalidated: tags ${out.revalidated.tags.join(', ') || '-'}; paths ${out.revalidated.paths.join(', ') || '-'}${out.late ? ' (recorded once Redis answered again)' : ''}`,
    )
  }
  if (out.warnings?.length) for (const w of out.warnings) line(`warning: ${w}`)
}

async function main(argv = process.argv.slice(2)) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}\n`)
    return 2
  }
  const { values: v, positionals } = parsed
  const [command, ...rest] = positionals
  if (v.help || !command) {
    process.stdout.write(`${USAGE}\n`)
    return command || v.help ? 0 : 2
  }
  const commands = { status, revalidate, inspect, builds, purge, doctor }
  if (!commands[command]) {
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`)
    return 2
  }
  // This process is a tool, not an instance: it never registers in the fleet.
  process.env.SHARED_ISR_HEARTBEAT_SECONDS = '0'
  const api = require('./index')
  const { getStore } = require('./store')
  let options
  try {
    options = storeOptions(v)
  } catch (err) {
    process.stderr.write(`shared-isr ${command}: ${err.message}\n\n${USAGE}\n`)
    return 2
  }
  let out
  let code = 0
  try {
    const store = getStore({ ...options, logger: { info() {}, warn() {}, error() {} } })
    if (store.kind !== 'redis') throw new UsageError('no Redis URL: set SHARED_ISR_REDIS_URL (or REDIS_URL) or pass --redis-url')
    if (command === 'revalidate') out = await revalidate(store, v, api, { ...options, logger: { info() {}, warn() {}, error() {} } })
    else if (command === 'inspect') out = await inspect(store, rest[0])
    else if (command === 'doctor') out = await doctor(store, options)
    else out = await commands[command](store, v)
    if (out.refused || out.ok === false) code = 1
  } catch (err) {
    const usage = err instanceof UsageError
    const message = require('./native').redactSecrets(String(err.message))
    if (v.json) process.stdout.write(`${JSON.stringify({ error: err.code ?? (usage ? 'USAGE' : 'ERROR'), message })}\n`)
    else process.stderr.write(`shared-isr ${command}: ${message}${err.code ? ` (${err.code})` : ''}\n`)
    await api.close()
    return usage ? 2 : 1
  }
  if (v.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
  else print(command, out)
  await api.close()
  return code
}

module.exports = { main, parseInfo }
