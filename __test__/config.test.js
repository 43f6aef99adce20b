'use strict'
// Configuration: environment fallbacks, validation with clear ERR_SHARED_ISR_CONFIG errors that
// name the setting and never echo a password, the in-memory fallback with exactly one notice,
// and Redis URLs with user/password and database.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { uniquePrefix, captureConsole, makeBuildDir } = require('./helpers/common')
const { startRedis, freePort } = require('./helpers/redis')
const { redisSuite } = require('./helpers/suite')

const { api, redis } = redisSuite()
const { resolveConfig } = require('../lib/config')

const ROOT = path.join(__dirname, '..')
const SECRET = 'hunter2-S3cr3t'

// A second server that wants a password (the suite's `redis` starts first and stops first).
let authRedis
before(async () => {
  authRedis = await startRedis()
  await authRedis.cmd('ACL', 'SETUSER', 'app', 'on', `>${SECRET}`, '~*', '&*', '+@all')
  await authRedis.cmd('CONFIG', 'SET', 'requirepass', SECRET)
})
after(async () => {
  await authRedis?.stop()
})

/** Runs a script in a fresh Node process with exactly `env` (plus PATH); returns its output. */
function runNode(script, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr, lines: (stdout + stderr).split('\n').filter(Boolean) })
    })
  })
}

const configError = (pattern) => (err) => {
  assert.equal(err.code, 'ERR_SHARED_ISR_CONFIG', `code of: ${err.message}`)
  assert.match(err.message, pattern)
  assert.ok(!err.message.includes(SECRET), `message leaks the password: ${err.message}`)
  return true
}

test('SHARED_ISR_REDIS_URL wins over REDIS_URL; REDIS_URL is the fallback; options win over both', () => {
  const a = 'redis://a:6379'
  const b = 'redis://b:6379'
  assert.equal(resolveConfig({}, { SHARED_ISR_REDIS_URL: a, REDIS_URL: b }).redisUrl, a)
  assert.equal(resolveConfig({}, { REDIS_URL: b }).redisUrl, b)
  assert.equal(resolveConfig({}, { SHARED_ISR_REDIS_URL: '', REDIS_URL: b }).redisUrl, b, 'an empty SHARED_ISR_REDIS_URL falls back')
  assert.equal(resolveConfig({ redisUrl: 'redis://opt:1' }, { SHARED_ISR_REDIS_URL: a, REDIS_URL: b }).redisUrl, 'redis://opt:1')
  assert.equal(resolveConfig({ redisUrl: null }, { SHARED_ISR_REDIS_URL: a }).redisUrl, undefined, 'null: explicitly no Redis')
  assert.equal(resolveConfig({}, {}).redisUrl, undefined)
})

test('other settings come from the environment when options leave them out', () => {
  const c = resolveConfig(
    {},
    {
      SHARED_ISR_PREFIX: 'app1:',
      SHARED_ISR_TIMEOUT_MS: '250',
      SHARED_ISR_CONNECT_TIMEOUT_MS: ' 400 ',
      SHARED_ISR_MEMORY_MAX_MB: '2',
      SHARED_ISR_MAX_VALUE_MB: '1.5',
      SHARED_ISR_DEFAULT_TTL_SECONDS: '86400',
      SHARED_ISR_BUILD_ID: 'env-build',
    },
  )
  assert.equal(c.prefix, 'app1:')
  assert.equal(c.timeoutMs, 250)
  assert.equal(c.connectTimeoutMs, 400)
  assert.equal(c.memoryMaxBytes, 2 * 1024 * 1024)
  assert.equal(c.maxValueBytes, 1.5 * 1024 * 1024)
  assert.equal(c.defaultTtlSeconds, 86400)
  assert.equal(c.buildId, 'env-build')
  assert.equal(resolveConfig({}, {}).prefix, 'shared-isr:', 'default prefix')
  const o = resolveConfig({ prefix: 'opt:', timeoutMs: 99 }, { SHARED_ISR_PREFIX: 'env:', SHARED_ISR_TIMEOUT_MS: '5' })
  assert.equal(o.prefix, 'opt:')
  assert.equal(o.timeoutMs, 99)
})

