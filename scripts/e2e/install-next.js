#!/usr/bin/env node
'use strict'
// Prepares an isolated install of one Next.js major for the e2e tests:
//   examples/.work/next<major>/node_modules  (next + react + react-dom, exact pins)
// The example app's sources are copied next to it at build time (see harness.js),
// so one app runs unchanged against every major. Other example apps (examples/use-cache) are
// built in examples/.work/next<major>/apps/<app>/ and resolve next from this install.
//
// Usage: node scripts/e2e/install-next.js <14|15|16> [...]   (no argument = all)
// Cached: when node_modules already holds the pinned versions, nothing is run.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

// Exact pins: the latest release of each line (npm view next versions --json).
// react/react-dom: what `npm i next@<line> react react-dom` gives today, within next's peer range
// (14.2 allows ^18.2 only).
const VERSIONS = {
  14: { next: '14.2.35', react: '18.3.1', 'react-dom': '18.3.1' },
  15: { next: '15.5.29', react: '19.3.1', 'react-dom': '19.3.1' },
  16: { next: '16.4.6', react: '19.3.1', 'react-dom': '19.3.1' },
}

const ROOT = path.resolve(__dirname, '..', '..')
// Overridable so CI or a developer can keep installs outside the work tree.
const WORK_ROOT = process.env.SHARED_ISR_E2E_WORK ? path.resolve(process.env.SHARED_ISR_E2E_WORK) : path.join(ROOT, 'examples', '.work')

function normalizeMajor(v) {
  const major = String(v).trim().split('.')[0]
  if (!VERSIONS[major]) {
    throw new Error(`unsupported Next.js version "${v}" (expected one of ${Object.keys(VERSIONS).join(', ')})`)
  }
  return major
}

function versionDir(major) {
  return path.join(WORK_ROOT, `next${normalizeMajor(major)}`)
}

function installedVersion(dir, pkg) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

function isInstalled(major) {
  const dir = versionDir(major)
  const pins = VERSIONS[normalizeMajor(major)]
  return Object.entries(pins).every(([pkg, v]) => installedVersion(dir, pkg) === v)
}

// Serialises install/build of one version dir across processes (node --test may run
// test files in parallel). mkdir is atomic; a lock whose owner died is taken over.
async function withLock(dir, fn) {
  fs.mkdirSync(dir, { recursive: true })
  const lock = path.join(dir, '.lock')
  const deadline = Date.now() + 20 * 60 * 1000
  for (;;) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid))
      break
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
      let owner = NaN
      try {
        owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'))
      } catch {}
      let alive = false
      if (owner) {
        try {
          process.kill(owner, 0)
          alive = true
        } catch {}
      }
      // No pid yet may mean the owner is between mkdir and writeFile: only steal when old.
      let old = false
      try {
        old = Date.now() - fs.statSync(lock).mtimeMs > 10_000
      } catch {}
      if ((owner && !alive) || (!owner && old)) {
        fs.rmSync(lock, { recursive: true, force: true })
        continue
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lock} (pid ${owner})`)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    return await fn()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

function installUnlocked(major, log = (...a) => console.error('[e2e]', ...a)) {
  major = normalizeMajor(major)
  const dir = versionDir(major)
  const pins = VERSIONS[major]
  if (isInstalled(major)) return { dir, pins, installed: false, ms: 0 }
  const t0 = Date.now()
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: `shared-isr-e2e-next${major}`, private: true, dependencies: pins }, null, 2) + '\n',
  )
  log(`installing next@${pins.next} react@${pins.react} in ${path.relative(ROOT, dir)} ...`)
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-save', '--no-package-lock'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  })
  if (r.status !== 0) throw new Error(`npm install failed in ${dir} (exit ${r.status})`)
  if (!isInstalled(major)) throw new Error(`npm install in ${dir} did not produce the pinned versions`)
  const ms = Date.now() - t0
  log(`next@${pins.next} installed in ${(ms / 1000).toFixed(1)}s`)
  return { dir, pins, installed: true, ms }
}

async function ensureInstalled(major, log) {
  return withLock(versionDir(major), () => installUnlocked(major, log))
}

module.exports = { VERSIONS, WORK_ROOT, ROOT, normalizeMajor, versionDir, isInstalled, ensureInstalled, installUnlocked, withLock }

if (require.main === module) {
  const args = process.argv.slice(2)
  const majors = args.length ? args : Object.keys(VERSIONS)
  ;(async () => {
    for (const m of majors) {
      const r = await ensureInstalled(m)
      console.log(`${r.dir} next@${r.pins.next}${r.installed ? '' : ' (already installed)'}`)
    }
  })().catch((e) => {
    console.error(e.message)
    process.exit(1)
  })
}
