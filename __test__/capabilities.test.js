'use strict'
// A Redis that refuses what the package uses, as managed services and restricted ACLs do:
// CLIENT TRACKING refused (optional: the cache works without local copies, and says so once),
// scripting refused (essential: said loudly at start-up, in `doctor` and during `next build`).
// Real redis-server, real ACL users.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, runNode, assertMiss } = require('./helpers/common')
const { startInstance } = require('./helpers/instances')
const { runCli } = require('./helpers/cli')
const { redisSuite, LIB } = require('./helpers/suite')

const instances = []
const { api, redis } = redisSuite({ teardown: () => Promise.all(instances.map((i) => i.stop())) })
const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const route = (body, tag) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': tag } })
const as = (user, pw) => redis.url.replace('redis://', `redis://${user}:${pw}@`)

/** A logger that keeps its lines. */
function recorder() {
  const lines = []
  const at = (level) => (fields, message) => lines.push({ level, ...fields, message })
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } }
}

test('CLIENT TRACKING refused: get, set and revalidate work from Redis, no stale copy, said once; health, metrics and doctor show it', async () => {
  await redis.cmd('ACL', 'SETUSER', 'notrack', 'on', '>nt-pw', '~*', '&*', '+@all', '-client|tracking')
  const prefix = uniquePrefix('notrack')
  const url = as('notrack', 'nt-pw')
  const { lines, logger } = recorder()
  const options = { redisUrl: url, prefix, heartbeatSeconds: 0, logger }
  const H = api.createHandler(options)
  const other = await startInstance({ redisUrl: url, prefix, heartbeatSeconds: 0 })
  instances.push(other)

  await new H({}).set('/p', route('v1', 'product'), SET)
  for (let i = 0; i < 3; i++) {
    const hit = await new H({}).get('/p', CTX)
    assert.equal(hit?.value?.body?.toString(), 'v1', `read ${i}: a hit, from Redis`)
  }
  // Another process writes: the very next read sees it (no copy kept that could be stale).
  await other.set('/p', route('v2', 'product'), SET)
  assert.equal((await new H({}).get('/p', CTX))?.value?.body?.toString(), 'v2')
  // A revalidation by another process: seen at once.
  await other.revalidateTag(['product'])
  assertMiss(await new H({}).get('/p', CTX), "another process's revalidation is seen at once")
  await new H({}).set('/p', route('v3', 'product'), SET)
  assert.equal((await new H({}).get('/p', CTX))?.value?.body?.toString(), 'v3')
  await api.revalidateTags(['product'], undefined, options)
  assertMiss(await new H({}).get('/p', CTX), 'our own revalidation expires it')

  const s = api.stats(options)
  assert.equal(s.l1Hits, 0, 'no hit from a local copy')
  assert.equal(s.l1Entries, 0, 'no copy kept')
  assert.ok(s.hits >= 5, `hits from Redis: ${s.hits}`)
  assert.equal(s.getErrors, 0)
  assert.equal(s.setErrors, 0)
  assert.equal(s.trackingRefused, true)

  const said = lines.filter((l) => l.event === 'tracking_refused')
  assert.equal(said.length, 1, JSON.stringify(lines))
  assert.equal(said[0].level, 'warn')
  assert.match(
    said[0].message,
    /CLIENT TRACKING is not allowed for this user\/service.*L1\) is off; every hit reads Redis.*\+client\|tracking/,
  )
  assert.ok(!lines.some((l) => l.event === 'store_failing'), JSON.stringify(lines))

  const h = api.health(options)
  assert.equal(h.status, 'ok')
  assert.equal(h.tracking, false)
  assert.equal(h.scripting, true)
  assert.equal(h.mode, 'untracked')
  assert.match(h.problems[0], /\+client\|tracking/)

  assert.match(api.metricsText(), /^shared_isr_tracking_refused 1$/m)
  assert.match(api.metricsText(), /^shared_isr_scripting_refused 0$/m)

  const doctor = await runCli(['doctor'], { SHARED_ISR_REDIS_URL: url, SHARED_ISR_PREFIX: prefix })
  assert.match(doctor.out, /WARNING\s+client tracking: CLIENT TRACKING is not allowed.*\+client\|tracking/)
  assert.match(doctor.out, /ok\s+scripting/)
  assert.doesNotMatch(doctor.out + doctor.err, /nt-pw/)
})

