'use strict'
// `npx shared-isr`: the fleet view and the ops commands, run as a user runs them (the bin in a
// child process) against a real redis-server and two forked instances that register
// themselves with their heartbeat.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, sleep } = require('./helpers/common')
const { startInstance } = require('./helpers/instances')
const { runCli } = require('./helpers/cli')
const { redisSuite } = require('./helpers/suite')

const all = []
const { api, redis } = redisSuite({ teardown: () => Promise.all(all.map((i) => i.stop())) })
const PREFIX = uniquePrefix('cli')
const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const route = (body, tag) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': tag } })

/** Runs the bin against this file's Redis and prefix. */
const cli = (args, env = {}) => runCli(args, { SHARED_ISR_REDIS_URL: redis.url, SHARED_ISR_PREFIX: PREFIX, ...env })

let insts
let ready = null
/** The fleet of the tests: two instances of build live-1, entries of an old build. Made once. */
const setup = () => (ready ??= makeFleet())
async function makeFleet() {
  const options = (buildId) => ({ redisUrl: redis.url, prefix: PREFIX, buildId, heartbeatSeconds: 0.2, timeoutMs: 2000 })
  insts = [await startInstance(options('live-1')), await startInstance(options('live-1'))]
  all.push(...insts)
  await insts[0].set('/products/42', route('p42', 'product-42'), SET)
  await insts[1].get('/products/42', CTX)
  // Next 15.5.27+/16.3.8+ key a route's cache by kind and hash; inspect finds those too.
  await insts[0].set('/route-cache/APP_PAGE/0123abcd/$/products/42', route('p42-rc', 'product-42'), SET)
  await insts[0].set('/products/42/reviews', route('other', 'other'), SET)
  // An entry of a build no instance serves any more.
  const Old = api.createHandler({ redisUrl: redis.url, prefix: PREFIX, buildId: 'old-0', heartbeatSeconds: 0 })
  await new Old({}).set('/products/42', route('old', 'product-42'), SET)
  await new Old({}).set('/about', route('about', 'about'), SET)
  await sleep(700) // a few heartbeats
}

test('status: the live instances, the builds they serve, their reads, and Redis', async () => {
  await setup()
  const r = await cli(['status', '--json'])
  assert.equal(r.code, 0, r.err)
  assert.equal(r.json.fleet.instances, 2, JSON.stringify(r.json.instances) + JSON.stringify(await redis.cmd('KEYS', '*')))
  assert.deepEqual(r.json.fleet.builds, ['live-1'])
  assert.ok(r.json.fleet.gets >= 1)
  for (const i of r.json.instances) {
    assert.equal(i.status, 'ok')
    assert.ok(i.ageMs < 5000, `heard from recently: ${i.ageMs}`)
    assert.ok(Math.abs(i.clockSkewMs) < 1000)
  }
  assert.match(r.json.redis.version, /^\d+\.\d+/)
  assert.equal(r.json.redis.mode, 'standalone')
  const text = await cli(['status'])
  assert.match(text.out, /fleet: 2 instance\(s\), builds live-1/)
  assert.doesNotMatch(text.out + text.err, /password|secret/i)
})

test('an instance that stops is gone from the fleet once its heartbeat expires', async () => {
  await setup()
  const extra = await startInstance({ redisUrl: redis.url, prefix: PREFIX, buildId: 'live-1', heartbeatSeconds: 0.2 })
  await extra.get('/x', CTX)
  await sleep(600)
  assert.equal((await cli(['status', '--json'])).json.fleet.instances, 3)
  await extra.stop()
  await sleep(1600) // the TTL: 3 periods, at least 1 s
  assert.equal((await cli(['status', '--json'])).json.fleet.instances, 2)
})

test('inspect: the entries of a path across builds, judged now, and after a revalidation from the CLI', async () => {
  await setup()
  const r = await cli(['inspect', '/products/42', '--json'])
  assert.equal(r.code, 0, r.err)
  assert.deepEqual(r.json.entries.map((e) => e.key).sort(), [
    'p:live-1:/products/42',
    'p:live-1:/route-cache/APP_PAGE/0123abcd/$/products/42',
    'p:old-0:/products/42',
  ])
  const byBuild = Object.fromEntries(r.json.entries.filter((e) => !e.key.includes('route-cache')).map((e) => [e.build, e]))
  assert.equal(byBuild['live-1'].freshness, 'fresh')
  assert.equal(byBuild['live-1'].buildLive, true)
  assert.equal(byBuild['old-0'].buildLive, false)
  assert.deepEqual(byBuild['live-1'].tags, ['product-42'])
  assert.ok(byBuild['live-1'].storedBytes > 0 && byBuild['live-1'].decodedBytes > 0)
  assert.ok(byBuild['live-1'].ttlMs > 7000 * 1000 - 60_000 && byBuild['live-1'].ttlMs <= 7200 * 1000)

  const rv = await cli(['revalidate', '--tag', 'product-42'])
  assert.equal(rv.code, 0, rv.err)
  const after = await cli(['inspect', 'p:live-1:/products/42', '--json'])
  assert.equal(after.json.entries[0].freshness, 'expired')
  // Every instance sees it too.
  assert.equal(await insts[1].get('/products/42', CTX), null)
})

