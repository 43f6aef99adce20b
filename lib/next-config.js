'use strict'
// `withSharedIsr(nextConfig, options?)` (`shared-isr/next-config`): the setup of README "Use it in
// a Next.js app" for the installed Next version, so one next.config works on 14.2, 15 and 16 and
// from .js, .mjs and .ts alike (absolute paths resolved here: ESM has no require.resolve).

const fs = require('node:fs')
const path = require('node:path')
const { fileURLToPath } = require('node:url')
const { NAME } = require('./next-options')
const { ConfigError } = require('./config-error')

const HANDLER = path.join(__dirname, 'handler-default.js')
const USE_CACHE = path.join(__dirname, 'use-cache-default.js')
const PACKAGE = 'shared-isr'

// Options that must not land in the build output, and those that cannot be serialised.
const NOT_SERIALISABLE = ['logger']

/** The app's Next version: next/package.json resolved from `dir` (the app, i.e. process.cwd()). */
function nextVersion(dir = process.cwd()) {
  let file
  try {
    file = require.resolve('next/package.json', { paths: [dir] })
  } catch {
    throw new ConfigError(`withSharedIsr: cannot find the 'next' package from ${dir}; install next first`)
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).version
}

/** What the version supports: [major, minor] → which keys to set. */
function featuresOf(version) {
  const [major, minor] = String(version)
    .split('.')
    .map((n) => Number.parseInt(n, 10))
  if (!(major > 14 || (major === 14 && minor >= 2))) {
    throw new ConfigError(`withSharedIsr supports Next 14.2, 15 and 16; this app has next@${version}`)
  }
  return {
    // 14.2: experimental.serverComponentsExternalPackages; renamed in 15.
    topLevelExternals: major >= 15,
    // 'use cache' handlers: experimental.cacheHandlers from 15.3, top-level cacheHandlers in 16.
    useCache: major >= 16 ? 'top' : major === 15 && minor >= 3 ? 'experimental' : null,
  }
}

/** Whether a configured handler path is ours (absolute path, file:// URL or through a symlink). */
function isOurs(value, ours) {
  if (typeof value !== 'string') return false
  let p = value
  try {
    if (p.startsWith('file:')) p = fileURLToPath(p)
  } catch {
    return false
  }
  if (p === ours) return true
  try {
    return fs.realpathSync(p) === fs.realpathSync(ours)
  } catch {
    return false
  }
}

/** Sets `obj[key] = ours`, refusing another handler the user already configured there. */
function claim(obj, key, ours, label) {
  const current = obj[key]
  if (current !== undefined && current !== null && !isOurs(current, ours)) {
    throw new ConfigError(
      `withSharedIsr: ${label} is already set to ${JSON.stringify(current)}; shared-isr must be the handler there. ` +
        `Remove ${label} from your next.config, or use the manual setup without withSharedIsr.`,
    )
  }
  obj[key] = ours
}

function withExternal(list) {
  const entries = Array.isArray(list) ? list : []
  return entries.includes(PACKAGE) ? [...entries] : [...entries, PACKAGE]
}

/**
 * A redisUrl may reach the build output only if it holds no secret (a password in any host's
 * userinfo, `sentinelPassword`...) and is a usable URL (the secret rule is exact for those):
 * both are the addon's rules, so the addon is loaded here, only when a redisUrl is given.
 */
function checkRedisUrl(url) {
  const native = require('./native')
  if (native.redactRedisUrl(url).secret) {
    throw new ConfigError(
      'withSharedIsr: option redisUrl contains a password, which would be written into the build output; ' +
        'set SHARED_ISR_REDIS_URL in the environment instead',
    )
  }
  try {
    native.checkConfig({ redisUrl: url.trim() })
  } catch (err) {
    throw err?.code === 'ERR_SHARED_ISR_CONFIG' ? new ConfigError(`withSharedIsr: option ${err.message}`) : err
  }
}

