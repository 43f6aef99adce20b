'use strict'
// @fortedigital/nextjs-cache-handler 2.x as its README and examples/redis-minimal set it up:
// a node-redis 5 client and the redis-strings handler (its local LRU is documented as not for
// production, and would not be shared between instances).

const { CacheHandler } = require('@fortedigital/nextjs-cache-handler')
const createRedisHandler = require('@fortedigital/nextjs-cache-handler/redis-strings').default
const { createClient } = require('@redis/client')

CacheHandler.onCreation(async () => {
  const client = createClient({ url: process.env.SHARED_ISR_REDIS_URL })
  client.on('error', (err) => console.error('[forte] redis error', err.message))
  await client.connect()
  return { handlers: [createRedisHandler({ client, keyPrefix: 'forte:' })] }
})

module.exports = CacheHandler