test("inspect /: the home page, keyed '/index' by Next (both key forms), never a page at /index; its TTL in days and hours", async () => {
  const prefix = uniquePrefix('clihome')
  const H = api.createHandler({ redisUrl: redis.url, prefix, buildId: 'b1', heartbeatSeconds: 0 })
  const year = { cacheControl: { revalidate: 3600, expire: 365 * 86400 } }
  await new H({}).set('/index', route('home', 'home'), year)
  await new H({}).set('/route-cache/APP_PAGE/0123abcd/$/index', route('home-rc', 'home'), year)
  await new H({}).set('/index/index', route('a page at /index', 'index'), year)
  const run = (args) => cli(args, { SHARED_ISR_PREFIX: prefix })

  const home = await run(['inspect', '/', '--json'])
  assert.equal(home.code, 0, home.err)
  assert.deepEqual(home.json.entries.map((e) => e.key).sort(), ['p:b1:/index', 'p:b1:/route-cache/APP_PAGE/0123abcd/$/index'])
  const index = await run(['inspect', '/index', '--json'])
  assert.deepEqual(
    index.json.entries.map((e) => e.key),
    ['p:b1:/index/index'],
  )

  const text = await run(['inspect', '/'])
  assert.equal(text.code, 0, text.err)
  assert.doesNotMatch(text.out, /no entry/)
  assert.match(text.out, /TTL 364d 23h\n/, text.out)
  assert.doesNotMatch(text.out, /TTL \d+ ms/)
})

test('status with no data yet prints "-" for the invalidation lag, without a unit; --help describes every option', async () => {
  const empty = await cli(['status'], { SHARED_ISR_PREFIX: uniquePrefix('clinone') })
  assert.equal(empty.code, 0, empty.err)
  assert.match(empty.out, /invalidation lag - \(mean\)/, empty.out)
  assert.doesNotMatch(empty.out, /- ms/)

  const help = await cli(['--help'])
  assert.equal(help.code, 0)
  const options = help.out.split('\n\nOptions:\n')[1].trimEnd().split('\n')
  assert.ok(options.some((l) => l.startsWith('  -h, --help')))
  for (const l of options) assert.match(l, /^ {2}\S.*\S {2,}\S/, `an option without a description: ${JSON.stringify(l)}`)
})

test('builds and purge: old builds go, a live build is refused, a dry run deletes nothing', async () => {
  await setup()
  const b = await cli(['builds', '--json'])
  assert.equal(b.code, 0, b.err)
  const ids = Object.fromEntries(b.json.builds.map((x) => [x.id, x]))
  assert.equal(ids['old-0'].entries, 2)
  assert.equal(ids['old-0'].live, false)
  assert.equal(ids['live-1'].live, true)

  const refused = await cli(['purge', '--build', 'live-1', '--json'])
  assert.equal(refused.code, 1)
  assert.match(refused.json.refused, /live instance/)

  const dry = await cli(['purge', '--old-builds', '--dry-run', '--json'])
  assert.equal(dry.code, 0, dry.err)
  assert.equal(dry.json.matched, 2)
  assert.equal(dry.json.deleted, 0)

  const purged = await cli(['purge', '--old-builds', '--json'])
  assert.equal(purged.json.deleted, 2)
  assert.deepEqual(purged.json.builds, { 'old-0': 2 })
  const again = await cli(['builds', '--json'])
  assert.deepEqual(
    again.json.builds.map((x) => x.id),
    ['live-1'],
  )
})

