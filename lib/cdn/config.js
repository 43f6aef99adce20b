'use strict'
// The `cdn` option and SHARED_ISR_CDN_URL → the provider that tags responses and purges.
// The CDN is JS's (HTTP calls, the app's hook), so its settings are read and checked here.

const { ConfigError } = require('../config-error')
const { Varnish } = require('./varnish')
const { Hook } = require('./hook')

const PLANNED = ['fastly', 'cloudflare', 'cloudfront', 'akamai']
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
  if (PLANNED.includes(scheme)) {
    throw new ConfigError(`${source}: ${scheme} is not supported by this version yet; use varnish:// or cdn.onPurge`)
  }
  throw new ConfigError(`${source} must start with varnish:// (or use cdn.onPurge), got ${JSON.stringify(url.slice(0, 40))}`)
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
