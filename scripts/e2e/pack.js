'use strict'
// Installs this checkout into an app the way npm installs the published package: `npm pack` of
// the repository (its `files`: index.js, lib/, types; no .node) plus `npm pack` of the platform
// binding package (npm/<triple>/package.json + the built shared-isr.<triple>.node, what
// `napi pre-publish` publishes as @shared-isr/binding-<triple>), both installed from the
// tarballs. No symlink back to the repository: Next's file tracing sees a normal
// node_modules/shared-isr and node_modules/@shared-isr/binding-<triple>.
//
// Cached: a stamp in the app dir holds the hash of everything packed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawnSync } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..', '..')

/** The built addon at the repository root: { file, triple } (e.g. shared-isr.linux-x64-gnu.node). */
function builtAddon() {
  const files = fs.readdirSync(ROOT).filter((f) => /^shared-isr\.[\w-]+\.node$/.test(f))
  if (!files.length) {
    throw new Error(`no shared-isr.<platform>.node at ${ROOT}: build the addon first (npm run build)`)
  }
  const file = files.sort((a, b) => fs.statSync(path.join(ROOT, b)).mtimeMs - fs.statSync(path.join(ROOT, a)).mtimeMs)[0]
  return { file: path.join(ROOT, file), triple: file.slice('shared-isr.'.length, -'.node'.length) }
}

function listFiles(dir) {
  const out = []
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name)
    if (ent.isDirectory()) out.push(...listFiles(p))
    else if (ent.isFile()) out.push(p)
  }
  return out.sort()
}

/** Hash of what the two tarballs contain (package.json `files`, the addon, the binding manifest). */
function packageHash() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const { file, triple } = builtAddon()
  const inputs = [path.join(ROOT, 'package.json'), file, path.join(ROOT, 'npm', triple, 'package.json')]
  for (const entry of pkg.files || []) {
    const p = path.join(ROOT, entry)
    if (!fs.existsSync(p)) continue
    if (fs.statSync(p).isDirectory()) inputs.push(...listFiles(p))
    else inputs.push(p)
  }
  const h = crypto.createHash('sha256')
  for (const f of inputs) {
    h.update(`\0${path.relative(ROOT, f)}\0`)
    h.update(fs.readFileSync(f))
  }
  return h.digest('hex')
}

// npm is npm.cmd on Windows, which Node starts only through a shell (the release smoke test runs there).
const WIN = process.platform === 'win32'
const quote = (a) => (/[\s"]/.test(a) ? `"${a}"` : a)

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, WIN ? args.map(quote) : args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false' },
    shell: WIN,
  })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd} (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

function packInto(dir, dest) {
  const out = run('npm', ['pack', '--json', '--pack-destination', dest, '--loglevel=error'], dir)
  const [info] = JSON.parse(out)
  return { tarball: path.join(dest, info.filename), files: info.files.map((f) => f.path) }
}

/**
 * Packs this checkout into `dest` as npm would publish it: the main package and the platform
 * package of the built addon. Returns { main, binding, bindingName }, each with its tarball and files.
 */
function packTarballs(dest) {
  const { file: addon, triple } = builtAddon()
  const main = packInto(ROOT, dest)
  const bindingDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-binding-'))
  try {
    fs.copyFileSync(path.join(ROOT, 'npm', triple, 'package.json'), path.join(bindingDir, 'package.json'))
    fs.copyFileSync(addon, path.join(bindingDir, path.basename(addon)))
    return { main, binding: packInto(bindingDir, dest), bindingName: `@shared-isr/binding-${triple}` }
  } finally {
    fs.rmSync(bindingDir, { recursive: true, force: true })
  }
}

/**
 * Makes `appDir/node_modules` hold shared-isr and its binding package from fresh tarballs of
 * this checkout (skipped when the stamp matches). Returns { hash, installed, ms, files }.
 */
function ensurePackageInstalled(appDir, log = () => {}) {
  const hash = packageHash()
  const stamp = path.join(appDir, '.e2e-shared-isr-package.json')
  const bindingName = `@shared-isr/binding-${builtAddon().triple}`
  let prev = null
  try {
    prev = JSON.parse(fs.readFileSync(stamp, 'utf8'))
  } catch {}
  if (
    prev?.hash === hash &&
    fs.existsSync(path.join(appDir, 'node_modules', 'shared-isr', 'package.json')) &&
    fs.existsSync(path.join(appDir, 'node_modules', bindingName, 'package.json'))
  ) {
    return { hash, installed: false, ms: 0, files: prev.files, bindingName }
  }
  const t0 = Date.now()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-pack-'))
  try {
    const { main, binding } = packTarballs(tmp)
    log(`installing ${path.basename(main.tarball)} + ${path.basename(binding.tarball)} into ${path.relative(ROOT, appDir)} ...`)
    run(
      'npm',
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', main.tarball, binding.tarball],
      appDir,
    )
    const real = fs.realpathSync(path.join(appDir, 'node_modules', 'shared-isr'))
    if (!real.startsWith(fs.realpathSync(appDir) + path.sep)) throw new Error(`node_modules/shared-isr resolves outside ${appDir}: ${real}`)
    const files = { 'shared-isr': main.files, [bindingName]: binding.files }
    fs.writeFileSync(stamp, JSON.stringify({ hash, files }, null, 2))
    const ms = Date.now() - t0
    log(`shared-isr packed and installed in ${(ms / 1000).toFixed(1)}s`)
    return { hash, installed: true, ms, files, bindingName }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

module.exports = { ensurePackageInstalled, packTarballs, packageHash, builtAddon }
