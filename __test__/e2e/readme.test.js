'use strict'
// The README's setup, as a new user copies it: its next.config.js block for the Next version
// and its webhook route (`import { revalidateTags, revalidatePath } from 'shared-isr'` in
// app/api/revalidate/route.js), taken from README.md as written, in an app with the packed
// package installed (tarballs, as from the registry). Each is built with every bundler that
// Next version offers (14.2: webpack; 15.5 and 16: webpack and Turbopack) and then answers the
// webhook under `next start`: 200 when the revalidation was recorded in Redis (checked from
// this process), 503 with the error code when Redis cannot be reached. The README's health and
// metrics routes are built with it and answer in both cases.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const fs = require('node:fs')
const path = require('node:path')
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, request, freePort, sleep, spawnGuarded, killGroup, startRedis, baseEnv, tail } = require('../../scripts/e2e/harness')
const { VERSIONS, versionDir, installUnlocked, withLock } = require('../../scripts/e2e/install-next')
const { ensurePackageInstalled } = require('../../scripts/e2e/pack')
const parsePrometheus = require('parse-prometheus-text-format')
const { webhookHeaders } = require('../../scripts/demo')

const REPO = path.resolve(__dirname, '..', '..')
const README = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8')
const BUILD_TIMEOUT = 15 * 60_000

/** The body of the README's ```js block whose first line is `// <title>`. */
function snippet(title) {
  for (const m of README.matchAll(/```js\n([\s\S]*?)```/g)) {
    if (m[1].startsWith(`// ${title}\n`)) return m[1]
  }
  throw new Error(`README.md has no js block starting with "// ${title}"`)
}

/** Which bundlers a Next major builds with: [name, extra `next build` args]. */
function bundlers(major) {
  if (major === '14') return [['webpack', []]]
  if (major === '15')
    return [
      ['webpack', []],
      ['turbopack', ['--turbopack']],
    ]
  return [
    ['turbopack', []],
    ['webpack', ['--webpack']],
  ]
}

/**
 * The README app for one major, in a folder under the pinned Next install (so `next` and the
 * packed shared-isr resolve from the node_modules above it). Only the test's own plumbing is
 * added to the README's config: the dist dir per bundler and the tracing root.
 */
function writeApp(major) {
  const vdir = versionDir(major)
  const dir = path.join(vdir, 'apps', 'readme')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'app', 'api', 'revalidate'), { recursive: true })
  fs.copyFileSync(path.join(vdir, 'package.json'), path.join(dir, 'package.json'))
  const config = snippet(major === '14' ? 'next.config.js — Next 14.2' : 'next.config.js — Next 15 and 16')
  const rootKey = major === '14' ? 'module.exports.experimental.outputFileTracingRoot' : 'module.exports.outputFileTracingRoot'
  fs.writeFileSync(
    path.join(dir, 'next.config.js'),
    `${config}\n// --- test plumbing, not from the README\nmodule.exports.distDir = process.env.NEXT_DIST_DIR;\n` +
      `${rootKey} = ${JSON.stringify(vdir)};\n`,
  )
  fs.writeFileSync(path.join(dir, 'app', 'api', 'revalidate', 'route.js'), snippet('app/api/revalidate/route.js'))
  for (const route of ['app/metrics/route.js', 'app/api/health/route.js']) {
    fs.mkdirSync(path.join(dir, path.dirname(route)), { recursive: true })
    fs.writeFileSync(path.join(dir, route), snippet(route))
  }
  fs.writeFileSync(
    path.join(dir, 'app', 'layout.js'),
    'export default function RootLayout({ children }) {\n  return <html><body>{children}</body></html>;\n}\n',
  )
  fs.writeFileSync(path.join(dir, 'app', 'page.js'), 'export default function Page() {\n  return <p>readme app</p>;\n}\n')
  return dir
}

async function nextRun(dir, args, env, logFile) {
  const child = spawnGuarded(process.execPath, [require.resolve('next/dist/bin/next', { paths: [dir] }), ...args], {
    cwd: dir,
    env,
    logFile,
    keepAlive: args[0] === 'build',
  })
  return child
}

async function waitUp(url, child, logFile) {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`next start exited:\n${tail(logFile)}`)
    try {
      const r = await request(url, { timeout: 2000 })
      if (r.status === 200) return
    } catch {}
    await sleep(200)
  }
  throw new Error(`next start did not answer at ${url}:\n${tail(logFile)}`)
}

