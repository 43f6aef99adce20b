'use strict'
// Options given to `withSharedIsr(nextConfig, options)` reach the handlers, which Next loads in
// other processes (build workers, `next start`, a standalone server.js on another machine), as
// JSON under one name, SHARED_ISR_OPTIONS:
//   - withSharedIsr sets it in process.env while next.config is evaluated (next dev/build/start;
//     build workers inherit the environment), and
//   - puts it in the config's `env`, which Next serialises into the build output; a standalone
//     server.js does not evaluate next.config but publishes that config as
//     __NEXT_PRIVATE_STANDALONE_CONFIG before it loads the handlers.
// Only non-secret options travel this way (withSharedIsr refuses a password in redisUrl).

const { ConfigError } = require('./config-error')

const NAME = 'SHARED_ISR_OPTIONS'

function parse(raw, where) {
  let value
  try {
    value = JSON.parse(raw)
  } catch {
    value = undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${where} must be a JSON object (set by withSharedIsr)`)
  }
  return value
}

/** The options withSharedIsr recorded for this app, or {}. Read at every resolveConfig (each
 * revalidateTags, stats...): parsed once per value, not per call (the standalone config is the
 * app's whole next.config). */
function nextConfigOptions(env = process.env) {
  const own = env[NAME]
  const standalone = own ? undefined : env.__NEXT_PRIVATE_STANDALONE_CONFIG
  if (own !== last.own || standalone !== last.standalone) last = { own, standalone, options: read(own, standalone) }
  return last.options
}
let last = { own: undefined, standalone: undefined, options: {} }

function read(own, standalone) {
  if (own) return parse(own, NAME)
  if (!standalone) return {}
  let raw
  try {
    raw = JSON.parse(standalone)?.env?.[NAME]
  } catch {
    return {} // Next's own variable: not ours to judge
  }
  return raw ? parse(raw, `next config env.${NAME}`) : {}
}

module.exports = { nextConfigOptions, NAME }
