'use strict'
// Redis down, unreachable, hanging, killed and restarted, paused: get is a bounded-latency
// miss, set resolves and logs, revalidateTag rejects with a stable code, one log line per
// change of health (not per call), and the handler recovers by itself.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, captureConsole, timed, waitFor, sleep, assertMiss } = require('./helpers/common')
const { startBlackHole, freePort } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')
const { fetchKey } = require('./helpers/values')

let console_
const { api, redis } = redisSuite({ teardown: () => console_?.restore() })

const TIMEOUT_MS = 300
const SLACK_MS = 700 // scheduling on a loaded 2-core machine
const BOUND_MS = TIMEOUT_MS + SLACK_MS
const CODES = ['ERR_SHARED_ISR_UNAVAILABLE', 'ERR_SHARED_ISR_TIMEOUT']

const route = (s = 'x', tags = 'res') => ({ kind: 'APP_ROUTE', body: Buffer.from(s), status: 200, headers: { 'x-next-cache-tags': tags } })
const ROUTE_CTX = { kind: 'APP_ROUTE', isFallback: false }
const SET_CTX = { cacheControl: { revalidate: 60, expire: 3600 } }
const FETCH_GET = { kind: 'FETCH', revalidate: 60, tags: ['t'], softTags: ['_N_T_/layout'] }

const optionsFor = (url, extra = {}) => ({
  redisUrl: url,
  prefix: uniquePrefix('res'),
  buildId: 'r',
  timeoutMs: TIMEOUT_MS,
  connectTimeoutMs: TIMEOUT_MS,
  ...extra,
})
const warnings = (cap) => cap.lines.warn.filter((l) => l.includes('[shared-isr]'))

/** Every operation against a broken Redis: bounded miss, resolving set, rejecting revalidation. */
async function assertDegraded(H, label) {
  for (let i = 0; i < 3; i++) {
    const [hit, ms] = await timed(() => new H({}).get('/down', ROUTE_CTX))
    assert.equal(hit, null, `${label}: get is a miss`)
    assert.ok(ms < BOUND_MS, `${label}: get took ${ms.toFixed(0)} ms (bound ${BOUND_MS})`)
    const [fhit, fms] = await timed(() => new H({}).get(fetchKey('down'), FETCH_GET))
    assert.equal(fhit, null)
    assert.ok(fms < BOUND_MS, `${label}: fetch get took ${fms.toFixed(0)} ms`)
  }
  const [, setMs] = await timed(() => new H({}).set('/down', route(), SET_CTX)) // must not throw
  assert.ok(setMs < BOUND_MS, `${label}: set took ${setMs.toFixed(0)} ms`)
  await new H({}).set(
    fetchKey('down'),
    { kind: 'FETCH', data: { headers: {}, body: '', url: '' }, revalidate: 1 },
    { fetchCache: true, tags: [] },
  )
  const [err, revMs] = await timed(() =>
    new H({}).revalidateTag(['res', 'other']).then(
      () => null,
      (e) => e,
    ),
  )
  assert.ok(err instanceof Error, `${label}: revalidateTag must reject, never resolve silently`)
  assert.ok(CODES.includes(err.code), `${label}: err.code ${err.code}`)
  assert.match(err.message, /\S{10}/)
  assert.match(err.message, /res/, 'the message names the tags')
  assert.ok(revMs < BOUND_MS, `${label}: revalidateTag took ${revMs.toFixed(0)} ms`)
}

