'use strict'
// The `cacheHandler` module Next loads in the macro benchmark. One file for every contender
// that plugs into Next, so all of them run the same build of examples/blog:
// BENCH_CONTENDER picks which handler this process exports.
//   shared-isr (default, also at `next build`)  what users configure: `shared-isr/handler`
//   forte                                       ./forte.js
//   trieb                                       ./trieb.js
// Each reads the Redis URL the e2e harness hands every instance (SHARED_ISR_REDIS_URL).

const fs = require('node:fs')
const path = require('node:path')

function sharedIsrHandler() {
  const root = path.resolve(__dirname, '..', '..')
  const exp = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).exports['./handler']
  const target = typeof exp === 'string' ? exp : exp.default || exp.require
  return require(path.resolve(root, target))
}

const which = process.env.BENCH_CONTENDER || 'shared-isr'
if (which === 'forte') module.exports = require('./forte.js')
else if (which === 'trieb') module.exports = require('./trieb.js')
else if (which === 'shared-isr') module.exports = sharedIsrHandler()
else throw new Error(`unknown BENCH_CONTENDER ${which}`)
