#!/usr/bin/env node
'use strict'
// `npm run pack:local`: this checkout as two tarballs an app can install, before (or instead
// of) the registry. The main package carries no binary; the addon ships in the platform package
// (@shared-isr/binding-<platform>), so both are installed together, in one `npm install`.
// Builds the addon first when it is missing or older than the Rust sources.
//
//   npm run pack:local [-- --out DIR]       default DIR: target/pack

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')

/** The newest modification time under the Rust sources and their build files. */
function sourcesTime() {
  let newest = 0
  const visit = (p) => {
    const st = fs.statSync(p)
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) visit(path.join(p, e))
    else newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs']) if (fs.existsSync(path.join(ROOT, p))) visit(path.join(ROOT, p))
  return newest
}

function addonTime() {
  const { builtAddon } = require('./e2e/pack')
  try {
    return fs.statSync(builtAddon().file).mtimeMs
  } catch {
    return -1
  }
}

function main(argv) {
  const i = argv.indexOf('--out')
  const out = path.resolve(i >= 0 ? argv[i + 1] || '' : path.join(ROOT, 'target', 'pack'))
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log('Usage: npm run pack:local [-- --out DIR]   (default DIR: target/pack)')
    return 0
  }
  if (addonTime() < sourcesTime()) {
    console.error('building the addon (npm run build) ...')
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    const r = spawnSync(npm, ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 2, 2], shell: process.platform === 'win32' })
    if (r.status !== 0) {
      console.error(`pack:local: npm run build failed (exit ${r.status})`)
      return 1
    }
  }
  fs.mkdirSync(out, { recursive: true })
  const { packTarballs } = require('./e2e/pack')
  const { main: pkg, binding, bindingName } = packTarballs(out)
  const quote = (p) => (/^[\w./:@-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`)
  console.log(
    [
      `${'shared-isr:'.padEnd(bindingName.length + 1)} ${pkg.tarball}`,
      `${bindingName}: ${binding.tarball}`,
      '',
      'Install both in your app, in one command:',
      `  npm install ${quote(pkg.tarball)} ${quote(binding.tarball)}`,
    ].join('\n'),
  )
  return 0
}

if (require.main === module) process.exitCode = main(process.argv.slice(2))
