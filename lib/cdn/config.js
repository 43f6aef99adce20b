'use strict'
// The `cdn` option and SHARED_ISR_CDN_URL → the provider that tags responses and purges.
// The CDN is JS's (HTTP calls, the app's hook), so its settings are read and checked here.

const { ConfigError } = require('../config-error')
const { Varnish } = require('./varnish')
const { Hook } = require('./hook')
const { Fastly } = require('./fastly')
const { Cloudflare } = require('./cloudflare')

const PLANNED = ['cloudfront', 'akamai']
/** Calls per minute when the URL gives no `rate`: within each provider's documented budget. */
const DEFAULT_RATE = { fastly: 1000, cloudflare: 60 }
const ENDPOINT = { fastly: 'https://api.fastly.com', cloudflare: 'https://api.cloudflare.com' }
const TOKEN_ENV = { fastly: 'FASTLY_API_TOKEN', cloudflare: 'CLOUDFLARE_API_TOKEN' }
const DEFAULT_TIMEOUT_MS = 5000
const HEADER = /^[A-Za-z0-9-]+$/

/**
 * `option`: a URL (`varnish://host:port[,host:port...]`) or `{ url?, header?, onPurge?,
 * timeoutMs? }`; without it, SHARED_ISR_CDN_URL. Returns the provider, or null (no CDN).
 */
function resolveCdn(option, env = process.env) {
  let o = option
  let source = 'cdn'
  if (o === undefined || o === null || o === '') {
    if (!env.SHARED_ISR_CDN_URL) return null
    o = env.SHARED_ISR_CDN_URL
    source = 'SHARED_ISR_CDN_URL'
  }
  if (typeof o === 'string') o = { url: o }
  if (typeof o !== 'object' || Array.isArray(o))
    throw new ConfigError(`${source} must be a URL or an object, got ${JSON.stringify(option)}`)
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new ConfigError(`cdn.timeoutMs must be an integer >= 1, got ${JSON.stringify(o.timeoutMs)}`)
  if (o.header !== undefined && (typeof o.header !== 'string' || !HEADER.test(o.header))) {
    throw new ConfigError(`cdn.header must be a header name, got ${JSON.stringify(o.header)}`)
  }
  if (o.onPurge !== undefined) {
    if (typeof o.onPurge !== 'function') throw new ConfigError('cdn.onPurge must be a function')
    if (o.url !== undefined) throw new ConfigError('cdn: give either url or onPurge, not both')
    if (!o.header) throw new ConfigError('cdn.header is required with onPurge: the response header your CDN reads its tags from')
    return new Hook(o.onPurge, o.header.toLowerCase())
  }
  if (typeof o.url !== 'string' || o.url.trim() === '')
    throw new ConfigError(`${source === 'cdn' ? 'cdn.url' : source} must be a URL such as varnish://127.0.0.1:6081`)
  const url = o.url.trim()
  const scheme = /^([a-z]+):\/\//.exec(url)?.[1]
  if (scheme === 'varnish') {
    const provider = new Varnish(varnishNodes(url, source), { timeoutMs })
    if (o.header) provider.header = o.header.toLowerCase()
    return provider
  }
  if (scheme === 'fastly' || scheme === 'cloudflare') return apiProvider(scheme, url, o, source, env, timeoutMs)
  if (PLANNED.includes(scheme)) {
    throw new ConfigError(
      `${source}: ${scheme} is not supported by this version yet; use varnish://, fastly://, cloudflare:// or cdn.onPurge`,
    )
  }
  throw new ConfigError(
    `${source} must start with varnish://, fastly:// or cloudflare:// (or use cdn.onPurge), got ${JSON.stringify(url.slice(0, 40))}`,
  )
}

/**
 * `fastly://<service id>[?soft=1]`, `cloudflare://<zone id>`; both take `rate` (calls per minute)
 * and `endpoint` (a proxy, or a test server). The API token comes from the provider's usual
 * variable (FASTLY_API_TOKEN, CLOUDFLARE_API_TOKEN) or `cdn.token` in code, never the URL:
 * URLs end up in build output and logs.
 */
function apiProvider(scheme, url, o, source, env, timeoutMs) {
  let u
  try {
    u = new URL(url)
  } catch {
    throw new ConfigError(`${source}: not a URL: ${JSON.stringify(url.slice(0, 40))}`)
  }
  if (u.username || u.password) throw new ConfigError(`${source}: put the ${scheme} API token in ${TOKEN_ENV[scheme]}, not in the URL`)
  const id = decodeURIComponent(u.hostname || u.pathname.replace(/^\/+/, ''))
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
    throw new ConfigError(
      `${source}: ${scheme}://<${scheme === 'fastly' ? 'service' : 'zone'} id> expected, got ${JSON.stringify(url.slice(0, 60))}`,
    )
  const known = new Set(['rate', 'endpoint', ...(scheme === 'fastly' ? ['soft'] : [])])
  for (const k of u.searchParams.keys())
    if (!known.has(k)) throw new ConfigError(`${source}: unknown parameter ${JSON.stringify(k)} for ${scheme}`)
  const rateRaw = u.searchParams.get('rate')
  const perMinute = rateRaw === null ? DEFAULT_RATE[scheme] : Number(rateRaw)
  if (!(Number.isFinite(perMinute) && perMinute > 0))
    throw new ConfigError(`${source}: rate must be calls per minute (> 0), got ${JSON.stringify(rateRaw)}`)
  const endpoint = (u.searchParams.get('endpoint') ?? ENDPOINT[scheme]).replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]+/.test(endpoint)) throw new ConfigError(`${source}: endpoint must be an http(s) URL`)
  const token = o.token ?? env[TOKEN_ENV[scheme]]
  if (typeof token !== 'string' || token.trim() === '')
    throw new ConfigError(`${source}: ${scheme} needs an API token in ${TOKEN_ENV[scheme]} (or cdn.token)`)
  const common = { token: token.trim(), endpoint, timeoutMs, perMinute }
  const provider =
    scheme === 'fastly'
      ? new Fastly({ ...common, serviceId: id, soft: /^(1|true)$/.test(u.searchParams.get('soft') ?? '') })
      : new Cloudflare({ ...common, zoneId: id })
  if (o.header) provider.header = o.header.toLowerCase()
  return provider
}

/** `varnish://h1:6081,h2:6081`: every node is purged. */
function varnishNodes(url, source) {
  const rest = url.slice('varnish://'.length).replace(/\/+$/, '')
  const nodes = rest.split(',').map((part) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(part.trim())
    const port = m && (m[2] === undefined ? 80 : Number(m[2]))
    if (!m || !(port >= 1 && port <= 65535))
      throw new ConfigError(`${source}: bad Varnish node ${JSON.stringify(part)} (expected host:port)`)
    return { host: m[1].replace(/^\[|\]$/g, ''), port }
  })
  if (nodes.length === 0 || rest === '') throw new ConfigError(`${source}: no Varnish node in ${JSON.stringify(url)}`)
  return nodes
}

module.exports = { resolveCdn }
