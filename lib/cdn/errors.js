'use strict'
// A purge the CDN did not confirm. `retryable`: worth sending again later (no answer, 429, 5xx);
// otherwise the request itself is wrong (a 4xx: bad credentials, bad VCL) and retrying as it is
// cannot help, but the purge stays owed all the same.

class PurgeError extends Error {
  constructor(message, status, retryAfter) {
    super(message)
    this.name = 'PurgeError'
    this.code = 'ERR_SHARED_ISR_CDN'
    this.status = status
    this.retryable = status === undefined || status === 429 || status >= 500
    const s = Number(retryAfter)
    this.retryAfterMs = Number.isFinite(s) && s >= 0 ? Math.min(s * 1000, 60_000) : undefined
  }
}

module.exports = { PurgeError }
