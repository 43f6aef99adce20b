#!/usr/bin/env node
'use strict'
// `npm test`: everything, from a fresh clone. Installs what is missing, builds the addon,
// runs the lints, the Rust tests, the JS unit/integration tests and the end-to-end Next.js
// tests. Every stage runs even when an earlier one failed (a stage that needs one that failed,
// e.g. the JS tests without an addon, is skipped and says why); a summary of every stage ends
// the run, and the exit code is non-zero if any failed.
// SKIP_E2E=1 leaves out the Next.js end-to-end tests (slow: they build real apps).

const fs = require('node:fs')
const path = require('node:path')
const { stages } = require('./lib/stages')

const root = path.resolve(__dirname, '..')
const { run, skip, summary } = stages({ cwd: root })

run('system packages', 'bash', ['scripts/ensure-system.sh'])
if (
  !['@napi-rs/cli', '@biomejs/biome', 'typescript', '@types/node', 'prom-client', '@opentelemetry/sdk-metrics', 'js-yaml'].every((m) =>
    fs.existsSync(path.join(root, 'node_modules', m)),
  )
) {
  run('npm install', 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'])
}
run('build addon', 'npm', ['run', 'build', '--silent'], { needs: ['npm install'] })
run('js format and lints', process.execPath, [path.join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'ci', '.'], {
  needs: ['npm install'],
})
run('rust format', 'cargo', ['fmt', '--check'])
run('rust lints', 'cargo', ['clippy', '--all-targets', '--quiet', '--', '-D', 'warnings'])
run('rust tests', 'cargo', ['test', '--', '--test-threads=2'])
const unit = fs
  .readdirSync(path.join(root, '__test__'))
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => `__test__/${f}`)
run('js tests', process.execPath, ['--test', '--test-concurrency=1', ...unit], { needs: ['build addon'] })
const e2eLabel = 'e2e tests (real Next.js apps)'
if (process.env.SKIP_E2E === '1') skip(e2eLabel, 'SKIP_E2E=1')
else if (fs.existsSync(path.join(root, '__test__', 'e2e'))) {
  const e2e = fs
    .readdirSync(path.join(root, '__test__', 'e2e'))
    .filter((f) => f.endsWith('.test.js'))
    .map((f) => `__test__/e2e/${f}`)
  if (e2e.length) run(e2eLabel, process.execPath, ['--test', '--test-concurrency=1', ...e2e], { needs: ['build addon'] })
}
process.exitCode = summary()
