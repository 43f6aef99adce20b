'use strict'
// `npm run demo -- --compare --cdn` as a newcomer runs it: start it, wait for its instructions, run
// the printed commands (edit the CMS, webhook, look at every instance and at both CDNs) in a
// shell, then Ctrl-C and check that nothing it started is left (processes, ports, temp dirs).
//
// Runs on one Next version: 16 when E2E_NEXT_VERSIONS includes it, else the last one listed.
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, sleep, BLOG_DIR } = require('../../scripts/e2e/harness')
const { SETUP_TIMEOUT, portAnswers: portOpen } = require('./helpers')

const ROOT = path.resolve(BLOG_DIR, '..', '..')
const versions = e2eVersions()
const VERSION = versions.includes('16') ? '16' : versions[versions.length - 1]

/** A base port with it and the next 3, and base+1000..base+1003, all free. */
async function freeBase() {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 20000)
    const ports = [0, 1, 2, 3, 100, 200, 1000, 1001, 1002, 1003].map((d) => base + d)
    let ok = true
    for (const p of ports)
      if (await portOpen(p)) {
        ok = false
        break
      }
    if (ok) return base
  }
  throw new Error('no free port range')
}

/** Pids whose command line mentions `needle`. */
function processesMentioning(needle) {
  const out = []
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmd.includes(needle)) out.push(`${name}: ${cmd}`)
    } catch {}
  }
  return out
}

const sh = (line) => spawnSync('bash', ['-c', line], { encoding: 'utf8', timeout: 30_000 })
const haveCurl = !spawnSync('curl', ['--version']).error

