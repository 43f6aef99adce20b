'use strict'
// `withSharedIsr` (shared-isr/next-config) in real builds, with the packed package installed as
// from the registry: Next 14.2 from next.config.js, 15.5 from next.config.mjs (a config
// function), 16 from next.config.ts (with `output: 'standalone'`). Each app has a webhook that
// imports 'shared-isr' (it builds only when withSharedIsr listed the package as external: webpack
// on 14/15, Turbopack on 16). Two `next start` instances share one Redis: a revalidation on
// instance 1 and its new render are what instance 2 serves. The prefix is given only to
// withSharedIsr and must be the one in Redis. On 16, a copy of the standalone output, started
// with `node server.js` without next.config and without SHARED_ISR_OPTIONS, serves the same page
// and uses the same prefix.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, request, parseMarkers, freePort, sleep, spawnGuarded, killGroup, startRedis, baseEnv, tail, redisCommand } =
  require('../../scripts/e2e/harness')
const { VERSIONS, versionDir, installUnlocked, withLock } = require('../../scripts/e2e/install-next')
const { ensurePackageInstalled } = require('../../scripts/e2e/pack')

const TIMEOUT = 15 * 60_000

/** next.config.<ext> for each major, written as a user would (plus the tracing root of this test's layout). */
function configFile(major, prefix, root) {
  if (major === '14') {
    return [
      'next.config.js',
      `const { withSharedIsr } = require('shared-isr/next-config')\n` +
        `module.exports = withSharedIsr({ experimental: { outputFileTracingRoot: ${JSON.stringify(root)} } }, { prefix: '${prefix}' })\n`,
    ]
  }
  if (major === '15') {
    return [
      'next.config.mjs',
      `import { withSharedIsr } from 'shared-isr/next-config'\n` +
        `export default withSharedIsr(async (phase) => ({ outputFileTracingRoot: ${JSON.stringify(root)} }), { prefix: '${prefix}' })\n`,
    ]
  }
  return [
    'next.config.ts',
    `import type { NextConfig } from 'next'\nimport { withSharedIsr } from 'shared-isr/next-config'\n\n` +
      `const config: NextConfig = { output: 'standalone', outputFileTracingRoot: ${JSON.stringify(root)} }\n` +
      `export default withSharedIsr(config, { prefix: '${prefix}' })\n`,
  ]
}

function writeApp(major, prefix) {
  const vdir = versionDir(major)
  const dir = path.join(vdir, 'apps', 'next-config')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, 'app', 'api', 'revalidate'), { recursive: true })
  fs.copyFileSync(path.join(vdir, 'package.json'), path.join(dir, 'package.json'))
  const [name, text] = configFile(major, prefix, vdir)
  fs.writeFileSync(path.join(dir, name), text)
  fs.writeFileSync(
    path.join(dir, 'app', 'layout.js'),
    'export default function RootLayout({ children }) {\n  return <html><body>{children}</body></html>\n}\n',
  )
  fs.writeFileSync(
    path.join(dir, 'app', 'page.js'),
    'export const revalidate = 3600\n\nexport default function Page() {\n' +
      '  return <main><p data-testid="stamp">{String(Date.now()) + "-" + Math.random()}</p>' +
      '<p data-testid="instance">{process.env.INSTANCE_NAME}</p></main>\n}\n',
  )
  fs.writeFileSync(
    path.join(dir, 'app', 'api', 'revalidate', 'route.js'),
    "import { revalidatePath } from 'shared-isr'\n\nexport const dynamic = 'force-dynamic'\n\n" +
      "export async function POST() {\n  await revalidatePath('/')\n  return Response.json({ revalidated: true })\n}\n",
  )
  return dir
}

function env(extra) {
  const e = { ...baseEnv(), ...extra }
  delete e.SHARED_ISR_OPTIONS // only withSharedIsr sets it
  delete e.SHARED_ISR_PREFIX
  return e
}

