'use strict'
// One place that turns options + environment into the addon's options, with clear errors.
// JS reads the environment, converts MB to bytes and names where a value came from; the rules
// and the defaults are Rust's (Config::validate, Config::default), checked here without a store.

const { inspect } = require('node:util')
const { checkConfig, DEFAULTS, redactRedisUrl } = require('./native')
const { nextConfigOptions } = require('./next-options')
const { ConfigError } = require('./config-error')
const { resolveCdn } = require('./cdn/config')

function number(name, raw, { min = 0, integer = false } = {}) {
  if (raw === undefined || raw === null || raw === '') return undefined
  // From the environment: plain decimal only (Number() would take 0x10 as 16 and 1e300 as a size).
  if (typeof raw !== 'number' && !/^\s*\d+(\.\d+)?\s*$/.test(String(raw))) {
    throw new ConfigError(`${name} must be a decimal ${integer ? 'integer' : 'number'} >= ${min}, got ${JSON.stringify(raw)}`)
  }
  const n = typeof raw === 'number' ? raw : Number(String(raw).trim())
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new ConfigError(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(raw)}`)
  }
  return n
}

/** L1 budget: 0 turns it off; the env variable is in MB like the other sizes. */
function l1Bytes(options, env) {
  if (options.l1MaxBytes !== undefined) return number('l1MaxBytes', options.l1MaxBytes, { integer: true, min: 0 })
  const v = number('SHARED_ISR_L1_MAX_MB', env.SHARED_ISR_L1_MAX_MB, { min: 0 })
  return v === undefined ? undefined : Math.round(v * 1024 * 1024)
}

function path(name, value) {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value !== 'string') throw new ConfigError(`${name} must be a file path`)
  return value
}

function flag(name, value, envName, envValue) {
  if (value !== undefined) {
    if (typeof value !== 'boolean') throw new ConfigError(`${name} must be true or false`)
    return value
  }
  if (envValue === undefined || envValue === '') return undefined
  if (/^(1|true|yes|on)$/i.test(envValue)) return true
  if (/^(0|false|no|off)$/i.test(envValue)) return false
  throw new ConfigError(`${envName} must be 1/true or 0/false, got ${JSON.stringify(envValue)}`)
}

/**
 * Resolves options, falling back to the environment:
 * SHARED_ISR_REDIS_URL (then REDIS_URL), SHARED_ISR_PREFIX, SHARED_ISR_TIMEOUT_MS,
 * SHARED_ISR_CONNECT_TIMEOUT_MS, SHARED_ISR_MEMORY_MAX_MB, SHARED_ISR_MAX_VALUE_MB,
 * SHARED_ISR_DEFAULT_TTL_SECONDS, SHARED_ISR_TAG_CACHE_MB, SHARED_ISR_L1_MAX_MB, SHARED_ISR_MAX_STALENESS_MS,
 * SHARED_ISR_STRICT, SHARED_ISR_TLS_CA_FILE, SHARED_ISR_TLS_CERT_FILE, SHARED_ISR_TLS_KEY_FILE,
 * SHARED_ISR_HEARTBEAT_SECONDS, SHARED_ISR_LEASE_MS, SHARED_ISR_LEASE_WAIT_MS, SHARED_ISR_BUILD_ID,
 * SHARED_ISR_CDN_URL (lib/cdn/config.js).
 * Options passed to withSharedIsr (SHARED_ISR_OPTIONS, see ./next-options) come between the two.
 */
function resolveConfig(options = {}, env = process.env) {
  if (options === null || typeof options !== 'object') throw new ConfigError('options must be an object')
  options = withNextConfigOptions(options, env)
  // Setting -> where its value came from (the option, else its environment variable), for errors.
  const source = {}
  const pick = (key, envName) => {
    source[key] = options[key] !== undefined ? key : envName
    return options[key] !== undefined ? [key, options[key]] : [envName, env[envName]]
  }
  const mb = (key, envName) => {
    source[key] = options[key] !== undefined ? key : envName
    if (options[key] !== undefined) return number(key, options[key], { integer: true, min: 1 })
    const v = number(envName, env[envName], { min: 0.001 })
    return v === undefined ? undefined : Math.round(v * 1024 * 1024)
  }

  let redisUrl = options.redisUrl
  if (redisUrl === undefined) redisUrl = env.SHARED_ISR_REDIS_URL || env.REDIS_URL
  if (redisUrl === null || redisUrl === '') redisUrl = undefined
  source.redisUrl = options.redisUrl !== undefined ? 'redisUrl' : env.SHARED_ISR_REDIS_URL ? 'SHARED_ISR_REDIS_URL' : 'REDIS_URL'
  if (redisUrl !== undefined && typeof redisUrl !== 'string') throw new ConfigError(`${source.redisUrl} must be a string`)

  const [prefixName, prefix] = pick('prefix', 'SHARED_ISR_PREFIX')
  if (prefix !== undefined && typeof prefix !== 'string') throw new ConfigError(`${prefixName} must be a string`)
  const buildId = options.buildId ?? env.SHARED_ISR_BUILD_ID ?? undefined
  if (buildId !== undefined && (typeof buildId !== 'string' || buildId === '')) {
    throw new ConfigError('buildId must be a non-empty string')
  }

  const config = {
    redisUrl: redisUrl?.trim(),
    prefix,
    timeoutMs: number(...pick('timeoutMs', 'SHARED_ISR_TIMEOUT_MS'), { integer: true }),
    connectTimeoutMs: number(...pick('connectTimeoutMs', 'SHARED_ISR_CONNECT_TIMEOUT_MS'), { integer: true }),
    memoryMaxBytes: mb('memoryMaxBytes', 'SHARED_ISR_MEMORY_MAX_MB'),
    maxValueBytes: mb('maxValueBytes', 'SHARED_ISR_MAX_VALUE_MB'),
    defaultTtlSeconds: number(...pick('defaultTtlSeconds', 'SHARED_ISR_DEFAULT_TTL_SECONDS')),
    tagCacheMaxBytes: mb('tagCacheMaxBytes', 'SHARED_ISR_TAG_CACHE_MB'),
    l1MaxBytes: l1Bytes(options, env),
    maxStalenessMs: number(...pick('maxStalenessMs', 'SHARED_ISR_MAX_STALENESS_MS'), { integer: true }),
    strict: flag('strict', options.strict, 'SHARED_ISR_STRICT', env.SHARED_ISR_STRICT),
    tlsCaFile: path(...pick('tlsCaFile', 'SHARED_ISR_TLS_CA_FILE')),
    tlsCertFile: path(...pick('tlsCertFile', 'SHARED_ISR_TLS_CERT_FILE')),
    tlsKeyFile: path(...pick('tlsKeyFile', 'SHARED_ISR_TLS_KEY_FILE')),
    heartbeatSeconds: number(...pick('heartbeatSeconds', 'SHARED_ISR_HEARTBEAT_SECONDS')),
    leaseMs: number(...pick('leaseMs', 'SHARED_ISR_LEASE_MS'), { integer: true }),
    leaseWaitMs: number(...pick('leaseWaitMs', 'SHARED_ISR_LEASE_WAIT_MS'), { integer: true }),
    buildId,
    cdn: resolveCdn(options.cdn, env),
  }
  source.l1MaxBytes = options.l1MaxBytes !== undefined ? 'l1MaxBytes' : 'SHARED_ISR_L1_MAX_MB'
  for (const [key, value] of Object.entries(DEFAULTS)) config[key] ??= value
  try {
    checkConfig(config) // the addon reads the options it knows (not strict, buildId)
  } catch (err) {
    throw err?.code === 'ERR_SHARED_ISR_CONFIG' ? new ConfigError(fromSource(err.message, source)) : err
  }
  return printableWithoutSecrets(config)
}

/** Options given in code win; then those of withSharedIsr (next.config); then the environment. */
function withNextConfigOptions(options, env) {
  const fromNext = nextConfigOptions(env)
  const merged = { ...options }
  for (const [key, value] of Object.entries(fromNext)) if (merged[key] === undefined) merged[key] = value
  return merged
}

/** Rust's message starts with the option it is about: name the environment variable instead when the value came from one. */
function fromSource(message, source) {
  const setting = /^\w+/.exec(message)?.[0]
  return setting && source[setting] ? source[setting] + message.slice(setting.length) : message
}

/**
 * The config as it is, but printed (util.inspect, console.log, JSON.stringify) with the URL's
 * secrets hidden (the addon's rule, for every URL form): configs end up in logs, error reports
 * and debuggers.
 */
function printableWithoutSecrets(config) {
  const shown = () => ({ ...config, redisUrl: config.redisUrl === undefined ? undefined : redactRedisUrl(config.redisUrl).text })
  Object.defineProperty(config, 'toJSON', { value: shown, enumerable: false })
  Object.defineProperty(config, inspect.custom, { value: (depth, opts, insp) => insp(shown(), opts), enumerable: false })
  return config
}

module.exports = { resolveConfig, ConfigError }
