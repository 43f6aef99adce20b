'use strict'
// The stages of `npm test` (scripts/test.js). Every stage runs even when an earlier one failed,
// so one run reports every failure; only a stage whose prerequisite did not pass is skipped,
// with a line naming it. Needs nothing but Node: it runs before `npm ci`.

const { spawnSync } = require('node:child_process')

const secs = (ms) => `${(ms / 1000).toFixed(1)}s`

/**
 * A runner for stages in `cwd`; lines go to `log`.
 * - `run(label, cmd, args, { needs, ...spawnOptions })`: runs the stage (stdio inherited unless
 *   given) unless a stage named in `needs` ran and did not pass; returns whether it passed.
 * - `skip(label, why)`: records a stage left out on purpose (not a failure).
 * - `summary()`: logs every stage with its result and time; returns the exit code, 1 when any
 *   stage failed.
 */
function stages({ cwd, log = console.log }) {
  const results = []
  const record = (label, status, ms, note = '') => {
    results.push({ label, status, ms, note })
    return status === 'ok'
  }

  function run(label, cmd, args, { needs = [], ...opts } = {}) {
    // A prerequisite that never ran (e.g. `npm ci` when node_modules is there) is satisfied.
    const blocked = needs.map((n) => results.find((r) => r.label === n)).find((r) => r && r.status !== 'ok')
    if (blocked) {
      const why = `needs ${blocked.label}, which ${blocked.status === 'FAILED' ? 'failed' : 'was skipped'}`
      log(`\n[test] ${label}: skipped (${why})`)
      return record(label, 'skipped', null, why)
    }
    const started = Date.now()
    log(`\n[test] ${label}: ${cmd} ${args.join(' ')}`)
    const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', ...opts })
    const ms = Date.now() - started
    if (r.status === 0) {
      log(`[test] ${label} ok (${secs(ms)})`)
      return record(label, 'ok', ms)
    }
    const how = r.error ? `could not start: ${r.error.code ?? r.error.message}` : `exit ${r.status ?? r.signal}`
    log(`[test] ${label} FAILED after ${secs(ms)} (${how}); going on with the other stages`)
    return record(label, 'FAILED', ms, how)
  }

  function skip(label, why) {
    log(`\n[test] ${label}: skipped (${why})`)
    record(label, 'skipped', null, why)
  }

  function summary() {
    const width = Math.max(...results.map((r) => r.label.length))
    log('\n[test] summary')
    for (const r of results) {
      const time = r.ms === null ? '' : secs(r.ms)
      log(`[test]   ${r.status.padEnd(8)} ${r.label.padEnd(width)} ${time.padStart(7)}${r.note ? `  ${r.note}` : ''}`)
    }
    const failed = results.filter((r) => r.status === 'FAILED')
    if (failed.length) {
      log(`[test] FAILED: ${failed.length} of ${results.length} stages (${failed.map((r) => r.label).join(', ')})`)
      return 1
    }
    log('[test] all green')
    return 0
  }

  return { run, skip, summary }
}

module.exports = { stages }