async function waitUp(url, child, logFile) {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited:\n${tail(logFile)}`)
    try {
      if ((await request(url, { timeout: 5000 })).status === 200) return
    } catch {}
    await sleep(200)
  }
  throw new Error(`no answer at ${url}:\n${tail(logFile)}`)
}

async function page(url) {
  const res = await request(`${url}/`)
  assert.equal(res.status, 200, res.body.slice(0, 300))
  return parseMarkers(res.body)
}

/** Polls `url` until `ok(markers)`; returns the last markers. */
async function until(url, ok, ms = 20_000) {
  const deadline = Date.now() + ms
  let m = await page(url)
  while (!ok(m) && Date.now() < deadline) {
    await sleep(250)
    m = await page(url)
  }
  return m
}

for (const major of e2eVersions()) {
  describe(`next ${VERSIONS[major].next}: withSharedIsr`, () => {
    const prefix = `wsi-${major}:`
    const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `shared-isr-next-config-${major}-`))
    const servers = []
    let dir
    let redis

    before(
      async () => {
        await withLock(versionDir(major), async () => {
          installUnlocked(major)
          ensurePackageInstalled(versionDir(major))
        })
        dir = writeApp(major, prefix)
        redis = await startRedis(runDir)
      },
      { timeout: TIMEOUT },
    )
    after(async () => {
      for (const s of servers) await killGroup(s)
      if (redis) await killGroup(redis.child)
      if (process.env.E2E_KEEP_LOGS !== '1') fs.rmSync(runDir, { recursive: true, force: true })
    })

    test('builds with a webhook importing shared-isr; a revalidation on one instance is served by the other', {
      timeout: TIMEOUT,
    }, async (t) => {
      const buildLog = path.join(runDir, 'build.log')
      fs.writeFileSync(buildLog, '')
      const nextBin = require.resolve('next/dist/bin/next', { paths: [dir] })
      const build = spawnGuarded(process.execPath, [nextBin, 'build'], {
        cwd: dir,
        env: env({ INSTANCE_NAME: 'build' }),
        logFile: buildLog,
        keepAlive: true,
      })
      const code = await new Promise((resolve) => build.once('exit', (c, s) => resolve(s || c)))
      assert.equal(code, 0, `next build failed:\n${tail(buildLog, 60)}`)

      const urls = []
      for (const name of ['app-1', 'app-2']) {
        const port = await freePort()
        const logFile = path.join(runDir, `${name}.log`)
        const child = spawnGuarded(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
          cwd: dir,
          env: env({ INSTANCE_NAME: name, SHARED_ISR_REDIS_URL: redis.url }),
          logFile,
        })
        servers.push(child)
        urls.push(`http://127.0.0.1:${port}`)
        await waitUp(`http://127.0.0.1:${port}/`, child, logFile)
      }
      if (major === '16') {
        // Standalone, moved out of the project as into an image: no next.config, no node_modules around it.
        const standalone = path.join(runDir, 'standalone')
        fs.cpSync(path.join(dir, '.next', 'standalone'), standalone, { recursive: true, verbatimSymlinks: true })
        const rsf = JSON.parse(fs.readFileSync(path.join(dir, '.next', 'required-server-files.json'), 'utf8'))
        const appDir = path.join(standalone, rsf.relativeAppDir || '')
        assert.ok(!fs.readdirSync(appDir).some((f) => f.startsWith('next.config')), 'standalone has no next.config to evaluate')
        const port = await freePort()
        const logFile = path.join(runDir, 'standalone.log')
        const child = spawnGuarded(process.execPath, ['server.js'], {
          cwd: appDir,
          env: env({ INSTANCE_NAME: 'app-3', SHARED_ISR_REDIS_URL: redis.url, PORT: String(port), HOSTNAME: '127.0.0.1' }),
          logFile,
        })
        servers.push(child)
        urls.push(`http://127.0.0.1:${port}`)
        await waitUp(`http://127.0.0.1:${port}/`, child, logFile)
      }

      const before = await page(urls[0])
      for (const url of urls.slice(1)) await page(url)
      const hook = await request(`${urls[0]}/api/revalidate`, { method: 'POST', body: {} })
      assert.equal(hook.status, 200, hook.body)
      assert.deepEqual(JSON.parse(hook.body), { revalidated: true })

      // Instance 1 renders the page anew and stores it...
      const fresh = await until(urls[0], (m) => m.stamp !== before.stamp && m.instance === 'app-1')
      assert.notEqual(fresh.stamp, before.stamp, 'instance 1 never rendered the revalidated page')
      assert.equal(fresh.instance, 'app-1')
      await sleep(300) // a set() may complete just after its response
      // ...and every other instance serves that render (shared), not an old or its own one.
      for (const url of urls.slice(1)) {
        const seen = await until(url, (m) => m.stamp !== before.stamp, 10_000)
        t.diagnostic(`${url}: ${JSON.stringify(seen)}`)
        assert.deepEqual(seen, fresh, `${url} did not serve instance 1's render`)
      }

      // The prefix given to withSharedIsr is the one the handlers (and the webhook) used.
      const keys = await redisCommand(redis.url, 'KEYS', '*')
      assert.ok(keys.length > 0, 'nothing in Redis')
      const foreign = keys.filter((k) => !k.startsWith(prefix))
      assert.deepEqual(foreign, [], `keys without the prefix ${prefix}`)
    })
  })
}
