'use strict'
// `next build` with shared-isr configured and Redis unreachable, as in a Docker build where
// the Redis of the running system is not reachable: SHARED_ISR_REDIS_URL points at a closed
// port on 127.0.0.1. The build must succeed and take about as long as the same app built
// without the handler (Next's default cache).
//
// The harness builds every mode once per run and caches it (examples/.work/next<major>/.next-<mode>,
// keyed by sources, Next version and package contents); each build records how long it took.
// Whichever test needs a build first triggers it (with `node --test __test__/e2e/*.test.js` this
// file, the first by name), and this file reports the recorded times: measured in this run, or
// marked "cached" with the time of the build they come from.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const fs = require('node:fs')
const path = require('node:path')
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, buildApp } = require('../../scripts/e2e/harness')
const { SETUP_TIMEOUT } = require('./helpers')

// Allowed: half as long again, plus 10 s for a 2-core machine's noise.
const ALLOWED = (defaultMs) => defaultMs * 1.5 + 10_000

const secs = (ms) => `${(ms / 1000).toFixed(1)}s`

function handlerLines(logFile) {
  try {
    return fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('[shared-isr]'))
      .map((l) => l.trim())
  } catch {
    return []
  }
}

for (const version of e2eVersions()) {
  test(`next ${version}: build with the handler configured and Redis unreachable succeeds, about as fast as without`, {
    timeout: SETUP_TIMEOUT,
  }, async (t) => {
    const builds = {}
    for (const mode of ['default', 'shared', 'standalone']) builds[mode] = await buildApp({ version, mode })
    const rec = Object.fromEntries(Object.entries(builds).map(([m, b]) => [m, b.record]))

    for (const mode of ['shared', 'standalone']) {
      assert.match(rec[mode].redisUrl ?? '', /^redis:\/\/127\.0\.0\.1:\d+$/, `${mode} was not built with a Redis URL`)
      const rsf = JSON.parse(fs.readFileSync(path.join(builds[mode].vdir, builds[mode].distDir, 'required-server-files.json'), 'utf8'))
      assert.ok(rsf.config.cacheHandler, `${mode}: the build has no cacheHandler configured`)
    }
    assert.equal(rec.default.redisUrl, null)

    const line = (m) => `${m} ${secs(rec[m].buildMs)}${builds[m].built ? '' : ` (cached, built ${rec[m].builtAt})`}`
    t.diagnostic(
      `next ${rec.default.nextVersion}: ${['default', 'shared', 'standalone'].map(line).join(', ')}; Redis configured: ${rec.shared.redisUrl} (closed)`,
    )
    const said = handlerLines(rec.shared.logFile)
    t.diagnostic(`handler output during the shared build: ${said.length ? said.join(' | ') : '(none)'}`)

    assert.ok(
      rec.shared.buildMs <= ALLOWED(rec.default.buildMs),
      `with Redis unreachable the build took ${secs(rec.shared.buildMs)}, without the handler ${secs(rec.default.buildMs)}`,
    )
  })
}
