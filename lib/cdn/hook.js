'use strict'
// Any other CDN or proxy: the app's own `onPurge({ tags, keys, all })`, called with what to
// purge; a rejection is retried like a failed API call.

const { ALL_KEY } = require('./keys')

const LIMITS = { separator: ' ', maxKeyBytes: 1024, maxKeys: Number.POSITIVE_INFINITY, maxHeaderBytes: 16 * 1024 }

class Hook {
  constructor(onPurge, header) {
    this.name = 'hook'
    this.header = header
    this.limits = LIMITS
    this.onPurge = onPurge
  }
  async purge(keys, tags) {
    await this.onPurge({ tags, keys, all: false })
  }
  async purgeAll() {
    await this.onPurge({ tags: [], keys: [ALL_KEY], all: true })
  }
  describe() {
    return `onPurge (header ${this.header})`
  }

  /** How a config holding this provider prints: its description, never a secret. */
  toJSON() {
    return this.describe()
  }
}

module.exports = { Hook }
