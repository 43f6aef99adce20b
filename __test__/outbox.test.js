'use strict'
// Revalidations Redis could not record (down, stalled): kept by the process, recorded once
// Redis answers, given their grace at close and at exit, and never lost without a word. The
// outbox is bounded in tags and in bytes, counted in tags, and a drop is logged once per streak.

const net = require('node:net')
const { spawn } = require('node:child_process')
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, waitFor, sleep } = require('./helpers/common')
const { RedisServer, freePort } = require('./helpers/redis')
const { runCli } = require('./helpers/cli')
const { redisSuite, LIB } = require('./helpers/suite')

const { api, redis } = redisSuite()

const MIB = 1024 * 1024
const FAST = { timeoutMs: 300, connectTimeoutMs: 300, heartbeatSeconds: 0 }

/** A logger keeping its lines: `{ level, fields, message }`. */
function recorder() {
  const lines = []
  const at = (level) => (fields, message) => lines.push({ level, fields, message })
  return { lines, info: at('info'), warn: at('warn'), error: at('error') }
}
const events = (logger, event) => logger.lines.filter((l) => l.fields.event === event)

const expiredStamp = async (prefix, tag) => redis.cmd('HGET', `${prefix}{${prefix}}:expired`, tag)

/** Stops the file's Redis (SIGSTOP: connections stay, nothing is answered) until `resume()`. */
function stall() {
  redis.proc.kill('SIGSTOP')
  let stopped = true
  return {
    resume() {
      if (stopped) redis.proc.kill('SIGCONT')
      stopped = false
    },
  }
}

/** `node -e code`, with its output as it comes: `until(re)` resolves once the output matches. */
function node(code) {
  const child = spawn(process.execPath, ['-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHARED_ISR_REDIS_URL: '' },
  })
  let out = ''
  const waiters = []
  const feed = (d) => {
    out += d
    for (const w of [...waiters]) if (w.re.test(out)) w.resolve(Date.now())
  }
  child.stdout.on('data', feed)
  child.stderr.on('data', feed)
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, out, at: Date.now() })
    }),
  )
  return {
    exited,
    until: (re) => new Promise((resolve) => (re.test(out) ? resolve(Date.now()) : waiters.push({ re, resolve }))),
  }
}

/** A child that makes three revalidations Redis cannot record (it is stopped), then exits. */
const exitingWithPending = (prefix) =>
  node(`
    const api = require(${JSON.stringify(LIB)})
    const opts = { redisUrl: ${JSON.stringify(redis.url)}, prefix: ${JSON.stringify(prefix)}, ...${JSON.stringify(FAST)} }
    ;(async () => {
      for (const t of ['a', 'b', 'c']) await api.revalidateTags([t], undefined, opts).catch((e) => console.log('kept', e.code))
      console.log('pending', api.stats(opts).revalidationsPending)
      console.log('exiting')
      process.exit(0)
    })()
  `)

test('at exit, revalidations kept during a stall get their grace: Redis answering 500 ms into it records all of them', async () => {
  const prefix = uniquePrefix('ox')
  const s = stall()
  try {
    const child = exitingWithPending(prefix)
    const exiting = await child.until(/exiting/)
    await sleep(500)
    s.resume()
    const r = await child.exited
    assert.match(r.out, /pending 3\b/, r.out)
    assert.equal(r.code, 0, r.out)
    for (const t of ['a', 'b', 'c']) assert.ok(await expiredStamp(prefix, t), `${t} recorded at exit\n${r.out}`)
    assert.doesNotMatch(r.out, /not recorded/)
    assert.ok(r.at - exiting >= 400, `the exit waited for Redis (${r.at - exiting} ms)`)
  } finally {
    s.resume()
  }
})

test('at exit, Redis stalled throughout: the exit takes its grace, then says what is lost', async () => {
  const prefix = uniquePrefix('ox')
  const s = stall()
  let r
  let exiting
  try {
    const child = exitingWithPending(prefix)
    exiting = await child.until(/exiting/)
    r = await child.exited
  } finally {
    s.resume()
  }
  assert.equal(r.code, 0, r.out)
  assert.ok(r.at - exiting >= 1500, `the grace was used (${r.at - exiting} ms)`)
  assert.match(r.out, /\[shared-isr\] 3 revalidation\(s\) of 3 tag\(s\) \["a","b","c"\] were not recorded before the process exited/, r.out)
})

test('close() records what is pending within its grace, and logs what it could not', async () => {
  const logger = recorder()
  const prefix = uniquePrefix('oc')
  const opts = { redisUrl: redis.url, prefix, logger, ...FAST }
  await api.revalidateTags(['warm'], undefined, opts)
  const s = stall()
  try {
    for (const t of ['p', 'q']) await assert.rejects(api.revalidateTags([t], undefined, opts), { code: /UNAVAILABLE|TIMEOUT/ })
    assert.equal(api.stats(opts).revalidationsPending, 2)
    const closing = api.close()
    await sleep(300)
    s.resume()
    await closing
  } finally {
    s.resume()
  }
  for (const t of ['p', 'q']) assert.ok(await expiredStamp(prefix, t), `${t} recorded at close`)
  assert.deepEqual(events(logger, 'revalidations_lost'), [])

  // Stalled throughout: given up on after the grace, and said so (with the tags, each cut short).
  const opts2 = { ...opts, prefix: uniquePrefix('oc') }
  await api.revalidateTags(['warm'], undefined, opts2)
  const s2 = stall()
  const long = `r${'x'.repeat(MIB)}`
  let took
  try {
    await assert.rejects(api.revalidateTags([long, 'r2'], undefined, opts2))
    const t0 = Date.now()
    await api.close()
    took = Date.now() - t0
  } finally {
    s2.resume()
  }
  assert.ok(took >= 1500, `the grace was used (${took} ms)`)
  const [lost, ...more] = events(logger, 'revalidations_lost')
  assert.equal(more.length, 0)
  assert.equal(lost.level, 'error')
  assert.deepEqual([lost.fields.revalidations, lost.fields.tags], [1, 2])
  assert.match(
    lost.message,
    /1 revalidation\(s\) of 2 tag\(s\) \["rx{59}\.\.\. \(1048577 chars\)","r2"\] were not recorded before the store was closed/,
  )
})