test('invalid values throw ERR_SHARED_ISR_CONFIG naming the setting, never the password', () => {
  const env = (e) => () => resolveConfig({}, e)
  const opt = (o) => () => resolveConfig(o, {})
  assert.throws(env({ SHARED_ISR_REDIS_URL: `http://user:${SECRET}@host:6379` }), configError(/redis/i))
  assert.throws(opt({ redisUrl: `https://:${SECRET}@host` }), configError(/redis/i))
  assert.throws(env({ REDIS_URL: `${SECRET}` }), configError(/redis/i))
  assert.throws(opt({ redisUrl: 6379 }), configError(/redisUrl/))
  assert.throws(opt({ prefix: 'my{app}:' }), configError(/prefix/))
  assert.throws(env({ SHARED_ISR_PREFIX: 'a}b' }), configError(/SHARED_ISR_PREFIX/))
  assert.throws(opt({ prefix: '' }), configError(/prefix/))
  assert.throws(env({ SHARED_ISR_TIMEOUT_MS: 'abc' }), configError(/SHARED_ISR_TIMEOUT_MS/))
  assert.throws(opt({ timeoutMs: 'abc' }), configError(/timeoutMs/))
  assert.throws(opt({ timeoutMs: 0 }), configError(/timeoutMs/))
  assert.throws(opt({ timeoutMs: 1.5 }), configError(/timeoutMs/))
  assert.throws(env({ SHARED_ISR_CONNECT_TIMEOUT_MS: '-1' }), configError(/SHARED_ISR_CONNECT_TIMEOUT_MS/))
  assert.throws(env({ SHARED_ISR_MAX_VALUE_MB: 'lots' }), configError(/SHARED_ISR_MAX_VALUE_MB/))
  assert.throws(env({ SHARED_ISR_MEMORY_MAX_MB: 'NaN' }), configError(/SHARED_ISR_MEMORY_MAX_MB/))
  assert.throws(opt({ maxValueBytes: 0 }), configError(/maxValueBytes/))
  assert.throws(env({ SHARED_ISR_DEFAULT_TTL_SECONDS: 'forever' }), configError(/SHARED_ISR_DEFAULT_TTL_SECONDS/))
  assert.throws(opt({ buildId: '' }), configError(/buildId/))
  assert.throws(() => resolveConfig('redis://x', {}), configError(/options/))
  // The environment takes plain decimal numbers: not hex, not an exponent, not a size no machine has.
  assert.throws(env({ SHARED_ISR_TIMEOUT_MS: '0x10' }), configError(/SHARED_ISR_TIMEOUT_MS must be a decimal integer/))
  assert.throws(env({ SHARED_ISR_MEMORY_MAX_MB: '1e300' }), configError(/SHARED_ISR_MEMORY_MAX_MB must be a decimal number/))
  assert.throws(env({ SHARED_ISR_MEMORY_MAX_MB: '2000000' }), configError(/SHARED_ISR_MEMORY_MAX_MB must be at most 1 TiB/))
  assert.throws(env({ SHARED_ISR_L1_MAX_MB: '9999999' }), configError(/SHARED_ISR_L1_MAX_MB must be at most 1 TiB/))
  assert.throws(opt({ tagCacheMaxBytes: 2 ** 41 }), configError(/tagCacheMaxBytes must be at most 1 TiB/))
  assert.equal(resolveConfig({}, { SHARED_ISR_TIMEOUT_MS: ' 16 ', SHARED_ISR_MEMORY_MAX_MB: '0.5' }).timeoutMs, 16)
})

test('URLs with the right scheme that redis cannot parse fail at store creation, without the password', () => {
  for (const url of [
    `redis://user:${SECRET}@host:notaport`,
    `redis://:${SECRET}@[::1`,
    `redis://user:${SECRET}@host:6379/notadb`,
    `rediss://user:${SECRET}@`,
  ]) {
    assert.throws(() => api.stats({ redisUrl: url, prefix: uniquePrefix('bad') }), configError(/redis URL/i), url)
  }
})