test('nothing listening on the port: bounded misses, set resolves, revalidateTag rejects', async () => {
  const cap = captureConsole()
  console_ = cap
  try {
    const options = optionsFor(`redis://127.0.0.1:${await freePort()}`)
    const H = api.createHandler(options)
    await assertDegraded(H, 'refused')
    const s = api.stats(options)
    assert.ok(s.getErrors >= 6, `getErrors ${s.getErrors}`)
    assert.ok(s.revalidationErrors >= 1)
    assert.equal(s.store, 'redis')
    // The programmatic API rejects too.
    await assert.rejects(api.revalidateTags('x', undefined, options), (e) => CODES.includes(e.code))
    await assert.rejects(api.revalidatePath('/x', undefined, options), (e) => CODES.includes(e.code))
  } finally {
    cap.restore()
  }
  const w = warnings(cap)
  assert.equal(w.length, 1, `one line for the whole outage, got:\n${w.join('\n')}`)
  assert.match(w[0], /ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)/)
})

test('a server that accepts and never answers: bounded misses, and one log line for the whole outage', async () => {
  const hole = await startBlackHole()
  const cap = captureConsole()
  console_ = cap
  try {
    const options = optionsFor(hole.url)
    const H = api.createHandler(options)
    await assertDegraded(H, 'black hole')
    // Keep calling for a while, as a busy server would, across several breaker probes.
    const deadline = Date.now() + 2500
    while (Date.now() < deadline) {
      const [hit, ms] = await timed(() => new H({}).get('/hole', ROUTE_CTX))
      assert.equal(hit, null)
      assert.ok(ms < BOUND_MS, `get took ${ms.toFixed(0)} ms`)
      await sleep(50)
    }
  } finally {
    cap.restore()
    await hole.close()
  }
  const w = warnings(cap)
  assert.equal(w.length, 1, `one log line per change of health, not per probe; got ${w.length}:\n${w.join('\n')}`)
})

test('redis killed mid-test: degraded while down, healthy again by itself soon after a restart on the same port', async () => {
  const options = optionsFor(redis.url)
  const H = api.createHandler(options)
  await new H({}).set('/k', route('before'), SET_CTX)
  assert.equal((await new H({}).get('/k', ROUTE_CTX)).value.body.toString(), 'before')

  const cap = captureConsole()
  console_ = cap
  try {
    await redis.kill()
    await assertDegraded(H, 'killed')
    assert.equal(warnings(cap).length, 1, warnings(cap).join('\n'))

    await redis.start() // same port, empty
    const restarted = Date.now()
    await waitFor(
      async () => {
        await new H({}).set('/k', route('after'), SET_CTX)
        return (await new H({}).get('/k', ROUTE_CTX))?.value?.body?.toString() === 'after'
      },
      { timeoutMs: 6000, intervalMs: 50, what: 'recovery after restart' },
    )
    const recoveredIn = Date.now() - restarted
    assert.ok(recoveredIn < 3000, `recovered ${recoveredIn} ms after the restart`)

    await sleep(2)
    await new H({}).revalidateTag('res') // works again
    assertMiss(await new H({}).get('/k', ROUTE_CTX))
  } finally {
    cap.restore()
  }
  assert.equal(warnings(cap).length, 1, `still one warning:\n${warnings(cap).join('\n')}`)
  assert.equal(cap.lines.info.filter((l) => /healthy again/.test(l)).length, 1, 'one line when it recovers')
  const s = api.stats(options)
  assert.equal(s.circuitOpen, false)
  assert.equal(s.redisFailures, 0)
})

test('DEBUG SLEEP (Redis hangs for 2 s): bounded misses and a rejected revalidation, then recovery', async () => {
  const options = optionsFor(redis.url)
  const H = api.createHandler(options)
  await new H({}).set('/slow', route('slow'), SET_CTX)
  const blocker = await redis.client()
  const cap = captureConsole()
  console_ = cap
  try {
    const sleeping = blocker.cmd('DEBUG', 'SLEEP', '2')
    await sleep(50)
    await assertDegraded(H, 'DEBUG SLEEP')
    await sleeping
    // (The failed revalidation of 'res' still applies locally, so recover with another key.)
    await waitFor(
      async () => {
        await new H({}).set('/slow-after', route('after', 'untouched'), SET_CTX)
        return (await new H({}).get('/slow-after', ROUTE_CTX))?.value?.body?.toString() === 'after'
      },
      { timeoutMs: 6000, what: 'recovery after DEBUG SLEEP' },
    )
  } finally {
    cap.restore()
    blocker.close()
  }
})

