#!/usr/bin/env node
'use strict'
// `npm test`: everything, from a fresh clone. Installs what is missing, builds the addon,
// runs the Rust tests, the JS unit/integration tests and the end-to-end Next.js tests.
// SKIP_E2E=1 leaves out the Next.js end-to-end tests (slow: they build real apps).

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function run(label, cmd, args, opts = {}) {
  const started = Date.now()
  console.log(`\n[test] ${label}: ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts })
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  if (r.status !== 0) {
    console.error(`[test] ${label} FAILED after ${secs}s (exit ${r.status ?? r.signal})`)
    process.exit(r.status || 1)
  }
  console.log(`[test] ${label} ok (${secs}s)`)
}

run('system packages', 'bash', ['scripts/ensure-system.sh'])
if (
  !['@napi-rs/cli', '@biomejs/biome', 'typescript', '@types/node', 'prom-client', '@opentelemetry/sdk-metrics', 'js-yaml'].every((m) =>
    fs.existsSync(path.join(root, 'node_modules', m)),
  )
) {
  run('npm install', 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'])
}
run('build addon', 'npm', ['run', 'build', '--silent'])
run('js format and lints', process.execPath, [path.join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'ci', '.'])
run('rust format', 'cargo', ['fmt', '--check'])
run('rust lints', 'cargo', ['clippy', '--all-targets', '--quiet', '--', '-D', 'warnings'])
run('rust tests', 'cargo', ['test', '--', '--test-threads=2'])
const unit = fs
  .readdirSync(path.join(root, '__test__'))
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => `__test__/${f}`)
run('js tests', process.execPath, ['--test', '--test-concurrency=1', ...unit])
if (process.env.SKIP_E2E !== '1' && fs.existsSync(path.join(root, '__test__', 'e2e'))) {
  const e2e = fs
    .readdirSync(path.join(root, '__test__', 'e2e'))
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => `__test__/e2e/${f}`)
  if (e2e.length) run('e2e tests (real Next.js apps)', process.execPath, ['--test', '--test-concurrency=1', ...e2e])
}
console.log('\n[test] all green')