test('tracking allowed: health and metrics say so, nothing is logged about it', async () => {
  const prefix = uniquePrefix('track')
  const { lines, logger } = recorder()
  const options = { redisUrl: redis.url, prefix, heartbeatSeconds: 0, logger }
  const H = api.createHandler(options)
  await new H({}).set('/p', route('v1', 'product'), SET)
  await new H({}).get('/p', CTX)
  assert.equal((await new H({}).get('/p', CTX))?.value?.body?.toString(), 'v1')
  assert.ok(api.stats(options).l1Hits >= 1, 'the L1 serves')
  const h = api.health(options)
  assert.equal(h.tracking, true)
  assert.equal(h.mode, 'tracked')
  assert.deepEqual(h.problems, [])
  assert.ok(!lines.some((l) => /refused/.test(l.event ?? '')), JSON.stringify(lines))
})

test('scripting refused: an error line with the ACL fix at start-up, degraded health, doctor PROBLEM, and next build says it too', async () => {
  await redis.cmd('ACL', 'SETUSER', 'noscripts', 'on', '>ns-pw', '~*', '&*', '+@all', '-@scripting')
  const prefix = uniquePrefix('noscripts')
  const url = as('noscripts', 'ns-pw')
  const { lines, logger } = recorder()
  const options = { redisUrl: url, prefix, heartbeatSeconds: 0, logger }
  const H = api.createHandler(options)
  await new H({}).set('/p', route('v1', 'product'), SET)
  await new H({}).get('/p', CTX)
  await new H({}).get('/p', CTX)
  const said = lines.filter((l) => l.event === 'scripting_refused')
  assert.equal(said.length, 1, JSON.stringify(lines))
  assert.equal(said[0].level, 'error')
  assert.match(said[0].message, /NOTHING IS CACHED.*\+@scripting.*\+evalsha \+eval \+script\|load/)
  const h = api.health(options)
  assert.equal(h.status, 'degraded')
  assert.equal(h.scripting, false)
  assert.match(api.metricsText(), /^shared_isr_scripting_refused 1$/m)

  const doctor = await runCli(['doctor'], { SHARED_ISR_REDIS_URL: url, SHARED_ISR_PREFIX: prefix })
  assert.equal(doctor.code, 1)
  assert.match(doctor.out, /PROBLEM\s+scripting: Lua scripting is not allowed.*\+@scripting.*\+evalsha \+eval \+script\|load/)
  assert.doesNotMatch(doctor.out + doctor.err, /ns-pw/)

  // `next build` with the URL set: the store is made and said to be unusable; the build goes on.
  const build = await runNode(`
    process.env.NEXT_PHASE = 'phase-production-build'
    const api = require(${JSON.stringify(LIB)})
    const H = api.createHandler({ redisUrl: ${JSON.stringify(url)}, prefix: ${JSON.stringify(prefix)} })
    new H({}).set('/b', { kind: 'APP_ROUTE', body: Buffer.from('b'), status: 200, headers: {} }, { cacheControl: { revalidate: 60 } })
      .then(() => new Promise((r) => setTimeout(r, 500)))
      .then(() => api.close())
      .then(() => console.log('build done'))
  `)
  assert.equal(build.code, 0, build.out)
  assert.match(build.out, /build done/)
  assert.match(build.out, /Lua scripting is not allowed.*\+@scripting/)
  assert.doesNotMatch(build.out, /ns-pw/)
})
