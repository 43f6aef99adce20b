'use strict'
// Handlers whose configuration was refused at run time: they serve uncached (lib/handler.js
// lazyStore) and say so once in the log. Kept process-wide here, importing nothing, so the
// metrics and the health probe can show it without a store to ask.

const KEY = Symbol.for('shared-isr.misconfigured')
const state = (globalThis[KEY] ??= { errors: new Map() }) // message -> code, bounded

/** A refused configuration (its message names the setting; never a secret: config errors redact). */
function noteMisconfigured(err) {
  if (state.errors.size >= 16) return
  state.errors.set(String(err?.message ?? err), err?.code ?? 'ERR_SHARED_ISR_CONFIG')
}

/** The refused configurations seen, as `{ code, message }`. */
function misconfigured() {
  return [...state.errors].map(([message, code]) => ({ code, message }))
}

module.exports = { noteMisconfigured, misconfigured }
