'use strict'
// The preamble of the test files: a clean environment (nothing leaks in from the shell), the
// library loaded into it, and one redis-server for the file's tests, started in before() and
// stopped in after() once the library's connections are closed.
//
//   const { api, redis } = redisSuite()
//   test('...', async () => { const H = api.createHandler({ redisUrl: redis.url, ... }) })

const path = require('node:path')
const { before, after } = require('node:test')
const { clearEnv } = require('./common')
const { RedisServer } = require('./redis')

/** lib/index.js, for code run in child processes. */
const LIB = path.join(__dirname, '..', '..', 'lib', 'index.js')

/** clearEnv(), then the library (`require('../lib/index')`), so it sees none of the shell's settings. */
function loadLib() {
  clearEnv()
  return require(LIB)
}

/**
 * loadLib() (or only clearEnv() with `lib: false`) and a redis-server for the file: `redis` is
 * a RedisServer (helpers/redis.js) that before() starts on a free port. after() runs
 * `teardown` (the file's own clean-up, e.g. stopping forked instances), then `api.close()`,
 * then stops the server. Files with more servers or hooks add their own before/after after
 * this call: hooks run in the order they were registered.
 */
function redisSuite({ lib = true, teardown } = {}) {
  let api = null
  if (lib) api = loadLib()
  else clearEnv()
  const redis = new RedisServer(null)
  before(async () => {
    await redis.startOnFreePort()
  })
  after(async () => {
    await teardown?.()
    await api?.close()
    await redis.stop()
  })
  return { api, redis }
}

module.exports = { redisSuite, loadLib, LIB }
