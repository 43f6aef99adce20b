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

const NAME = 'SHARED_ISR_OPTIONS'

function parse(raw, where) {
  let value
  try {
    value = JSON.parse(raw)
  } catch {
    value = undefined
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const err = new Error(`${where} must be a JSON object (set by withSharedIsr)`)
    err.code = 'ERR_SHARED_ISR_CONFIG'
    throw err
  }
  return value
}

/** The options withSharedIsr recorded for this app, or {}. */
function nextConfigOptions(env = process.env) {
  if (env[NAME]) return parse(env[NAME], NAME)
  const standalone = env.__NEXT_PRIVATE_STANDALONE_CONFIG
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
