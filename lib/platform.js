'use strict'
// Which native package this machine needs, and the error that says so when it is missing
// (used by lib/binary.js; kept apart so it can be tested without loading the addon).

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const ARCH = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }

function isMusl() {
  if (process.platform !== 'linux') return false
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {}
  // glibc reports its version; musl does not.
  return !process.report?.getReport?.()?.header?.glibcVersionRuntime
}

/** napi's name for a target triple: 'x86_64-unknown-linux-musl' → 'linux-x64-musl'. */
function platformOfTriple(triple) {
  const [cpu, , sys, abi] = triple.split('-')
  const arch = ARCH[cpu] ?? cpu
  if (sys === 'darwin') return `darwin-${arch}`
  if (sys === 'windows') return `win32-${arch}-${abi}`
  if (sys === 'linux') return `linux-${arch}-${abi}`
  return `${sys}-${arch}`
}

/** napi's name for this process's platform, as binding.js picks its package. */
function hostPlatform() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function binaryError(cause) {
  const pkg = require('../package.json')
  const host = hostPlatform()
  const name = `${pkg.napi.packageName}-${host}`
  const built = (pkg.napi.targets ?? []).map(platformOfTriple)
  const where = `${host} (Node ${process.version})`
  let message
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
    message = `shared-isr: NAPI_RS_NATIVE_LIBRARY_PATH is set (${process.env.NAPI_RS_NATIVE_LIBRARY_PATH}), so only that file was tried, and it did not load (${where}). Unset it to use ${name}.`
  } else if (!built.includes(host)) {
    message = `shared-isr has no native addon for ${where}: it is published for ${built.join(', ')}.`
  } else if (resolves(name)) {
    // Installed but unloadable: a wrong or damaged file, or an older system library than it needs.
    message = `shared-isr: ${name} is installed but its addon did not load (${where}): ${messageOf(cause)}. Reinstall it on this machine: npm install ${name}@${pkg.version}.`
  } else {
    message =
      `shared-isr: no native addon for ${where}. It ships in the optional dependency ${name}, which is not installed. ` +
      'Likely causes: an install with --no-optional / --omit=optional; a package-lock.json made on another platform ' +
      '(npm ci installs only the platform packages it lists); node_modules copied from another OS, CPU or libc ' +
      '(macOS or glibc into Alpine, x64 into arm64). ' +
      `Fix: npm install ${name}@${pkg.version} on this platform, or delete node_modules and package-lock.json and run npm install here; ` +
      'in Docker, install dependencies in the same base image as the runtime stage. ' +
      'A build not from the registry: run `npm run pack:local` in a checkout of shared-isr, which packs shared-isr and its ' +
      'platform package and prints the one npm install line that installs both.'
    if (fs.existsSync(path.join(ROOT, 'Cargo.toml'))) message += ' In a checkout of the repository: npm run build.'
  }
  const err = new Error(message)
  err.code = 'ERR_SHARED_ISR_BINARY'
  err.package = name
  err.cause = cause
  return err
}

function resolves(name) {
  try {
    require.resolve(`${name}/package.json`, { paths: [ROOT] })
    return true
  } catch {
    return false
  }
}

function messageOf(err) {
  // The loader chains each attempt's error through `cause`; the deepest is the first attempt.
  const parts = []
  for (let e = err?.cause ?? err; e && parts.length < 8; e = e.cause) parts.push(String(e.message ?? e).split('\n')[0])
  return parts.join('; ')
}

module.exports = { hostPlatform, platformOfTriple, binaryError }
