'use strict'
// Cloudflare: responses carry `Cache-Tag` (comma-separated; Cloudflare strips it before the
// visitor); a purge is POST /client/v4/zones/<zone>/purge_cache with {"tags": [...]} (at most
// 100 per call) and `Authorization: Bearer <token>`. Calls are paced to the plan's budget
// (`?rate=` calls per minute) and a 429 waits for its Retry-After.

const { ALL_KEY } = require('./keys')
const { postJson, Pace, groups } = require('./api')
const { PurgeError } = require('./errors')

// Cloudflare's documented limits: 1,024 characters per tag, 16 KB for the header, 100 tags per call.
const LIMITS = { separator: ',', maxKeyBytes: 1024, maxKeys: Number.POSITIVE_INFINITY, maxHeaderBytes: 16 * 1024 }
const PER_CALL = 100

class Cloudflare {
  // Private: never in JSON.stringify, util.inspect or a log line of the config.
  #token

  constructor({ zoneId, token, endpoint, timeoutMs, perMinute }) {
    this.name = 'cloudflare'
    this.header = 'cache-tag'
    this.limits = LIMITS
    this.zoneId = zoneId
    this.#token = token
    this.endpoint = endpoint
    this.timeoutMs = timeoutMs
    this.pace = new Pace(perMinute)
  }

  async purge(keys) {
    for (const batch of groups(keys, PER_CALL)) {
      await this.pace.wait()
      const answer = await postJson(`${this.endpoint}/client/v4/zones/${encodeURIComponent(this.zoneId)}/purge_cache`, {
        headers: { authorization: `Bearer ${this.#token}` },
        body: { tags: batch },
        timeoutMs: this.timeoutMs,
        what: `cloudflare zone ${this.zoneId}`,
      })
      // A 200 can still carry success: false (Cloudflare's envelope).
      if (answer && answer.success === false) {
        const said = JSON.stringify(answer.errors ?? []).slice(0, 200)
        throw new PurgeError(`cloudflare zone ${this.zoneId} refused the purge: ${said}`, 400)
      }
    }
  }

  purgeAll() {
    return this.purge([ALL_KEY])
  }

  probe() {
    return this.purge(['sisr-doctor-probe'])
  }

  describe() {
    return `cloudflare zone ${this.zoneId}`
  }

  /** How a config holding this provider prints: its description, never a secret. */
  toJSON() {
    return this.describe()
  }
}

module.exports = { Cloudflare, PER_CALL }
