'use strict'
// Where shared-isr's log lines go. By default the console, as `[shared-isr] message`. With the
// `logger` option (pino, winston, bunyan, or anything with `info`, `warn` and `error`) each line
// is `logger.<level>(fields, message)`: `fields.event` is a stable name to filter on, the
// rest (op, code, key, store) is structured.
//
// Events: store_failing, store_recovered, entry_ignored, write_skipped, call_failed,
// copy_dropped, config_invalid, memory_store, redis_store, revalidations_dropped,
// revalidations_lost, tracking_refused, scripting_refused, use_cache_alone.

const LEVELS = ['info', 'warn', 'error']

/** Refuses what cannot log, at configuration time rather than at the first failure. */
function checkLogger(logger) {
  if (logger === undefined || logger === null) return null
  if (typeof logger !== 'object' && typeof logger !== 'function') {
    throw Object.assign(new TypeError('logger must be an object with info, warn and error methods'), { code: 'ERR_SHARED_ISR_CONFIG' })
  }
  const missing = LEVELS.filter((l) => typeof logger[l] !== 'function')
  if (missing.length > 0) {
    throw Object.assign(new TypeError(`logger must have info, warn and error methods (missing: ${missing.join(', ')})`), {
      code: 'ERR_SHARED_ISR_CONFIG',
    })
  }
  return logger
}

class Log {
  constructor(logger) {
    this.logger = checkLogger(logger)
  }

  write(level, fields, message) {
    try {
      if (this.logger) this.logger[level]({ name: 'shared-isr', ...fields }, message)
      else console[level](`[shared-isr] ${message}`)
    } catch {
      // A logger that throws must not turn a cache miss into an error page.
    }
  }

  info(fields, message) {
    this.write('info', fields, message)
  }
  warn(fields, message) {
    this.write('warn', fields, message)
  }
  error(fields, message) {
    this.write('error', fields, message)
  }
}

const consoleLog = new Log(null)

module.exports = { Log, consoleLog, checkLogger }