/** A port that resets every connection until `redisUp()` starts a real Redis there. */
async function resetting() {
  const port = await freePort()
  let attempts = 0
  const srv = net.createServer((s) => {
    attempts++
    s.destroy()
  })
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve))
  const server = new RedisServer(port)
  return {
    url: `redis://127.0.0.1:${port}`,
    attempts: () => attempts,
    async redisUp() {
      await new Promise((resolve) => srv.close(resolve))
      await server.start()
      return server
    },
    stop: () => (srv.listening ? new Promise((resolve) => srv.close(resolve)) : server.stop()),
  }
}

test('npx shared-isr revalidate while Redis fails: it waits, and records once Redis answers', async () => {
  const port = await resetting()
  try {
    const prefix = uniquePrefix('ocli')
    const cli = runCli(['revalidate', '--tag', 'late-tag', '--timeout-ms', '3000'], {
      SHARED_ISR_REDIS_URL: port.url,
      SHARED_ISR_PREFIX: prefix,
    })
    await waitFor(() => port.attempts() > 0, { what: 'the CLI trying Redis', intervalMs: 5, timeoutMs: 10_000 })
    await sleep(200)
    const server = await port.redisUp()
    const r = await cli
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /revalidated: tags late-tag; paths -.*recorded once Redis answered again/)
    assert.ok(await server.cmd('HGET', `${prefix}{${prefix}}:expired`, 'late-tag'), 'recorded')
  } finally {
    await port.stop()
  }
})

test('npx shared-isr revalidate with Redis down throughout: "not recorded", exit code 1', async () => {
  const url = `redis://127.0.0.1:${await freePort()}`
  const r = await runCli(['revalidate', '--tag', 'never', '--timeout-ms', '300'], {
    SHARED_ISR_REDIS_URL: url,
    SHARED_ISR_PREFIX: uniquePrefix('ocli'),
  })
  assert.equal(r.code, 1)
  assert.match(r.err, /not recorded: \["never"\]; Redis did not answer within 300 ms/)
  assert.doesNotMatch(r.err, /kept/)
})

test('the outbox counts tags, is bounded by tags (100k) and by bytes (16 MiB), drops oldest first, and logs a drop streak once', async () => {
  const port = await resetting()
  const logger = recorder()
  const opts = { redisUrl: port.url, prefix: uniquePrefix('ob'), logger, ...FAST, heartbeatSeconds: 60 }
  let server
  try {
    const many = (n, p) => Array.from({ length: n }, (_, i) => `${p}${i}`)
    await assert.rejects(api.revalidateTags(many(60_000, 'a'), undefined, opts))
    let s = api.stats(opts)
    assert.deepEqual([s.revalidationsPending, s.revalidationsDropped], [60_000, 0], 'counted in tags')
    await assert.rejects(api.revalidateTags(many(60_000, 'b'), undefined, opts))
    s = api.stats(opts)
    assert.deepEqual([s.revalidationsPending, s.revalidationsDropped], [60_000, 60_000], 'over 100k tags: the oldest dropped')
    assert.equal(events(logger, 'revalidations_dropped').length, 1)
    assert.match(events(logger, 'revalidations_dropped')[0].message, /60000 tag\(s\).*over 100000 tags or 16 MiB/)

    // Bytes: 1 MiB tags, 40 of them; 16 MiB hold 15 (the newest).
    for (let i = 0; i < 40; i++) {
      const err = await api.revalidateTags([`${i}:${'m'.repeat(MIB)}`], undefined, opts).catch((e) => e)
      assert.ok(err.message.length < 1000, `the message quotes the tag cut short (${err.message.length} chars)`)
    }
    s = api.stats(opts)
    assert.equal(s.revalidationsPending, 15)
    assert.equal(s.revalidationsDropped, 60_000 + 60_000 + 25)
    assert.equal(events(logger, 'revalidations_dropped').length, 1, 'one line for the whole streak')

    // In the fleet summary.
    const store = require('../lib/store')
      .allStores()
      .find((x) => x.config.prefix === opts.prefix)
    assert.equal(JSON.parse(store.heartbeat.summary()).stats.revalidationsDropped, 60_000 + 60_000 + 25)

    // Healthy again, then failing again: a new streak, a new line.
    server = await port.redisUp()
    await waitFor(() => api.stats(opts).revalidationsPending === 0, { what: 'the outbox recorded by itself' })
    assert.equal(api.stats(opts).revalidationsLate, 15, 'recorded late, in tags')
    await api.revalidateTags(['ok'], undefined, opts)
    await server.stop()
    for (let i = 0; i < 17; i++) await api.revalidateTags([`${i}:${'n'.repeat(MIB)}`], undefined, opts).catch(() => {})
    assert.equal(events(logger, 'revalidations_dropped').length, 2)
  } finally {
    await api.close()
    await port.stop()
    await server?.stop()
  }
})
