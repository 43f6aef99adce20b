'use strict'
// A real Varnish (varnishd + the xkey vmod) in front of a backend, running docs/varnish.vcl:
// the VCL users copy is the one the tests prove.
//
//   const { startVarnish } = require('./scripts/e2e/varnish')
//   const v = await startVarnish({ backend: '127.0.0.1:3000' })   // e.g. the e2e balancer
//   await request(`${v.url}/posts/hello-world`)                    // X-Cache: MISS, then HIT
//   await v.purge(['posts'])                                       // → { status: 200, purged: 1 }
//   await v.stop()
//
// varnishd runs in the foreground under guard.js in its own process group (harness.js), so it
// dies with the test process even on a crash. Run as root it drops privileges to the
// `varnish`/`vcache` users, which must read the VCL: the run dir is world-readable (it holds
// nothing secret; varnishd keeps its own secret file private inside its work dir).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { ROOT } = require('./install-next')
const { spawnGuarded, killGroup, request, sleep, tail } = require('./harness')
const { freePort } = require('../lib/net')

const VCL = path.join(ROOT, 'docs', 'varnish.vcl')

// Run dirs of varnishds not stopped yet: removed when the process exits (harness.js's exit hook,
// registered first, has killed their process groups by then).
const runDirs = new Set()
process.on('exit', () => {
  for (const d of runDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true })
    } catch {}
  }
})

/** The varnishd to run: $VARNISHD, else on PATH, else where Debian puts it (/usr/sbin). */
function varnishdPath() {
  if (process.env.VARNISHD) return process.env.VARNISHD
  for (const dir of (process.env.PATH || '').split(path.delimiter).concat('/usr/sbin', '/usr/local/sbin')) {
    if (!dir) continue
    const p = path.join(dir, 'varnishd')
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  return 'varnishd'
}

/** varnishd's version ("7.1.1") if it can be run here, else null. */
function varnishAvailable() {
  const r = spawnSync(varnishdPath(), ['-V'], { encoding: 'utf8' })
  if (r.status !== 0) return null
  return `${r.stdout}${r.stderr}`.match(/varnish-([\d.]+)/)?.[1] ?? 'unknown version'
}

/** "host:port" → { host, port }; a clear error for anything else. */
function parseBackend(backend) {
  const m = typeof backend === 'string' ? backend.match(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/) : null
  const port = m ? Number(m[2]) : 0
  if (!m || port < 1 || port > 65535) throw new Error(`startVarnish: backend must be "host:port", got ${JSON.stringify(backend)}`)
  return { host: m[1].replace(/^\[|\]$/g, ''), port }
}

/**
 * The VCL with its `backend default` pointed at `backend` ("host:port"). varnishd's `-b` cannot
 * be combined with `-f`, so the shipped file's host and port are replaced, and it is an error
 * if the file no longer has them where expected.
 */
function vclWithBackend(source, backend) {
  const { host, port } = parseBackend(backend)
  let replaced = 0
  const out = source.replace(/(backend\s+default\s*\{)([^}]*)(\})/, (_, open, body, close) => {
    const next = body
      .replace(/(\.host\s*=\s*)"[^"]*"/, (_m, k) => {
        replaced++
        return `${k}"${host}"`
      })
      .replace(/(\.port\s*=\s*)"[^"]*"/, (_m, k) => {
        replaced++
        return `${k}"${port}"`
      })
    return open + next + close
  })
  if (replaced !== 2)
    throw new Error('startVarnish: the VCL has no `backend default { .host = "..."; .port = "..."; }` to point at the backend')
  return out
}

/**
 * startVarnish({ backend: 'host:port', port?, vcl? }) → { url, port, logFile, purge(keys, { soft }), stop() }
 *
 * Listens on 127.0.0.1:`port` (default: a free one); resolves once varnishd answers with this
 * VCL loaded (a PURGE without keys gets its 400, without touching the backend).
 * purge(keys) sends `PURGE /` with `xkey: <keys joined by spaces>` (and `xkey-softpurge: 1` when
 * soft) → { status, purged (the count Varnish reports, or null), body }.
 */
async function startVarnish({ backend, port, vcl = VCL } = {}) {
  const source = vclWithBackend(fs.readFileSync(vcl, 'utf8'), backend)
  port ??= await freePort()
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-varnish-'))
  runDirs.add(runDir)
  fs.chmodSync(runDir, 0o755)
  const vclFile = path.join(runDir, 'varnish.vcl')
  fs.writeFileSync(vclFile, source, { mode: 0o644 })
  const logFile = path.join(runDir, 'varnishd.log')
  const url = `http://127.0.0.1:${port}`
  const args = [
    '-F',
    '-f',
    vclFile,
    '-a',
    `127.0.0.1:${port}`,
    '-n',
    path.join(runDir, 'work'),
    '-s',
    'malloc,64m',
    // Small and quick to start: one pool with few threads, the smallest shared-memory log.
    '-p',
    'thread_pools=1',
    '-p',
    'thread_pool_min=5',
    '-p',
    'vsl_space=1M',
  ]
  const child = spawnGuarded(varnishdPath(), args, { cwd: runDir, env: process.env, logFile })
  let stopped = false
  async function stop() {
    if (stopped) return
    stopped = true
    await killGroup(child)
    fs.rmSync(runDir, { recursive: true, force: true })
    runDirs.delete(runDir)
  }

  const deadline = Date.now() + 30_000
  let last = null
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = tail(logFile)
      await stop()
      throw new Error(`varnishd exited before it was ready:\n${log}`)
    }
    try {
      const res = await request(`${url}/`, { method: 'PURGE', timeout: 2000 })
      if (res.status === 400) break
      last = `PURGE without xkey answered ${res.status}`
    } catch (e) {
      last = e.message
    }
    if (Date.now() > deadline) {
      const log = tail(logFile)
      await stop()
      throw new Error(`varnishd on ${url} not ready after 30 s (${last}):\n${log}`)
    }
    await sleep(100)
  }

  async function purge(keys, { soft = false } = {}) {
    if (!Array.isArray(keys) || !keys.length || keys.some((k) => typeof k !== 'string' || !k || /[\s,]/.test(k))) {
      throw new Error(`purge: keys must be a non-empty array of non-empty strings without spaces or commas, got ${JSON.stringify(keys)}`)
    }
    const headers = { xkey: keys.join(' ') }
    if (soft) headers['xkey-softpurge'] = '1'
    const res = await request(`${url}/`, { method: 'PURGE', headers, timeout: 10_000 })
    const n = Number.parseInt(res.headers['xkey-purged'], 10)
    return { status: res.status, purged: Number.isNaN(n) ? null : n, body: res.body }
  }

  return { url, port, logFile, purge, stop }
}

module.exports = { startVarnish, varnishAvailable, vclWithBackend, VCL }