test('CLIENT PAUSE: bounded reads while paused (the L1 copy, or a miss without L1), everything works after', async () => {
  const options = optionsFor(redis.url)
  const H = api.createHandler(options)
  const noL1 = api.createHandler({ ...options, l1MaxBytes: 0 })
  await new H({}).set('/paused', route('p'), SET_CTX)
  assert.ok(await new H({}).get('/paused', ROUTE_CTX))
  assert.ok(await new noL1({}).get('/paused', ROUTE_CTX))
  const cap = captureConsole()
  console_ = cap
  try {
    await redis.cmd('CLIENT', 'PAUSE', '1500', 'ALL')
    const started = Date.now()
    const [local, localMs] = await timed(() => new H({}).get('/paused', ROUTE_CTX))
    assert.equal(local?.value?.body?.toString(), 'p', 'the local copy is served while Redis stalls')
    assert.ok(localMs < BOUND_MS, `get took ${localMs.toFixed(0)} ms`)
    const [hit, ms] = await timed(() => new noL1({}).get('/paused', ROUTE_CTX))
    assert.equal(hit, null)
    assert.ok(ms < BOUND_MS, `get took ${ms.toFixed(0)} ms`)
    await new H({}).set('/paused2', route(), SET_CTX)
    await assert.rejects(new H({}).revalidateTag('res'), (e) => CODES.includes(e.code))
    await sleep(Math.max(0, 1600 - (Date.now() - started)))
    await waitFor(
      async () => {
        await new H({}).set('/paused-after', route('after', 'untouched'), SET_CTX)
        return (await new H({}).get('/paused-after', ROUTE_CTX))?.value?.body?.toString() === 'after'
      },
      { timeoutMs: 6000, what: 'recovery after CLIENT PAUSE' },
    )
  } finally {
    cap.restore()
  }
})

test('a revalidation Redis refuses (WRONGTYPE under a manifest key) rejects with ERR_SHARED_ISR_REDIS', async () => {
  const options = optionsFor(redis.url, { timeoutMs: 2000 })
  const H = api.createHandler(options)
  await new H({}).revalidateTag('setup') // creates the manifest keys
  const logKey = (await redis.cmd('KEYS', `${options.prefix}*`)).find((k) => k.endsWith(':log'))
  assert.ok(logKey, 'manifest log key exists')
  await redis.cmd('DEL', logKey)
  await redis.cmd('SET', logKey, 'not a sorted set')
  const cap = captureConsole()
  try {
    await assert.rejects(new H({}).revalidateTag('x'), (e) => e.code === 'ERR_SHARED_ISR_REDIS' && /x/.test(e.message))
  } finally {
    cap.restore()
  }
})

test('a failed set is logged once (it never throws), and counted', async () => {
  const options = optionsFor(`redis://127.0.0.1:${await freePort()}`)
  const H = api.createHandler(options)
  const cap = captureConsole()
  try {
    for (let i = 0; i < 5; i++) await new H({}).set(`/s/${i}`, route(), SET_CTX)
  } finally {
    cap.restore()
  }
  const w = warnings(cap)
  assert.equal(w.length, 1, w.join('\n'))
  assert.match(w[0], /set failed/)
  assert.ok(api.stats(options).setErrors >= 1)
})

test('a down Redis never affects the memory store', async () => {
  const H = api.createHandler({ prefix: uniquePrefix('memok') })
  await new H({}).set('/m', route('m'), SET_CTX)
  assert.equal((await new H({}).get('/m', ROUTE_CTX)).value.body.toString(), 'm')
  await new H({}).revalidateTag('res')
  assertMiss(await new H({}).get('/m', ROUTE_CTX))
})
