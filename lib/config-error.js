'use strict'
// The error of a bad setting (`ERR_SHARED_ISR_CONFIG`). Its own module: next.config loads
// lib/next-config.js, which loads the addon only to check a redisUrl option.

class ConfigError extends Error {
  constructor(message) {
    super(message)
    this.name = 'ConfigError'
    this.code = 'ERR_SHARED_ISR_CONFIG'
  }
}

module.exports = { ConfigError }
