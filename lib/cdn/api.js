'use strict'
// What the HTTP purge APIs (Fastly, Cloudflare) share: a JSON POST with a timeout, the
// provider's answer turned into a PurgeError that says whether to retry, and a pace that keeps
// calls within the provider's budget.

const { PurgeError } = require('./errors')

/** POSTs `body` (JSON) to `url`; resolves with the parsed answer, rejects with a PurgeError. */
async function postJson(url, { headers, body, timeoutMs, what }) {
  let res
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const why = err?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err?.cause?.message ?? err?.message)
    throw new PurgeError(`${what}: ${why}`)
  }
  const text = await res.text().catch(() => '')
  if (res.ok) {
    try {
      return text ? JSON.parse(text) : {}
    } catch {
      return {}
    }
  }
  // The provider's own words, short: never the request (it carries no secret, but keys can be long).
  const said = text.replace(/\s+/g, ' ').slice(0, 200)
  throw new PurgeError(`${what} answered ${res.status}${said ? `: ${said}` : ''}`, res.status, res.headers.get('retry-after'))
}

/** At most `perMinute` calls in any minute, spaced evenly: waits before a call when needed. */
class Pace {
  constructor(perMinute) {
    this.gapMs = perMinute > 0 ? 60_000 / perMinute : 0
    this.next = 0
  }
  async wait() {
    const now = Date.now()
    const at = Math.max(now, this.next)
    this.next = at + this.gapMs
    if (at > now) await new Promise((r) => setTimeout(r, at - now))
  }
}

/** `items` in groups of at most `size`. */
function* groups(items, size) {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size)
}

module.exports = { postJson, Pace, groups }