test('a bad configuration fails the build, and at run time turns caching off with one error line', async () => {
  const H = api.createHandler({ prefix: 'bad{prefix}' })
  const h = new H({ serverDistDir: makeBuildDir('x') }) // construction never throws
  const phase = process.env.NEXT_PHASE
  process.env.NEXT_PHASE = 'phase-production-build'
  try {
    await assert.rejects(h.get('/a', { kind: 'APP_PAGE' }), configError(/prefix/))
  } finally {
    if (phase === undefined) delete process.env.NEXT_PHASE
    else process.env.NEXT_PHASE = phase
  }
  const cap = captureConsole()
  try {
    assert.equal(await h.get('/a', { kind: 'APP_PAGE' }), null, 'a miss: the page renders')
    await h.set('/a', { kind: 'APP_ROUTE', body: Buffer.from('x'), status: 200, headers: {} }, { revalidate: 1 })
    assert.equal(await h.get('/a', { kind: 'APP_ROUTE' }), null)
    await assert.rejects(h.revalidateTag('t'), (err) => err.code === 'ERR_SHARED_ISR_CONFIG')
  } finally {
    cap.restore()
  }
  const errors = cap.lines.error.filter((l) => l.includes('[shared-isr]'))
  assert.equal(errors.length, 1, errors.join('\n'))
  assert.match(errors[0], /prefix/)
})

test('valid URLs construct a Redis store without connecting: rediss://, user:password, database', () => {
  for (const url of [`rediss://user:${SECRET}@cache.invalid:6380/2`, 'redis://cache.invalid', `redis://:${SECRET}@cache.invalid:1/15`]) {
    assert.equal(api.stats({ redisUrl: url, prefix: uniquePrefix('ok') }).store, 'redis', url)
  }
})

test('user/password (ACL) and a database number in the URL are used', async () => {
  const prefix = uniquePrefix('auth')
  const H = api.createHandler({ redisUrl: `redis://app:${SECRET}@127.0.0.1:${authRedis.port}/3`, prefix, buildId: 'b' })
  await new H({}).set('/auth', { kind: 'APP_ROUTE', body: Buffer.from('ok'), status: 200, headers: {} }, { revalidate: 60 })
  assert.equal((await new H({}).get('/auth', { kind: 'APP_ROUTE' })).value.body.toString(), 'ok')
  await new H({}).revalidateTag('t')
  const c = await authRedis.client()
  try {
    await c.cmd('AUTH', 'app', SECRET)
    await c.cmd('SELECT', '3')
    assert.ok((await c.cmd('KEYS', `${prefix}*`)).length >= 2, 'entry and manifest in database 3')
    await c.cmd('SELECT', '0')
    assert.equal((await c.cmd('KEYS', `${prefix}*`)).length, 0, 'nothing in database 0')
  } finally {
    c.close()
  }
  const P = api.createHandler({ redisUrl: `redis://:${SECRET}@127.0.0.1:${authRedis.port}`, prefix: uniquePrefix('pw'), buildId: 'b' })
  await new P({}).set('/pw', { kind: 'APP_ROUTE', body: Buffer.from('pw'), status: 200, headers: {} }, { revalidate: 60 })
  assert.equal((await new P({}).get('/pw', { kind: 'APP_ROUTE' })).value.body.toString(), 'pw', 'password-only URL (default user)')
})

test('a wrong password: misses and a rejected revalidation, and no log line or error shows the password', async () => {
  const wrong = `${SECRET}-wrong`
  const options = { redisUrl: `redis://app:${wrong}@127.0.0.1:${authRedis.port}`, prefix: uniquePrefix('wrong'), timeoutMs: 1000 }
  const H = api.createHandler(options)
  const cap = captureConsole()
  let err
  try {
    assert.equal(await new H({}).get('/x', { kind: 'APP_PAGE' }), null)
    await new H({}).set('/x', { kind: 'APP_ROUTE', body: Buffer.from('x'), status: 200, headers: {} }, { revalidate: 1 })
    err = await new H({}).revalidateTag('t').then(
      () => null,
      (e) => e,
    )
  } finally {
    cap.restore()
  }
  assert.ok(err, 'revalidateTag rejects')
  assert.match(err.code, /^ERR_SHARED_ISR_/)
  const text = [...cap.all(), err.message, String(err.cause?.message)].join('\n')
  assert.ok(!text.includes(SECRET), `password leaked:\n${text}`)
  assert.ok(cap.lines.warn.length >= 1, 'the failure is logged')
  assert.match(text, /WRONGPASS|auth|password/i, 'and says why')
})