for (const major of e2eVersions()) {
  describe(`next ${VERSIONS[major].next}: the README's setup and webhook`, () => {
    let dir
    let redis
    const runDir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), `shared-isr-readme-${major}-`))
    const api = require('../../lib/index')
    before(
      async () => {
        await withLock(versionDir(major), async () => {
          installUnlocked(major)
          ensurePackageInstalled(versionDir(major))
        })
        dir = writeApp(major)
        redis = await startRedis(runDir)
      },
      { timeout: BUILD_TIMEOUT },
    )
    after(async () => {
      await api.close()
      if (redis) await killGroup(redis.child)
      fs.rmSync(runDir, { recursive: true, force: true })
    })

    for (const [bundler, args] of bundlers(major)) {
      test(`builds with ${bundler}; the webhook records revalidations in Redis and answers 503 without it`, {
        timeout: BUILD_TIMEOUT,
      }, async (t) => {
        const distDir = `.next-${bundler}`
        const env = { ...baseEnv(), NEXT_DIST_DIR: distDir, REVALIDATE_SECRET: 's3cret' }
        // As in a Docker build: a Redis URL is set and nothing answers there.
        const buildLog = path.join(runDir, `build-${bundler}.log`)
        fs.writeFileSync(buildLog, '')
        const build = await nextRun(
          dir,
          ['build', ...args],
          { ...env, SHARED_ISR_REDIS_URL: `redis://127.0.0.1:${await freePort()}` },
          buildLog,
        )
        const code = await new Promise((resolve) => build.once('exit', (c, s) => resolve(s || c)))
        assert.equal(code, 0, `next build ${args.join(' ')} failed:\n${tail(buildLog, 60)}`)
        const builtWith = fs.readFileSync(buildLog, 'utf8')
        if (bundler === 'turbopack') assert.match(builtWith, /turbopack/i, 'not built with Turbopack')
        else assert.doesNotMatch(builtWith, /Next\.js [\d.]+ \(Turbopack/i, 'built with Turbopack, not webpack')

        const prefix = `readme-${major}-${bundler}:`
        const H = api.createHandler({ redisUrl: redis.url, prefix })
        const fetchCtx = { kind: 'FETCH', revalidate: 60, fetchUrl: 'https://cms/x', fetchIdx: 0, tags: ['post-1'], softTags: [] }
        await new H({}).set(
          'k',
          { kind: 'FETCH', data: { headers: {}, body: 'eA==', url: 'https://cms/x' }, revalidate: 60 },
          { fetchCache: true, tags: ['post-1'] },
        )
        assert.ok(await new H({}).get('k', fetchCtx), 'the entry is stored')

        for (const [label, redisUrl, expect] of [
          ['redis up', redis.url, 200],
          ['nothing listening', `redis://127.0.0.1:${await freePort()}`, 503],
        ]) {
          const port = await freePort()
          const logFile = path.join(runDir, `start-${bundler}-${expect}.log`)
          fs.writeFileSync(logFile, '')
          const server = await nextRun(
            dir,
            ['start', '-p', String(port), '-H', '127.0.0.1'],
            { ...env, SHARED_ISR_REDIS_URL: redisUrl, SHARED_ISR_PREFIX: prefix },
            logFile,
          )
          try {
            await waitUp(`http://127.0.0.1:${port}/`, server, logFile)
            const scrape = async () => {
              const m = await request(`http://127.0.0.1:${port}/metrics`)
              assert.equal(m.status, 200)
              // A real Prometheus text parser: every family parses, with its type.
              const families = Object.fromEntries(parsePrometheus(m.body).map((f) => [f.name, f]))
              const total = (name, labels = {}) =>
                (families[name]?.metrics ?? [])
                  .filter((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v))
                  .reduce((a, x) => a + Number(x.value), 0)
              assert.equal(families.shared_isr_reads_total?.type, 'COUNTER')
              assert.equal(families.shared_isr_store_operation_duration_seconds?.type, 'HISTOGRAM')
              return { total, body: m.body }
            }
            const first = await scrape()
            const res = await request(`http://127.0.0.1:${port}/api/revalidate`, {
              method: 'POST',
              headers: webhookHeaders('s3cret'), // what the demo's curl sends
              body: { tags: ['post-1'], paths: ['/'] },
            })
            t.diagnostic(`${label}: ${res.status} ${res.body.slice(0, 160)}`)
            assert.equal(res.status, expect, `${label}: ${res.body}\n${tail(logFile)}`)
            if (expect === 503) assert.match(JSON.parse(res.body).error, /^ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)$/)
            else assert.deepEqual(JSON.parse(res.body), { revalidated: true })
            const unauthorized = await request(`http://127.0.0.1:${port}/api/revalidate`, { method: 'POST', body: {} })
            assert.equal(unauthorized.status, 401)
            // The README's probe and metrics routes, in the same process as the webhook.
            const health = await request(`http://127.0.0.1:${port}/api/health`)
            assert.equal(health.status, 200, health.body)
            assert.equal(JSON.parse(health.body).status, expect === 200 ? 'ok' : 'degraded', health.body)
            const then = await scrape()
            // The values move with what the app did in between (the webhook).
            const moved = (name, labels) => then.total(name, labels) > first.total(name, labels)
            assert.ok(moved('shared_isr_revalidations_total'), then.body)
            if (expect === 503) assert.ok(moved('shared_isr_errors_total', { op: 'revalidateTag' }), then.body)
          } finally {
            await killGroup(server)
          }
        }
        // Recorded by the app's process, seen by this one: the entry tagged post-1 is gone.
        assert.equal(await new H({}).get('k', fetchCtx), null, 'the webhook did not revalidate post-1 in Redis')
      })
    }
  })
}