test(`npm run demo -- --compare --cdn (next ${VERSION}): instructions work as printed, Ctrl-C leaves nothing behind`, {
  timeout: SETUP_TIMEOUT,
  skip: !haveCurl && 'needs curl',
}, async (t) => {
  const base = await freeBase()
  const env = { ...process.env, DEMO_NEXT_VERSION: VERSION, DEMO_PORT: String(base) }
  delete env.NODE_TEST_CONTEXT
  const demo = spawn(process.execPath, [path.join(ROOT, 'scripts', 'demo.js'), '--compare', '--cdn'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  demo.stdout.on('data', (d) => {
    out += d
  })
  demo.stderr.on('data', (d) => {
    err += d
  })
  const exited = new Promise((resolve) => demo.once('exit', (code, signal) => resolve({ code, signal })))
  try {
    const t0 = Date.now()
    while (!out.includes('Press Ctrl-C')) {
      if (demo.exitCode !== null) assert.fail(`the demo exited (${demo.exitCode}):\n${out}\n${err}`)
      if (Date.now() - t0 > SETUP_TIMEOUT - 60_000) assert.fail(`the demo did not become ready:\n${out}\n${err}`)
      await sleep(200)
    }
    t.diagnostic(`demo ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`)

    // What the instructions name.
    const lbShared = `http://127.0.0.1:${base}`
    const lbDefault = `http://127.0.0.1:${base + 1000}`
    assert.ok(out.includes(`Load balancer (round robin): ${lbShared}`), out)
    assert.ok(out.includes(lbDefault), out)
    const sharedPorts = [1, 2, 3].map((d) => base + d)
    const defaultPorts = [1001, 1002, 1003].map((d) => base + d)
    for (const p of [...sharedPorts, ...defaultPorts]) {
      const page = await getPage(`http://127.0.0.1:${p}/posts/hello-world`)
      assert.equal(page.status, 200, `:${p}`)
    }
    const lines = out.split('\n').map((l) => l.trim())
    const editLine = lines.find((l) => l.startsWith('node -e '))
    const cmsFile = lines.find((l) => l.endsWith('cms.json') && path.isAbsolute(l))
    const hooks = lines.filter((l) => l.startsWith('curl -s -X POST') && l.includes('/api/revalidate '))
    const peeks = lines.filter((l) => l.startsWith('for p in '))
    assert.ok(editLine && cmsFile && fs.existsSync(cmsFile), `edit command / CMS file not printed:\n${out}`)
    assert.equal(hooks.length, 2, 'one webhook command per cluster')
    assert.equal(peeks.length, 2, 'one look-at-every-instance command per cluster')
    const runDirs = [...out.matchAll(/(\/\S+shared-isr-e2e-next\d+-(?:shared|default)-\w+)/g)].map((m) => m[1].replace(/,$/, ''))
    assert.equal(new Set(runDirs).size, 2, `run dirs: ${runDirs}`)
    const redisPort = Number(/one Redis \(redis:\/\/127\.0\.0\.1:(\d+)\)/.exec(out)?.[1])
    assert.ok(redisPort && (await portOpen(redisPort)), 'redis-server port not printed or not open')

    // 1. edit the CMS with the printed line.
    let r = sh(editLine)
    assert.equal(r.status, 0, r.stderr)
    const title = JSON.parse(fs.readFileSync(cmsFile, 'utf8')).posts[0].title
    assert.match(title, /^Hello world, edited at /)

    // 2. the webhook, through the shared cluster's balancer.
    r = sh(hooks.find((h) => h.includes(lbShared)))
    assert.equal(r.status, 0, r.stderr)
    const receiver = JSON.parse(r.stdout.trim()).instance
    // A person reads the answer before looking; Next 16 records the revalidation just after
    // answering (see helpers.js).
    await sleep(300)
    // 3. every instance shows the new title.
    r = sh(peeks.find((l) => l.includes(String(sharedPorts[0]))))
    assert.equal(r.status, 0, r.stderr)
    t.diagnostic(`shared-isr, webhook reached ${receiver}: ${r.stdout.trim().split('\n').join('; ')}`)
    const sharedLines = r.stdout.trim().split('\n')
    assert.equal(sharedLines.length, 3, r.stdout)
    // One render, shared: the first instance asked renders it (the balancer decides which got
    // the webhook), every other one serves that render.
    const renderer = / rendered by (\S+)$/.exec(sharedLines[0])?.[1]
    assert.ok(renderer, sharedLines[0])
    for (const l of sharedLines)
      assert.ok(l.includes(`${title} rendered by ${renderer}`), `${l} (expected ${title} rendered by ${renderer}, one render for all)`)

    // --cdn: the Varnish shared-isr purges shows the new title; the one nobody purges, the old page.
    const cdnPeek = lines.find((l) => l.startsWith('for c in '))
    assert.ok(cdnPeek, `the CDN command was not printed:\n${out}`)
    let cdnLines = []
    for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(200)) {
      r = sh(cdnPeek)
      cdnLines = r.stdout.trim().split('\n')
      if (cdnLines[0]?.includes(title)) break
    }
    t.diagnostic(`CDNs: ${cdnLines.join('; ')}`)
    assert.ok(cdnLines[0].startsWith(`${base + 100}: `) && cdnLines[0].includes(title), cdnLines[0])
    assert.ok(
      cdnLines[1].startsWith(`${base + 200}: `) &&
        /HIT/i.test(cdnLines[1]) &&
        cdnLines[1].includes('Hello world') &&
        !cdnLines[1].includes(title),
      cdnLines[1],
    )

    // --compare: the same webhook on Next's default cache refreshes one instance only.
    r = sh(hooks.find((h) => h.includes(lbDefault)))
    assert.equal(r.status, 0, r.stderr)
    const defaultReceiver = JSON.parse(r.stdout.trim()).instance
    await sleep(300)
    r = sh(peeks.find((l) => l.includes(String(defaultPorts[0]))))
    t.diagnostic(`default cache, webhook reached ${defaultReceiver}: ${r.stdout.trim().split('\n').join('; ')}`)
    const defaultLines = r.stdout.trim().split('\n')
    assert.equal(defaultLines.filter((l) => l.includes(title)).length, 1, r.stdout)
    assert.equal(defaultLines.filter((l) => l.includes('Hello world rendered by build')).length, 2, r.stdout)

    // Ctrl-C.
    demo.kill('SIGINT')
    let timer
    const { code, signal } = await Promise.race([
      exited,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve({ code: 'timeout' }), 30_000)
      }),
    ])
    clearTimeout(timer)
    assert.equal(code, 0, `demo exit: ${code} ${signal}\n${out.slice(-500)}\n${err.slice(-2000)}`)
    assert.match(out, /Stopped\. Nothing left running\./)
    for (const p of [base, ...sharedPorts, base + 100, base + 200, base + 1000, ...defaultPorts, redisPort])
      assert.equal(await portOpen(p), false, `port ${p} still open`)
    for (const d of runDirs) {
      assert.ok(!fs.existsSync(d), `${d} was not removed`)
      assert.deepEqual(processesMentioning(d), [], `processes left from ${d}`)
    }
  } finally {
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGKILL')
      await exited
    }
  }
})