test('the secret of every URL form, spaces included, never shows: printed config, redactSecrets, the start-up line', () => {
  const { inspect } = require('node:util')
  const { redactSecrets } = require('../lib/native')
  const { getStore } = require('../lib/store')
  // [url, the words of its secrets, how it is shown]
  const forms = [
    ['redis://:correct horse battery@127.0.0.1:1', ['correct', 'horse', 'battery'], 'redis://***@127.0.0.1:1'],
    ['rediss://app:s%40cr%3At@127.0.0.1:1/2', ['s%40cr', '3At'], 'rediss://***@127.0.0.1:1/2'],
    ['redis+cluster://127.0.0.1:1,u:hunter2@127.0.0.1:2', ['hunter2'], 'redis+cluster://***@127.0.0.1:2'],
    ['redis+sentinel://127.0.0.1:1/m?sentinelPassword=two words', ['two', 'words'], 'redis+sentinel://127.0.0.1:1/m?sentinelPassword=***'],
    [
      'rediss+sentinel://u:hunter2@127.0.0.1:1,127.0.0.1:2/m?sentinelUsername=adm&sentinelPassword=zebra%20crossing',
      ['hunter2', 'zebra', 'crossing'],
      'rediss+sentinel://***@127.0.0.1:1,127.0.0.1:2/m?sentinelUsername=adm&sentinelPassword=***',
    ],
  ]
  for (const [url, words, shown] of forms) {
    const config = resolveConfig({ redisUrl: url }, {})
    assert.equal(config.redisUrl, url, 'the config itself keeps the URL')
    assert.equal(config.toJSON().redisUrl, shown)
    const lines = []
    const logger = { info: (f, m) => lines.push(`${JSON.stringify(f)} ${m}`), warn() {}, error() {} }
    const store = getStore({ redisUrl: url, prefix: uniquePrefix('shown'), logger })
    store.close()
    assert.equal(lines.length, 1, lines.join('\n'))
    assert.ok(lines[0].includes(`Using the Redis store at ${shown} `), lines[0])
    const texts = {
      json: JSON.stringify(config),
      inspect: inspect(config),
      console: inspect({ nested: [config] }, { depth: 5 }),
      redactSecrets: redactSecrets(`connecting to ${url} failed: refused`),
      log: lines[0],
    }
    for (const [where, text] of Object.entries(texts)) {
      for (const word of words) assert.ok(!text.includes(word), `${where} shows "${word}" of ${url}: ${text}`)
    }
    assert.ok(texts.redactSecrets.startsWith('connecting to '), texts.redactSecrets)
  }
})

test('no URL anywhere: the in-memory store, with exactly one notice line per process', async () => {
  const script = `
    const api = require('./lib/index')
    ;(async () => {
      const A = api.createHandler({ prefix: 'one:' })
      const B = api.createHandler({ prefix: 'two:' })
      const D = require('./lib/handler-default')
      for (const H of [A, B, D, A]) {
        const h = new H({})
        await h.set('/m', { kind: 'APP_ROUTE', body: Buffer.from('m'), status: 200, headers: {} }, { revalidate: 60 })
        if ((await h.get('/m', { kind: 'APP_ROUTE' })).value.body.toString() !== 'm') throw new Error('memory store lost it')
        await h.revalidateTag('t')
      }
      console.log('STORE=' + api.stats({ prefix: 'one:' }).store)
    })().catch((e) => { console.error('FAILED', e); process.exit(1) })
  `
  const r = await runNode(script, {})
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.ok(r.lines.includes('STORE=memory'))
  const notices = r.lines.filter((l) => l.includes('[shared-isr]'))
  assert.equal(notices.length, 1, notices.join('\n'))
  assert.match(notices[0], /in-memory/)
})

