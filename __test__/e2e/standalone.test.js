'use strict'
// `output: 'standalone'`, as a Docker image ships it. The app depends on shared-isr installed
// from `npm pack` tarballs (the package and its platform binding package, as from the registry)
// and configures `cacheHandler: require.resolve('shared-isr/handler')`. Each instance is its own
// copy of `.next/standalone` (+ `.next/static`, `public/`) in a temp dir outside the repository,
// started with `node server.js` and PORT/HOSTNAME: no access to the repository's node_modules.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, redisCommand, sleep, BLOG_DIR } = require('../../scripts/e2e/harness')
const { useCluster, changeAndRevalidate, assertAllNew } = require('./helpers')

const REPO = path.resolve(BLOG_DIR, '..', '..')

/** Every file under `dir` whose name matches `re`. */
function findFiles(dir, re, out = []) {
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name)
    if (ent.isDirectory()) findFiles(p, re, out)
    else if (re.test(ent.name)) out.push(p)
  }
  return out
}

/** Pids of every process in the process group `pgid` (the guard leads one per instance). */
function groupPids(pgid) {
  const pids = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // state ppid pgrp ...
      if (Number(fields[2]) === pgid) pids.push(Number(name))
    } catch {}
  }
  return pids
}

/** The shared-isr native addons mapped into the processes of `pgid`. */
function mappedAddons(pgid) {
  const files = new Set()
  for (const pid of groupPids(pgid)) {
    let maps = ''
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8')
    } catch {
      continue
    }
    for (const line of maps.split('\n')) {
      const m = /\s(\/\S*shared-isr[^/\s]*\.node)(\s|$)/.exec(line)
      if (m) files.add(m[1])
    }
  }
  return [...files]
}

const hasProc = fs.existsSync('/proc/self/maps')

for (const version of e2eVersions()) {
  describe(`next ${version}, output: 'standalone' with the packed package, 3 instances + redis`, () => {
    const step = useCluster({ version, instances: 3, standalone: true, redis: true })

    step('the traced output holds the package and its native addon; nothing points back into the repo', async (cluster, t) => {
      for (const root of ['/node_modules', path.join(path.dirname(cluster.runDir), 'node_modules')]) {
        assert.ok(!fs.existsSync(root), `${root} exists: a copy outside the repo could resolve modules from it`)
      }
      const inst = cluster.instances[0]
      const app = path.join(inst.dir, cluster.build.relativeAppDir)
      assert.ok(fs.existsSync(path.join(app, 'server.js')), 'server.js')
      const addons = findFiles(path.join(app, 'node_modules'), /^shared-isr\..+\.node$/)
      t.diagnostic(`next ${cluster.nextVersion}: traced addon(s): ${addons.map((f) => path.relative(inst.dir, f)).join(', ')}`)
      assert.ok(addons.length >= 1, 'no shared-isr .node file in the standalone node_modules')
      assert.ok(
        fs.existsSync(path.join(app, 'node_modules', 'shared-isr', 'lib', 'handler-default.js')),
        'shared-isr/lib/handler-default.js not traced',
      )

      // The config server.js carries: cacheHandler relative to the dist dir, inside the copy.
      const serverJs = fs.readFileSync(path.join(app, 'server.js'), 'utf8')
      const m = /"cacheHandler":"([^"]+)"/.exec(serverJs)
      assert.ok(m, 'server.js has no cacheHandler in its config')
      const configured = path.resolve(app, cluster.build.distDir, m[1])
      t.diagnostic(`server.js cacheHandler: ${m[1]}`)
      assert.ok(configured.startsWith(inst.dir + path.sep) && fs.existsSync(configured), `cacheHandler resolves to ${configured}`)
      assert.ok(!serverJs.includes(`"cacheHandler":"${REPO}`), 'cacheHandler is an absolute path into the repository')

      // Resolved and loaded from the copy alone, in a clean process (no NODE_PATH).
      const env = { PATH: process.env.PATH, HOME: process.env.HOME }
      const probe = spawnSync(
        process.execPath,
        [
          '-e',
          `
        const file = require.resolve('shared-isr/handler');
        const Handler = require(file);
        const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
        console.log(JSON.stringify({ file, type: typeof Handler, addons }));
      `,
        ],
        { cwd: app, env, encoding: 'utf8' },
      )
      assert.equal(probe.status, 0, `loading shared-isr/handler from ${app} failed:\n${probe.stderr}`)
      const loaded = JSON.parse(probe.stdout.trim().split('\n').pop())
      t.diagnostic(
        `require('shared-isr/handler') in the copy: ${path.relative(inst.dir, loaded.file)}, addon ${loaded.addons.map((f) => path.relative(inst.dir, f)).join(', ')}`,
      )
      assert.equal(loaded.type, 'function')
      assert.ok(loaded.file.startsWith(inst.dir + path.sep), loaded.file)
      assert.ok(loaded.addons.length >= 1 && loaded.addons.every((f) => f.startsWith(inst.dir + path.sep)), JSON.stringify(loaded.addons))
    })

    step('every server uses the handler and has the addon of its own copy loaded', async (cluster, t) => {
      const before = await redisCommand(cluster.redisUrl, 'DBSIZE')
      for (const inst of cluster.instances) {
        const page = await getPage(`${inst.url}/posts/hello-world`)
        assert.equal(page.status, 200, `${inst.name}: ${page.status}`)
      }
      let after = await redisCommand(cluster.redisUrl, 'DBSIZE')
      for (let i = 0; i < 20 && after <= before; i++) {
        await sleep(100)
        after = await redisCommand(cluster.redisUrl, 'DBSIZE')
      }
      assert.ok(after > before, `redis holds ${after} keys (before: ${before})`)
      if (!hasProc) return t.skip('no /proc')
      for (const inst of cluster.instances) {
        const addons = mappedAddons(inst.child.pid)
        t.diagnostic(`${inst.name}: mapped ${addons.join(', ') || 'nothing'}`)
        assert.ok(addons.length >= 1, `${inst.name}: no shared-isr addon mapped in its processes`)
        for (const f of addons) assert.ok(f.startsWith(inst.dir + path.sep), `${inst.name} mapped ${f}, outside its copy ${inst.dir}`)
      }
    })

    step('revalidateTag through the balancer: every instance serves the new content on its next request', async (cluster, t) => {
      const p = '/posts/hello-world'
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'standalone',
        paths: [p],
        revalidate: (c) => c.revalidate({ tags: ['posts'] }),
      })
      assertAllNew(seen[p], rev, (r) => `Hello world [${r}]`)
    })

    step('closed routes answer 200 on every instance', async (cluster) => {
      for (const inst of cluster.instances) {
        for (const p of ['/products/mug', '/shop/mug']) {
          const page = await getPage(inst.url + p)
          assert.equal(page.status, 200, `${inst.name} ${p} answered ${page.status}`)
        }
      }
    })
  })
}
