'use strict'
// @trieb.work/nextjs-turbo-redis-cache, "Option B" of its README (a wrapper holding one
// RedisStringsHandler per process), default options otherwise (10 s in-memory caching, get
// deduplication). Its README requires `notify-keyspace-events Exe` on the server; the harness
// starts a plain redis-server, so this wrapper sets it once before the handler connects.

const { RedisStringsHandler } = require('@trieb.work/nextjs-turbo-redis-cache')
const { createClient } = require('redis')

const url = process.env.SHARED_ISR_REDIS_URL
let handler
const ready = (async () => {
  const c = createClient({ url })
  c.on('error', () => {})
  await c.connect()
  await c.configSet('notify-keyspace-events', 'Exe')
  await c.quit()
  handler = new RedisStringsHandler({ redisUrl: url, database: 0, keyPrefix: 'trieb:' })
})()
ready.catch((err) => console.error('[trieb] setup failed', err))

module.exports = class TriebCacheHandler {
  async get(...args) {
    await ready
    return handler.get(...args)
  }
  async set(...args) {
    await ready
    return handler.set(...args)
  }
  async revalidateTag(...args) {
    await ready
    return handler.revalidateTag(...args)
  }
  resetRequestCache() {}
}