test('a Redis URL: exactly one line per store naming it, host shown, password never', async () => {
  const prefix = uniquePrefix('ready')
  const script = `
    const api = require('./lib/index')
    const fields = []
    const logger = { info: (f) => fields.push(f), warn: (f) => fields.push(f), error: (f) => fields.push(f) }
    ;(async () => {
      const A = api.createHandler({})
      const D = require('./lib/handler-default')
      for (const H of [A, D, A]) {
        const h = new H({})
        await h.set('/r', { kind: 'APP_ROUTE', body: Buffer.from('r'), status: 200, headers: {} }, { revalidate: 60 })
        if ((await h.get('/r', { kind: 'APP_ROUTE' })).value.body.toString() !== 'r') throw new Error('lost it')
        await h.revalidateTag('t')
      }
      await api.revalidateTags('t')
      api.stats()
      // Another store (another prefix) says so too, through its logger.
      await api.revalidateTags('t', undefined, { prefix: process.env.SHARED_ISR_PREFIX + 'two:', logger })
      console.log('FIELDS=' + JSON.stringify(fields))
      await api.close()
    })().catch((e) => { console.error('FAILED', e); process.exit(1) })
  `
  const url = `redis://app:${SECRET}@127.0.0.1:${authRedis.port}/3`
  const r = await runNode(script, { SHARED_ISR_REDIS_URL: url, SHARED_ISR_PREFIX: prefix })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.ok(!(r.stdout + r.stderr).includes(SECRET), `password leaked:\n${r.stdout}${r.stderr}`)
  const lines = r.lines.filter((l) => l.includes('[shared-isr]'))
  assert.equal(lines.length, 1, lines.join('\n'))
  assert.match(lines[0], new RegExp(`Redis store at redis://\\*+@127\\.0\\.0\\.1:${authRedis.port}/3 \\(prefix "${prefix}"\\)`))
  const fields = JSON.parse(r.lines.find((l) => l.startsWith('FIELDS=')).slice(7))
  assert.deepEqual(fields, [
    { name: 'shared-isr', event: 'redis_store', store: 'redis', url: `redis://***@127.0.0.1:${authRedis.port}/3`, prefix: `${prefix}two:` },
  ])
})

test('end to end from the environment: SHARED_ISR_REDIS_URL over REDIS_URL, SHARED_ISR_PREFIX, shared-isr/handler', async () => {
  const dead = `redis://127.0.0.1:${await freePort()}`
  const prefix = uniquePrefix('env')
  const script = `
    const H = require('shared-isr/handler')
    ;(async () => {
      const h = new H({})
      await h.set('/env', { kind: 'APP_ROUTE', body: Buffer.from('env'), status: 200, headers: {} }, { revalidate: 60 })
      const hit = await h.get('/env', { kind: 'APP_ROUTE' })
      console.log('GOT=' + (hit && hit.value.body.toString()))
    })().catch((e) => { console.error('FAILED', e); process.exit(1) })
  `
  const r = await runNode(script, {
    SHARED_ISR_REDIS_URL: redis.url,
    REDIS_URL: dead,
    SHARED_ISR_PREFIX: prefix,
    SHARED_ISR_BUILD_ID: 'envb',
    SHARED_ISR_TIMEOUT_MS: '500',
  })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.ok(r.lines.includes('GOT=env'), r.stdout + r.stderr)
  const keys = await redis.cmd('KEYS', `${prefix}*`)
  assert.deepEqual(keys, [`${prefix}e:p:envb:/env`])

  const prefix2 = uniquePrefix('env2')
  const r2 = await runNode(script, { REDIS_URL: redis.url, SHARED_ISR_PREFIX: prefix2 })
  assert.ok(r2.lines.includes('GOT=env'), r2.stdout + r2.stderr)
  assert.equal((await redis.cmd('KEYS', `${prefix2}*`)).length, 1, 'REDIS_URL alone is used')
})

test('settings left out get the addon defaults; codes are classified by the addon', () => {
  const { DEFAULTS, CONNECTIVITY, STORE_HEALTH } = require('../lib/native')
  const c = resolveConfig({}, {})
  for (const [key, value] of Object.entries(DEFAULTS)) assert.equal(c[key], value, key)
  assert.equal(c.l1MaxBytes, 64 * 1024 * 1024)
  assert.equal(c.defaultTtlSeconds, 31536000)
  assert.equal(resolveConfig({ l1MaxBytes: 0 }, {}).l1MaxBytes, 0, 'an explicit 0 is kept')
  assert.deepEqual([...CONNECTIVITY].sort(), ['ERR_SHARED_ISR_TIMEOUT', 'ERR_SHARED_ISR_UNAVAILABLE'])
  assert.deepEqual([...STORE_HEALTH].sort(), ['ERR_SHARED_ISR_REDIS', 'ERR_SHARED_ISR_TIMEOUT', 'ERR_SHARED_ISR_UNAVAILABLE'])
  assert.throws(
    () => resolveConfig({}, { SHARED_ISR_MAX_STALENESS_MS: '10' }),
    configError(/^SHARED_ISR_MAX_STALENESS_MS must be between 50/),
  )
})