test('doctor: a healthy deployment passes; an eviction policy that can evict the tag state fails it', async () => {
  await setup()
  const ok = await cli(['doctor', '--json'])
  assert.equal(ok.code, 0, ok.out + ok.err)
  assert.ok(ok.json.checks.some((c) => c.name === 'permissions' && c.ok))
  await redis.cmd('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
  try {
    const bad = await cli(['doctor'])
    assert.equal(bad.code, 1)
    assert.match(bad.out, /PROBLEM\s+eviction policy: maxmemory-policy is allkeys-lru/)
    const status = await cli(['status', '--json'])
    assert.ok(status.json.warnings.some((w) => /allkeys-lru/.test(w)))
  } finally {
    await redis.cmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
  }
})

test('bad usage and an unreachable Redis: clear messages, exit codes 2 and 1, no password printed', async () => {
  await setup()
  const usage = await cli(['purge'])
  assert.equal(usage.code, 2)
  assert.match(usage.err, /--build ID or --old-builds/)
  assert.equal((await cli(['frobnicate'])).code, 2)
  const none = await cli(['status'], { SHARED_ISR_REDIS_URL: '' })
  assert.equal(none.code, 2)
  assert.match(none.err, /no Redis URL/)
  const down = await cli(['status', '--json', '--timeout-ms', '300'], { SHARED_ISR_REDIS_URL: 'redis://user:hunter2@127.0.0.1:1' })
  assert.equal(down.code, 1)
  assert.match(down.json.error, /^ERR_SHARED_ISR_/)
  assert.doesNotMatch(down.out + down.err, /hunter2/)
  // Passwords with spaces, in any form, --json or not.
  for (const [url, args] of [
    ['redis://user:correct horse@127.0.0.1:1', ['status', '--json', '--timeout-ms', '300']],
    ['redis+sentinel://127.0.0.1:1/m?sentinelPassword=two words', ['status', '--timeout-ms', '300']],
  ]) {
    const r = await cli(args, { SHARED_ISR_REDIS_URL: url })
    assert.equal(r.code, 1, r.out + r.err)
    assert.doesNotMatch(r.out + r.err, /correct|horse|two|words/)
  }
})

test('doctor as an ACL user: the documented ops user passes; one without scripts is told what it lacks', async () => {
  await setup()
  const { aclLine } = require('./helpers/common')
  const CLI_EXTRA = ['+info', '+scan', '+unlink', '+pttl']
  await redis.cmd(...aclLine('ops', 'ops-secret', PREFIX, CLI_EXTRA))
  const noScripts = aclLine('noscript', 'ns-secret', PREFIX, CLI_EXTRA).filter((a) => a !== '+evalsha' && a !== '+eval')
  await redis.cmd(...noScripts)
  const url = (user, pw) => redis.url.replace('redis://', `redis://${user}:${pw}@`)
  const ok = await cli(['doctor', '--json'], { SHARED_ISR_REDIS_URL: url('ops', 'ops-secret') })
  assert.equal(ok.code, 0, ok.out + ok.err)
  const bad = await cli(['doctor'], { SHARED_ISR_REDIS_URL: url('noscript', 'ns-secret') })
  assert.equal(bad.code, 1, bad.out + bad.err)
  assert.match(bad.out, /PROBLEM\s+permissions: .*(NOPERM|permission)/i)
  assert.doesNotMatch(bad.out + bad.err, /ns-secret/)
})

/** Polls `status` under `prefix` until the fleet lists `build` (heartbeats are timers). */
async function untilLive(prefix, build) {
  for (const started = Date.now(); Date.now() - started < 15_000; await sleep(100)) {
    const s = await cli(['status', '--json'], { SHARED_ISR_PREFIX: prefix })
    if (s.json?.fleet?.builds?.includes(build)) return
  }
  assert.fail(`the fleet never listed build ${build}`)
}

test("a live build id with ':' is kept by purge --old-builds and named whole by inspect", async () => {
  const prefix = uniquePrefix('clicolon')
  const LIVE = 'rel-2024-06-01T12:30'
  const live = await startInstance({ redisUrl: redis.url, prefix, buildId: LIVE, heartbeatSeconds: 0.2, timeoutMs: 2000 })
  all.push(live)
  await live.set('/home', route('home', 'home'), SET)
  // A build no instance serves, whose id is a prefix of the live one's up to its ':'.
  const Old = api.createHandler({ redisUrl: redis.url, prefix, buildId: 'rel-2024-06-01T12', heartbeatSeconds: 0, l1MaxBytes: 0 })
  await new Old({}).set('/home', route('old', 'home'), SET)
  await untilLive(prefix, LIVE)

  const seen = await cli(['inspect', '/home', '--json'], { SHARED_ISR_PREFIX: prefix })
  assert.equal(seen.code, 0, seen.err)
  assert.deepEqual(seen.json.entries.map((e) => [e.build, e.buildLive]).sort(), [
    ['rel-2024-06-01T12', false],
    [LIVE, true],
  ])

  const purged = await cli(['purge', '--old-builds', '--json'], { SHARED_ISR_PREFIX: prefix })
  assert.equal(purged.code, 0, purged.err)
  assert.deepEqual(purged.json.kept, [LIVE])
  assert.deepEqual(purged.json.builds, { 'rel-2024-06-01T12': 1 })
  assert.equal(purged.json.deleted, 1)
  // The live build's page is still in Redis: a process without an L1 copy reads it.
  const Reader = api.createHandler({ redisUrl: redis.url, prefix, buildId: LIVE, heartbeatSeconds: 0, l1MaxBytes: 0 })
  const hit = await new Reader({}).get('/home', CTX)
  assert.equal(hit?.value?.body?.toString(), 'home', 'the live build lost its page')
  assert.equal(await new Old({}).get('/home', CTX), null, 'the old build was purged')
})

test("purge --build takes the id as written and never matches another build ('a' vs 'a:b')", async () => {
  const prefix = uniquePrefix('clibuild')
  const write = async (buildId, body) =>
    new (api.createHandler({ redisUrl: redis.url, prefix, buildId, heartbeatSeconds: 0 }))({}).set('/home', route(body, 'home'), SET)
  const run = (args) => cli([...args, '--json'], { SHARED_ISR_PREFIX: prefix })
  const entries = async () => Object.fromEntries((await run(['builds'])).json.builds.map((b) => [b.id, b.entries]))
  await write('a', 'of a')
  await write('a:b', 'of a:b')
  assert.deepEqual(await entries(), { a: 1, 'a:b': 1 })

  // inspect finds the entry of build a:b by its path and names its build whole.
  const seen = await run(['inspect', '/home'])
  assert.equal(seen.code, 0, seen.err)
  const byBuild = Object.fromEntries(seen.json.entries.map((e) => [e.build, e]))
  assert.deepEqual(Object.keys(byBuild).sort(), ['a', 'a:b'])
  assert.equal(byBuild['a:b'].kind, 'page')
  assert.equal(byBuild['a:b'].buildLive, false)
  // The key it prints is the one to inspect it by.
  const one = await run(['inspect', byBuild['a:b'].key])
  assert.deepEqual(
    one.json.entries.map((e) => e.build),
    ['a:b'],
  )
  const text = await cli(['inspect', byBuild['a:b'].key], { SHARED_ISR_PREFIX: prefix })
  assert.match(text.out, /page of build a:b \(not served\)/)

  const a = await run(['purge', '--build', 'a'])
  assert.equal(a.code, 0, a.err)
  assert.deepEqual(a.json.builds, { a: 1 })
  assert.deepEqual(await entries(), { 'a:b': 1 })

  await write('a', 'of a')
  const ab = await run(['purge', '--build', 'a:b'])
  assert.deepEqual(ab.json.builds, { 'a:b': 1 })
  assert.deepEqual(await entries(), { a: 1 })
})

test('bad --timeout-ms, --type, --path and --profile are usage errors (exit 2), recording nothing', async () => {
  await setup()
  for (const [args, said] of [
    [['status', '--timeout-ms', 'abc'], /--timeout-ms must be a whole number/],
    [['status', '--timeout-ms', '0'], /--timeout-ms must be a whole number/],
    [['revalidate', '--path', '/p', '--type', 'pages'], /type must be 'page' or 'layout'/],
    [['revalidate', '--path', 'no-slash'], /starting with '\/'/],
    [['revalidate', '--tag', 'cli-bad-profile', '--profile', 'forever'], /unknown profile "forever"/],
  ]) {
    const r = await cli(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`)
    assert.match(r.err, said, args.join(' '))
  }
})

test('status reads an instance summary written by anything: a summary whose builds is not a list does not crash it', async () => {
  await setup()
  const c = await redis.client()
  try {
    const index = `${PREFIX}{${PREFIX}}:fleet`
    const far = String(Date.now() + 60_000)
    await c.cmd(
      'SET',
      `${PREFIX}{${PREFIX}}:i:odd`,
      JSON.stringify({ id: 'odd', builds: 'rel-1', stats: 7, heartbeatAt: Date.now() }),
      'PX',
      '60000',
    )
    await c.cmd('ZADD', index, far, 'odd')
    const r = await cli(['status', '--json'])
    assert.equal(r.code, 0, r.err)
    const odd = r.json.instances.find((i) => i.id === 'odd')
    assert.deepEqual(odd.builds, [])
    const text = await cli(['status'])
    assert.equal(text.code, 0, text.err)
  } finally {
    c.close()
  }
})
