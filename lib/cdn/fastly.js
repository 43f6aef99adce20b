'use strict'
// Fastly: responses carry `Surrogate-Key` (space-separated); a purge is
// POST /service/<id>/purge with {"surrogate_keys": [...]} (at most 256 per call) and the API
// token in `Fastly-Key`; `soft` adds `Fastly-Soft-Purge: 1` (the object is marked stale, not
// removed). Everything: POST /service/<id>/purge_all.

const { ALL_KEY } = require('./keys')
const { postJson, Pace, groups } = require('./api')

// Fastly's documented limits: 1,024 bytes per key, 16,384 bytes for the header, 256 keys per call.
const LIMITS = { separator: ' ', maxKeyBytes: 1024, maxKeys: Number.POSITIVE_INFINITY, maxHeaderBytes: 16_384 }
const PER_CALL = 256

class Fastly {
  // Private: never in JSON.stringify, util.inspect or a log line of the config.
  #token

  constructor({ serviceId, token, soft, endpoint, timeoutMs, perMinute }) {
    this.name = 'fastly'
    this.header = 'surrogate-key'
    this.limits = LIMITS
    this.serviceId = serviceId
    this.#token = token
    this.soft = soft
    this.endpoint = endpoint
    this.timeoutMs = timeoutMs
    this.pace = new Pace(perMinute)
  }

  headers() {
    return { 'fastly-key': this.#token, ...(this.soft ? { 'fastly-soft-purge': '1' } : {}) }
  }

  async purge(keys) {
    for (const batch of groups(keys, PER_CALL)) {
      await this.pace.wait()
      await postJson(`${this.endpoint}/service/${encodeURIComponent(this.serviceId)}/purge`, {
        headers: this.headers(),
        body: { surrogate_keys: batch },
        timeoutMs: this.timeoutMs,
        what: `fastly service ${this.serviceId}`,
      })
    }
  }

  /** Everything shared-isr tagged: the key every tagged object carries (purge_all would drop the rest of the site too). */
  purgeAll() {
    return this.purge([ALL_KEY])
  }

  probe() {
    return this.purge(['sisr-doctor-probe'])
  }

  describe() {
    return `fastly service ${this.serviceId}${this.soft ? ' (soft purge)' : ''}`
  }

  /** How a config holding this provider prints: its description, never a secret. */
  toJSON() {
    return this.describe()
  }
}

module.exports = { Fastly, PER_CALL }