/** The options as JSON for the handlers; secrets and functions are refused here, at next.config time. */
function serialiseOptions(options) {
  if (options === undefined || options === null) return undefined
  if (typeof options !== 'object' || Array.isArray(options)) throw new ConfigError('withSharedIsr: options must be an object')
  if (options.cdn && typeof options.cdn === 'object' && options.cdn.onPurge !== undefined) {
    throw new ConfigError(
      'withSharedIsr: option cdn.onPurge cannot reach the handlers from next.config; use createHandler in a handler file',
    )
  }
  if (options.cdn && typeof options.cdn === 'object' && options.cdn.token !== undefined) {
    throw new ConfigError(
      'withSharedIsr: option cdn.token would be written into the build output; set FASTLY_API_TOKEN or CLOUDFLARE_API_TOKEN in the environment instead',
    )
  }
  for (const key of NOT_SERIALISABLE) {
    if (options[key] !== undefined) {
      throw new ConfigError(`withSharedIsr: option ${key} cannot reach the handlers from next.config; use createHandler in a handler file`)
    }
  }
  if (typeof options.redisUrl === 'string') checkRedisUrl(options.redisUrl)
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  return Object.keys(defined).length ? JSON.stringify(defined) : undefined
}

/** The shared-isr settings applied to one config object (a copy; the user's object is not changed). */
function apply(config, options, version) {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError('withSharedIsr: the Next config must be an object or a function returning one')
  }
  const features = featuresOf(version)
  const out = { ...config, experimental: { ...(config.experimental ?? {}) } }
  claim(out, 'cacheHandler', HANDLER, 'cacheHandler')
  // Next's per-process memory caches would hide revalidations made on other instances.
  out.cacheMaxMemorySize = 0

  if (features.useCache) {
    const [holder, label] = features.useCache === 'top' ? [out, 'cacheHandlers'] : [out.experimental, 'experimental.cacheHandlers']
    const handlers = { ...(holder.cacheHandlers ?? {}) }
    // Both names, so 'use cache' and 'use cache: remote' entries see the same revalidations.
    claim(handlers, 'default', USE_CACHE, `${label}.default`)
    claim(handlers, 'remote', USE_CACHE, `${label}.remote`)
    holder.cacheHandlers = handlers
    // 16 moves experimental.cacheHandlers up (the top-level one winning): check it too.
    if (features.useCache === 'top' && out.experimental.cacheHandlers) {
      const moved = { ...out.experimental.cacheHandlers }
      claim(moved, 'default', USE_CACHE, 'experimental.cacheHandlers.default')
      claim(moved, 'remote', USE_CACHE, 'experimental.cacheHandlers.remote')
      out.experimental.cacheHandlers = moved
    }
  }

  // So app code (a webhook) can import 'shared-isr': no bundler can bundle a native addon.
  if (features.topLevelExternals) out.serverExternalPackages = withExternal(out.serverExternalPackages)
  else out.experimental.serverComponentsExternalPackages = withExternal(out.experimental.serverComponentsExternalPackages)
  if (Object.keys(out.experimental).length === 0 && config.experimental === undefined) delete out.experimental

  const json = serialiseOptions(options)
  if (json !== undefined) {
    out.env = { ...(out.env ?? {}), [NAME]: json }
    // This process and the build workers it starts read it from here (see ./next-options).
    process.env[NAME] = json
  } else {
    delete process.env[NAME]
  }
  return out
}

/**
 * Wraps a Next config (object, or `(phase, ctx) => config`, possibly async) with the shared-isr
 * cache handlers for the installed Next version. Returns the same kind it was given.
 */
function withSharedIsr(nextConfig = {}, options = undefined, { version } = {}) {
  // Refuse bad options at once, before Next calls a config function.
  serialiseOptions(options)
  const versionNow = () => version ?? nextVersion()
  if (typeof nextConfig === 'function') {
    return function sharedIsrConfig(...args) {
      const result = nextConfig.apply(this, args)
      return result && typeof result.then === 'function'
        ? result.then((config) => apply(config, options, versionNow()))
        : apply(result, options, versionNow())
    }
  }
  return apply(nextConfig, options, versionNow())
}

module.exports = { withSharedIsr, nextVersion, serialiseOptions, HANDLER, USE_CACHE }
