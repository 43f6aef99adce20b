#!/usr/bin/env node
'use strict'
// Smoke test of a built addon as users get it: `npm pack` of this repository and of its platform
// package (npm/<platform>/package.json + the shared-isr.<platform>.node at the root), installed
// from the tarballs into a fresh app outside the repository. There `require('shared-isr')` must
// load the addon from node_modules/@shared-isr/binding-<platform>, and a handler on the
// in-memory store (no Redis URL, L1 off so every call reaches the addon) round-trips a value.
// The release workflow runs it once per target, in Docker for the Linux ones.
//
//   node scripts/smoke.js [--expect <platform>]     e.g. --expect linux-arm64-musl

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { ensurePackageInstalled, builtAddon } = require('./e2e/pack')

const ROUND_TRIP = `
const api = require('shared-isr')
const options = { l1MaxBytes: 0 }
const H = api.createHandler(options)
;(async () => {
  const h = new H({})
  const body = Buffer.from('smoke ' + process.platform + '-' + process.arch)
  await h.set('/smoke', { kind: 'APP_ROUTE', body, status: 200, headers: { 'x-next-cache-tags': 'smoke' } }, { revalidate: 60 })
  const hit = await h.get('/smoke', { kind: 'APP_ROUTE' })
  await api.revalidateTags('smoke', undefined, options)
  const after = await h.get('/smoke', { kind: 'APP_ROUTE' })
  const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'))
  console.log('SMOKE ' + JSON.stringify({
    sent: body.toString(),
    got: hit && hit.value && Buffer.from(hit.value.body).toString(),
    afterRevalidate: after === null ? null : 'hit',
    store: api.stats(options).store,
    addons,
  }))
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
`

/** Runs `code` with node in `cwd`, without any shared-isr setting from the caller's environment. */
function runIn(cwd, code) {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('SHARED_ISR_') || k === 'REDIS_URL') delete env[k]
  return spawnSync(process.execPath, ['-e', code], { cwd, env, encoding: 'utf8', timeout: 30_000 })
}

/** A fresh app dir outside the repository with shared-isr installed from tarballs. */
function makeApp(log = () => {}) {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-smoke-'))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'smoke-app', private: true }))
  const installed = ensurePackageInstalled(app, log)
  return { app, ...installed }
}

function smoke({ expect = builtAddon().triple, log = () => {} } = {}) {
  const { app, files, bindingName } = makeApp(log)
  try {
    return { result: roundTrip(app, expect), files, bindingName }
  } finally {
    fs.rmSync(app, { recursive: true, force: true })
  }
}

/**
 * In `app`, where shared-isr is installed: `require('shared-isr')` loads the addon of platform
 * `expect` from its package and round-trips a value. Returns what it saw; throws on a problem.
 */
function roundTrip(app, expect = builtAddon().triple) {
  const r = runIn(app, ROUND_TRIP)
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('SMOKE '))
  if (r.status !== 0 || !line) throw new Error(`round trip failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
  const result = JSON.parse(line.slice('SMOKE '.length))
  const problems = []
  if (result.got !== result.sent) problems.push(`get returned ${JSON.stringify(result.got)}, not ${JSON.stringify(result.sent)}`)
  if (result.afterRevalidate !== null) problems.push('the entry survived revalidateTags')
  if (result.store !== 'memory') problems.push(`store is ${result.store}, not memory`)
  const want = path.join('node_modules', '@shared-isr', `binding-${expect}`, `shared-isr.${expect}.node`)
  if (result.addons.length !== 1 || !result.addons[0].endsWith(want)) {
    problems.push(`expected one addon ending in ${want}, loaded: ${result.addons.join(', ') || 'none'}`)
  }
  if (problems.length) throw new Error(`smoke test of ${expect}: ${problems.join('; ')}`)
  return result
}

module.exports = { smoke, makeApp, runIn, roundTrip }

if (require.main === module) {
  const i = process.argv.indexOf('--expect')
  const expect = i > 0 ? process.argv[i + 1] : undefined
  try {
    const { result } = smoke({ expect, log: console.log })
    console.log(`smoke ok: ${result.addons[0]} round-tripped "${result.got}" on Node ${process.version}`)
  } catch (err) {
    console.error(err.message)
    process.exit(1)
  }
}
