'use strict'
// withSharedIsr (shared-isr/next-config): the config it produces for each Next version (found
// from the app's node_modules/next/package.json), refusal of a foreign handler and of secrets
// in options, config functions, user settings kept, and the way options reach the handlers
// (SHARED_ISR_OPTIONS, or the config a standalone server.js publishes).

const { test, beforeEach } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { withSharedIsr, nextVersion, HANDLER, USE_CACHE } = require('../lib/next-config')
const { nextConfigOptions } = require('../lib/next-options')

const ROOT = path.join(__dirname, '..')
const USE_CACHE_PAIR = { default: USE_CACHE, remote: USE_CACHE }

beforeEach(() => {
  delete process.env.SHARED_ISR_OPTIONS
})

/** An app directory whose node_modules/next/package.json says `version`. */
function fakeApp(version) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-next-config-'))
  fs.mkdirSync(path.join(dir, 'node_modules', 'next'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'node_modules', 'next', 'package.json'), JSON.stringify({ name: 'next', version }))
  return dir
}

/** withSharedIsr as run by Next in an app with that Next version (process.cwd() is the app). */
function inApp(version, fn) {
  const dir = fakeApp(version)
  const cwd = process.cwd()
  process.chdir(dir)
  try {
    return fn()
  } finally {
    process.chdir(cwd)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('the version comes from the app: node_modules/next/package.json resolved from process.cwd()', () => {
  assert.equal(
    inApp('15.2.9', () => nextVersion()),
    '15.2.9',
  )
  const none = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-no-next-'))
  assert.throws(() => nextVersion(none), { code: 'ERR_SHARED_ISR_CONFIG', message: /cannot find the 'next' package/ })
  fs.rmSync(none, { recursive: true })
})

test('the handler paths are absolute files of this package', () => {
  assert.equal(HANDLER, path.join(ROOT, 'lib', 'handler-default.js'))
  assert.equal(USE_CACHE, path.join(ROOT, 'lib', 'use-cache-default.js'))
  assert.equal(require(HANDLER), require('../lib/handler-default'))
})

test('Next 14.2: cacheHandler, no use cache handlers, experimental.serverComponentsExternalPackages', () => {
  const config = inApp('14.2.35', () => withSharedIsr({}))
  assert.deepEqual(config, {
    cacheHandler: HANDLER,
    cacheMaxMemorySize: 0,
    experimental: { serverComponentsExternalPackages: ['shared-isr'] },
  })
})

test('Next 15.2: cacheHandler and serverExternalPackages, no use cache handlers yet', () => {
  const config = inApp('15.2.9', () => withSharedIsr({}))
  assert.deepEqual(config, { cacheHandler: HANDLER, cacheMaxMemorySize: 0, serverExternalPackages: ['shared-isr'] })
})

test('Next 15.5: experimental.cacheHandlers for both default and remote', () => {
  const config = inApp('15.5.29', () => withSharedIsr({}))
  assert.deepEqual(config, {
    cacheHandler: HANDLER,
    cacheMaxMemorySize: 0,
    experimental: { cacheHandlers: USE_CACHE_PAIR },
    serverExternalPackages: ['shared-isr'],
  })
})

test('Next 16: top-level cacheHandlers', () => {
  for (const version of ['16.0.11', '16.4.6']) {
    const config = inApp(version, () => withSharedIsr({}))
    assert.deepEqual(config, {
      cacheHandler: HANDLER,
      cacheMaxMemorySize: 0,
      cacheHandlers: USE_CACHE_PAIR,
      serverExternalPackages: ['shared-isr'],
    })
  }
})

test('Next before 14.2 is refused', () => {
  assert.throws(() => withSharedIsr({}, undefined, { version: '14.1.4' }), { code: 'ERR_SHARED_ISR_CONFIG', message: /14\.2/ })
})

test("user settings are kept, their external packages and 'use cache' handlers too; the input is not changed", () => {
  const user = {
    reactStrictMode: true,
    distDir: 'build',
    env: { FOO: 'bar' },
    serverExternalPackages: ['sharp'],
    cacheHandlers: { custom: '/srv/custom-handler.js' },
    experimental: { ppr: false },
    images: { remotePatterns: [{ hostname: 'cdn.example' }] },
  }
  const copy = structuredClone(user)
  const config = withSharedIsr(user, { prefix: 'shop:' }, { version: '16.4.6' })
  assert.deepEqual(user, copy, 'the user object is not mutated')
  assert.equal(config.reactStrictMode, true)
  assert.equal(config.distDir, 'build')
  assert.deepEqual(config.images, user.images)
  assert.deepEqual(config.experimental, { ppr: false })
  assert.deepEqual(config.serverExternalPackages, ['sharp', 'shared-isr'])
  assert.deepEqual(config.cacheHandlers, { custom: '/srv/custom-handler.js', ...USE_CACHE_PAIR })
  assert.deepEqual(config.env, { FOO: 'bar', SHARED_ISR_OPTIONS: '{"prefix":"shop:"}' })

  const old = withSharedIsr({ experimental: { serverComponentsExternalPackages: ['sharp', 'shared-isr'], ppr: true } }, undefined, {
    version: '14.2.35',
  })
  assert.deepEqual(old.experimental, { serverComponentsExternalPackages: ['sharp', 'shared-isr'], ppr: true })
  const on15 = withSharedIsr({ experimental: { useCache: true, cacheHandlers: { custom: '/x.js' } } }, undefined, { version: '15.5.29' })
  assert.deepEqual(on15.experimental, { useCache: true, cacheHandlers: { custom: '/x.js', ...USE_CACHE_PAIR } })
})

test("another cacheHandler or 'use cache' handler is refused, naming the key; our own path is accepted", () => {
  const refuse = (config, version, key) =>
    assert.throws(
      () => withSharedIsr(config, undefined, { version }),
      (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && err.message.includes(key) && err instanceof Error,
      key,
    )
  refuse({ cacheHandler: '/srv/my-handler.js' }, '14.2.35', 'cacheHandler')
  refuse({ cacheHandler: '/srv/my-handler.js' }, '16.4.6', 'cacheHandler')
  refuse({ cacheHandlers: { default: '/srv/uc.js' } }, '16.4.6', 'cacheHandlers.default')
  refuse({ cacheHandlers: { remote: '/srv/uc.js' } }, '16.4.6', 'cacheHandlers.remote')
  refuse({ experimental: { cacheHandlers: { default: '/srv/uc.js' } } }, '16.4.6', 'experimental.cacheHandlers.default')
  refuse({ experimental: { cacheHandlers: { remote: '/srv/uc.js' } } }, '15.5.29', 'experimental.cacheHandlers.remote')

  // Ours, as a path, a file:// URL (import.meta.resolve) or through a symlink: fine.
  const link = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-link-')), 'handler.js')
  fs.symlinkSync(HANDLER, link)
  for (const cacheHandler of [HANDLER, pathToFileURL(HANDLER).href, link]) {
    const config = withSharedIsr({ cacheHandler, cacheHandlers: { default: USE_CACHE } }, undefined, { version: '16.4.6' })
    assert.equal(config.cacheHandler, HANDLER)
    assert.deepEqual(config.cacheHandlers, USE_CACHE_PAIR)
  }
  fs.rmSync(path.dirname(link), { recursive: true })
  // 15.2 registers no 'use cache' handlers, so it has nothing to refuse there.
  const on152 = withSharedIsr({ experimental: { cacheHandlers: { default: '/srv/uc.js' } } }, undefined, { version: '15.2.9' })
  assert.deepEqual(on152.experimental.cacheHandlers, { default: '/srv/uc.js' })
})

test('config functions, sync and async, return the same kind with the phase and context passed through', async () => {
  const seen = []
  const sync = withSharedIsr(
    (phase, ctx) => {
      seen.push([phase, ctx])
      return { basePath: '/shop' }
    },
    undefined,
    { version: '15.5.29' },
  )
  assert.equal(typeof sync, 'function')
  const out = sync('phase-production-build', { defaultConfig: {} })
  assert.equal(typeof out.then, 'undefined', 'a sync function stays sync')
  assert.equal(out.basePath, '/shop')
  assert.equal(out.cacheHandler, HANDLER)
  assert.deepEqual(seen, [['phase-production-build', { defaultConfig: {} }]])

  const asyncFn = withSharedIsr(async () => ({ basePath: '/a' }), undefined, { version: '16.4.6' })
  const promise = asyncFn('phase-production-server', {})
  assert.ok(promise instanceof Promise)
  const config = await promise
  assert.equal(config.basePath, '/a')
  assert.deepEqual(config.cacheHandlers, USE_CACHE_PAIR)

  // The version is read when Next calls the function, from the app.
  const lazy = withSharedIsr(() => ({}))
  assert.deepEqual(inApp('14.2.35', () => lazy('phase-production-build', {})).experimental, {
    serverComponentsExternalPackages: ['shared-isr'],
  })
  // A conflict inside a function config is refused when Next calls it.
  const bad = withSharedIsr(async () => ({ cacheHandler: '/srv/h.js' }), undefined, { version: '16.4.6' })
  await assert.rejects(bad('phase-production-build', {}), { code: 'ERR_SHARED_ISR_CONFIG', message: /cacheHandler/ })
})

test('options: a password in redisUrl and a logger are refused at once, before Next calls anything', () => {
  assert.throws(() => withSharedIsr({}, { redisUrl: 'redis://:hunter2@redis:6379' }, { version: '16.4.6' }), {
    code: 'ERR_SHARED_ISR_CONFIG',
    message: /redisUrl contains a password.*SHARED_ISR_REDIS_URL/,
  })
  assert.throws(
    () => withSharedIsr(() => ({}), { redisUrl: 'rediss://app:hunter2@redis:6380/1' }),
    (err) => {
      assert.equal(err.code, 'ERR_SHARED_ISR_CONFIG')
      assert.doesNotMatch(err.message, /hunter2/)
      return true
    },
  )
  assert.throws(() => withSharedIsr({}, { logger: console }, { version: '16.4.6' }), { code: 'ERR_SHARED_ISR_CONFIG', message: /logger/ })
  // No password: fine (an ACL user name alone is not a secret).
  const config = withSharedIsr({}, { redisUrl: 'redis://redis:6379', prefix: 'a:' }, { version: '16.4.6' })
  assert.deepEqual(JSON.parse(config.env.SHARED_ISR_OPTIONS), { redisUrl: 'redis://redis:6379', prefix: 'a:' })
})

test('options: a redisUrl holding a secret in any form is refused, and nothing of it reaches the build output', () => {
  // [url, the words of its secret]
  const forms = [
    ['redis+sentinel://s1:26379/m?sentinelPassword=hunter2', ['hunter2']],
    ['rediss+sentinel://s1:26379,s2:26379/m?sentinelUsername=adm&sentinelPassword=s3cr%C3%A9t', ['s3cr']],
    ['redis+sentinel://s1:26379/m/2?sentinelPassword=two words', ['two', 'words']],
    ['redis+sentinel://app:hunter2@s1:26379/m', ['hunter2']],
    ['redis+cluster://h1:7000,u:hunter2@h2:7001', ['hunter2']],
    ['rediss+cluster://u:hunter2@h1:7000,h2:7001', ['hunter2']],
    ['redis://:my secret pw@redis:6379', ['my', 'secret', 'pw']],
    ['rediss://app:s%40cr%3At@redis:6380/1', ['s%40cr', '3At']],
  ]
  for (const [redisUrl, words] of forms) {
    const refused = (err) => {
      assert.equal(err.code, 'ERR_SHARED_ISR_CONFIG', redisUrl)
      assert.match(err.message, /redisUrl contains a password.*SHARED_ISR_REDIS_URL/, redisUrl)
      for (const word of words) assert.ok(!err.message.includes(word), `${redisUrl}: ${err.message}`)
      return true
    }
    let config
    assert.throws(() => {
      config = withSharedIsr({}, { redisUrl, prefix: 'a:' }, { version: '16.4.6' })
    }, refused)
    assert.throws(() => {
      config = withSharedIsr(async () => ({}), { redisUrl })
    }, refused)
    assert.equal(config, undefined, redisUrl)
    assert.equal(process.env.SHARED_ISR_OPTIONS, undefined, redisUrl)
  }
  // A URL the store cannot use is refused too: nothing could tell what in it is secret.
  assert.throws(
    () => withSharedIsr({}, { redisUrl: 'redis://:pa#hunter2@redis' }, { version: '16.4.6' }),
    (err) => {
      assert.equal(err.code, 'ERR_SHARED_ISR_CONFIG')
      assert.match(err.message, /^withSharedIsr: option redisUrl is not a usable redis URL/)
      assert.doesNotMatch(err.message, /hunter2/)
      return true
    },
  )
  assert.equal(process.env.SHARED_ISR_OPTIONS, undefined)
  // User names are not secrets: such URLs are written.
  for (const redisUrl of ['redis+sentinel://s1:26379,s2:26379/m?sentinelUsername=adm', 'redis+cluster://app@h1:7000,h2:7001']) {
    const config = withSharedIsr({}, { redisUrl }, { version: '16.4.6' })
    assert.deepEqual(JSON.parse(config.env.SHARED_ISR_OPTIONS), { redisUrl })
  }
})

test('options reach the handlers: SHARED_ISR_OPTIONS in this process, or the config of a standalone server.js', () => {
  const { resolveConfig } = require('../lib/config')
  const config = withSharedIsr({}, { prefix: 'shop:', leaseMs: 0 }, { version: '16.4.6' })
  assert.equal(process.env.SHARED_ISR_OPTIONS, '{"prefix":"shop:","leaseMs":0}')
  assert.deepEqual(nextConfigOptions(), { prefix: 'shop:', leaseMs: 0 })
  // Options in code still win; the environment comes last.
  assert.equal(resolveConfig({}, { ...process.env, SHARED_ISR_PREFIX: 'env:' }).prefix, 'shop:')
  assert.equal(resolveConfig({ prefix: 'code:' }).prefix, 'code:')
  assert.equal(resolveConfig({}).leaseMs, 0)

  // What server.js publishes (the serialised config), without SHARED_ISR_OPTIONS in the environment.
  const standalone = { __NEXT_PRIVATE_STANDALONE_CONFIG: JSON.stringify(config) }
  assert.deepEqual(nextConfigOptions(standalone), { prefix: 'shop:', leaseMs: 0 })
  assert.equal(resolveConfig({}, standalone).prefix, 'shop:')
  assert.deepEqual(nextConfigOptions({ __NEXT_PRIVATE_STANDALONE_CONFIG: '{}' }), {})
  assert.deepEqual(nextConfigOptions({}), {})
  assert.throws(() => resolveConfig({}, { SHARED_ISR_OPTIONS: 'nope' }), { code: 'ERR_SHARED_ISR_CONFIG', message: /SHARED_ISR_OPTIONS/ })
  // Invalid values are named as options, as for createHandler.
  assert.throws(() => resolveConfig({}, { SHARED_ISR_OPTIONS: '{"timeoutMs":-1}' }), {
    code: 'ERR_SHARED_ISR_CONFIG',
    message: /timeoutMs/,
  })

  // Without options nothing is recorded, and a stale value from an earlier evaluation is dropped.
  const plain = withSharedIsr({}, undefined, { version: '16.4.6' })
  assert.equal(plain.env, undefined)
  assert.equal(process.env.SHARED_ISR_OPTIONS, undefined)
})

test('the ESM entry exports the same function (next.config.mjs / next.config.ts)', async () => {
  const esm = await import(pathToFileURL(path.join(ROOT, 'lib', 'next-config.mjs')).href)
  assert.equal(esm.withSharedIsr, withSharedIsr)
  const pkg = require('../package.json')
  assert.deepEqual(pkg.exports['./next-config'], {
    types: './next-config.d.ts',
    import: './lib/next-config.mjs',
    default: './lib/next-config.js',
  })
  assert.ok(pkg.files.includes('next-config.d.ts'))
})
