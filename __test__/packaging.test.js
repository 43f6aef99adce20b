'use strict'
// The package every platform installs: the release workflow builds and smoke-tests exactly
// package.json's napi.targets; each target's npm/<platform> package is what napi generates and
// what binding.js loads; the published tarball holds what the exports and bin need and no
// sources; installed from tarballs it loads its addon from the platform package (this machine's
// target, end to end), and without that package it fails naming it (ERR_SHARED_ISR_BINARY).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const yaml = require('js-yaml')
const { parseTriple } = require('@napi-rs/cli')
const { smoke, makeApp, runIn, roundTrip } = require('../scripts/smoke')
const { builtAddon } = require('../scripts/e2e/pack')
const { platformOfTriple } = require('../lib/platform')

const ROOT = path.join(__dirname, '..')
const pkg = require('../package.json')
const TARGETS = pkg.napi.targets
const sorted = (a) => [...a].sort()
/** A GitHub Actions expression as it appears in the workflow. */
const gh = (e) => `\${{ ${e} }}`
const workflow = yaml.load(fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8'))

test('the release workflow builds and smoke-tests exactly napi.targets', () => {
  const builds = workflow.jobs.build.strategy.matrix.settings
  assert.deepEqual(sorted(builds.map((b) => b.target)), sorted(TARGETS), 'build matrix')
  for (const b of builds) {
    const { platform, abi } = parseTriple(b.target)
    assert.match(b.build, new RegExp(`^npm run build -- --target ${b.target}( |$)`), b.target)
    if (abi === 'gnu') assert.match(b.build, / --use-napi-cross\b/, `${b.target}: glibc 2.17 toolchain`)
    if (abi === 'musl') assert.match(b.build, / -x\b/, `${b.target}: cargo-zigbuild`)
    const host = { linux: /^ubuntu-/, darwin: /^macos-/, win32: /^windows-/ }[platform]
    assert.match(b.host, host, `${b.target} builds on ${b.host}`)
  }
  const upload = workflow.jobs.build.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))
  assert.equal(upload.with.name, `bindings-${gh('matrix.settings.target')}`)

  const smokes = workflow.jobs.smoke.strategy.matrix.settings
  assert.deepEqual(sorted(smokes.map((s) => s.target)), sorted(TARGETS), 'smoke matrix')
  for (const s of smokes) {
    const { platformArchABI, platform, arch, abi } = parseTriple(s.target)
    assert.equal(s.platform, platformArchABI, `${s.target}: --expect`)
    if (platform === 'linux') {
      // The libc and CPU the binary is for, not the runner's: official node images, same CPU.
      assert.equal(s.image, abi === 'musl' ? 'alpine' : 'slim', `${s.target}: image`)
      assert.equal(s.docker, arch === 'arm64' ? 'linux/arm64' : 'linux/amd64', `${s.target}: docker platform`)
      assert.equal(s.host, arch === 'arm64' ? 'ubuntu-24.04-arm' : 'ubuntu-latest', `${s.target}: runner`)
    } else {
      assert.equal(s.docker, undefined, s.target)
      assert.equal(s.architecture, arch, `${s.target}: Node's architecture`)
    }
  }
  const smokeRuns = workflow.jobs.smoke.steps.filter((s) => s.run).map((s) => s.run)
  assert.ok(smokeRuns.length >= 2 && smokeRuns.every((r) => r.includes(`node scripts/smoke.js --expect ${gh('matrix.settings.platform')}`)))
  const minNode = /\d+/.exec(pkg.engines.node)[0]
  assert.ok(workflow.jobs.smoke.strategy.matrix.node.includes(minNode), `smoke tests the oldest supported Node (${minNode})`)

  const publish = workflow.jobs.publish
  assert.deepEqual(sorted(publish.needs), ['build', 'smoke'])
  const runs = publish.steps.filter((s) => s.run).map((s) => s.run)
  const at = (re) => runs.findIndex((r) => re.test(r))
  const order = [/napi create-npm-dirs/, /napi artifacts/, /napi pre-publish -t npm/, /^npm publish/].map(at)
  assert.ok(order.every((i) => i >= 0) && order.every((i, k) => k === 0 || i > order[k - 1]), `publish steps in order: ${runs.join(' | ')}`)
})

test('every target has its npm/<platform> package, as napi generates it and binding.js loads it', () => {
  const platforms = TARGETS.map((t) => parseTriple(t).platformArchABI)
  for (const t of TARGETS) assert.equal(platformOfTriple(t), parseTriple(t).platformArchABI, `lib/platform.js names ${t}`)
  for (const t of ['i686-pc-windows-msvc', 'aarch64-pc-windows-msvc', 'armv7-unknown-linux-gnueabihf', 'x86_64-unknown-freebsd']) {
    assert.equal(platformOfTriple(t), parseTriple(t).platformArchABI, t)
  }
  assert.deepEqual(sorted(fs.readdirSync(path.join(ROOT, 'npm'))), sorted(platforms))

  const binding = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8')
  for (const p of platforms) {
    const name = `${pkg.napi.packageName}-${p}`
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', p, 'package.json'), 'utf8'))
    assert.equal(manifest.name, name)
    assert.equal(manifest.version, pkg.version, `${name} version`)
    assert.deepEqual(manifest.files, [`${pkg.napi.binaryName}.${p}.node`])
    assert.ok(binding.includes(`require('${name}')`), `binding.js loads ${name}`)
  }

  // The release job regenerates npm/ with `napi create-npm-dirs`; the smoke test packs the
  // committed copies. Both must be the same manifests.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-npm-dirs-'))
  try {
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(tmp, 'package.json'))
    const napi = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
    const r = spawnSync(process.execPath, [napi, 'create-npm-dirs'], { cwd: tmp, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stderr)
    for (const p of platforms) {
      for (const f of ['package.json', 'README.md']) {
        assert.equal(
          fs.readFileSync(path.join(ROOT, 'npm', p, f), 'utf8'),
          fs.readFileSync(path.join(tmp, 'npm', p, f), 'utf8'),
          `npm/${p}/${f} differs from what napi create-npm-dirs writes: run it and commit`,
        )
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
})

test('installed from its tarballs, shared-isr loads the platform package and round-trips on the in-memory store', () => {
  const { result, files } = smoke()
  assert.equal(result.got, result.sent)

  // What package.json's main/types/exports/bin point at, and what the README tells users to run.
  const main = new Set(files['shared-isr'])
  const needed = new Set(['package.json', 'README.md', pkg.main, pkg.types, ...Object.values(pkg.bin)])
  const walk = (v) => (typeof v === 'string' ? needed.add(v.replace(/^\.\//, '')) : Object.values(v).forEach(walk))
  walk(pkg.exports)
  needed.add('binding.js')
  needed.add('lib/binary.js')
  for (const f of needed) assert.ok(main.has(f), `${f} missing from the tarball`)
  // Every file under lib/, its subfolders (lib/cdn/) included.
  for (const f of fs.readdirSync(path.join(ROOT, 'lib'), { recursive: true })) {
    if (fs.statSync(path.join(ROOT, 'lib', f)).isDirectory()) continue
    assert.ok(main.has(`lib/${f}`), `lib/${f} missing from the tarball`)
  }
  const stray = [...main].filter(
    (f) => /^(src|tests|__test__|bench|scripts|examples|npm|target|docs)\//.test(f) || /\.(node|rs|tgz)$|^Cargo\./.test(f),
  )
  assert.deepEqual(stray, [], 'sources, tests or binaries in the main tarball')
  const triple = builtAddon().triple
  const binding = files[`@shared-isr/binding-${triple}`]
  assert.ok(binding.includes(`shared-isr.${triple}.node`) && binding.includes('package.json'), binding.join(', '))
  assert.deepEqual(
    binding.filter((f) => !/^(package\.json|README\.md)$/.test(f)),
    [`shared-isr.${triple}.node`],
  )
})

test('npm run pack:local prints two tarballs and the install line; that line, run in a new app, installs a package that loads', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-pack-local-'))
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-pack-local-app-'))
  try {
    const r = spawnSync('npm', ['run', '--silent', 'pack:local', '--', '--out', out], { cwd: ROOT, encoding: 'utf8' })
    assert.equal(r.status, 0, r.stdout + r.stderr)
    const triple = builtAddon().triple
    const tarballs = fs.readdirSync(out).sort()
    assert.deepEqual(tarballs, [`shared-isr-${pkg.version}.tgz`, `shared-isr-binding-${triple}-${pkg.version}.tgz`])
    for (const t of tarballs) assert.ok(r.stdout.includes(path.join(out, t)), `${t} not printed:\n${r.stdout}`)
    const install = r.stdout.split('\n').filter((l) => /^\s*npm install /.test(l))
    assert.equal(install.length, 1, r.stdout)
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'pack-local-app', private: true }))
    const installed = spawnSync('sh', ['-c', `${install[0].trim()} --no-audit --no-fund --loglevel=error`], { cwd: app, encoding: 'utf8' })
    assert.equal(installed.status, 0, installed.stdout + installed.stderr)
    // Installed from tarballs (what the README's warning about file: installs allows), not linked.
    const deps = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')).dependencies
    assert.match(deps['shared-isr'], /^file:.*\.tgz$/)
    assert.ok(!fs.lstatSync(path.join(app, 'node_modules', 'shared-isr')).isSymbolicLink())
    const result = roundTrip(app, triple)
    assert.equal(result.got, result.sent)
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
    fs.rmSync(app, { recursive: true, force: true })
  }
})

test('without its platform package, loading fails with ERR_SHARED_ISR_BINARY naming the package to install', (t) => {
  const { app, bindingName } = makeApp()
  try {
    // What `npm install --omit=optional`, or a lockfile from another platform, leaves behind.
    fs.rmSync(path.join(app, 'node_modules', bindingName), { recursive: true })
    const installed = path.join(app, 'node_modules', 'shared-isr')
    const probe = (spec) => `
      try { require(${JSON.stringify(spec)}); console.log('LOADED') }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, package: e.package, cause: !!e.cause })) }`
    const read = (r) => {
      assert.equal(r.status, 0, r.stderr)
      assert.doesNotMatch(r.stdout, /LOADED/)
      return JSON.parse(r.stdout.trim().split('\n').pop())
    }

    const err = read(runIn(app, probe(path.join(installed, 'lib', 'binary.js'))))
    assert.equal(err.code, 'ERR_SHARED_ISR_BINARY')
    assert.equal(err.package, bindingName)
    assert.ok(err.message.includes(`npm install ${bindingName}@${pkg.version}`), err.message)
    assert.match(err.message, /--omit=optional/)
    assert.match(err.message, /package-lock\.json made on another platform/)
    // The version may not be on the registry (a local build): the command that makes both tarballs.
    assert.match(err.message, /npm run pack:local/)
    assert.doesNotMatch(err.message, /npm run build/, 'no repository hint in an installed package')
    assert.ok(err.cause, "napi's loader error is kept as the cause")

    // require('shared-isr') reaches the addon through lib/native.js. Until it loads './binary.js',
    // the one-line change is made here, in the installed copy, so the test still covers it.
    const nativeFile = path.join(installed, 'lib', 'native.js')
    const native = fs.readFileSync(nativeFile, 'utf8')
    if (!/require\('\.\/binary(\.js)?'\)/.test(native)) {
      assert.ok(native.includes("require('../binding.js')"), 'lib/native.js loads the addon some other way')
      fs.writeFileSync(nativeFile, native.replace("require('../binding.js')", "require('./binary.js')"))
      t.diagnostic("lib/native.js still requires '../binding.js': tested with require('./binary.js') in the installed copy")
    }
    const viaMain = read(runIn(app, probe('shared-isr')))
    assert.equal(viaMain.code, 'ERR_SHARED_ISR_BINARY')
    assert.equal(viaMain.package, bindingName)
  } finally {
    fs.rmSync(app, { recursive: true, force: true })
  }
})

test('NAPI_RS_NATIVE_LIBRARY_PATH pointing nowhere: the error says that only that file was tried', () => {
  const r = spawnSync(process.execPath, ['-e', `try { require('./lib/binary.js') } catch (e) { console.log(e.code + ' ' + e.message) }`], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'no-such-addon.node') },
  })
  assert.match(r.stdout, /^ERR_SHARED_ISR_BINARY shared-isr: NAPI_RS_NATIVE_LIBRARY_PATH is set .*no-such-addon\.node/)
})

test('the Docker example installs, builds and runs on one musl base and ships the standalone output', () => {
  const lines = fs
    .readFileSync(path.join(ROOT, 'examples', 'docker', 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
  const froms = lines.filter((l) => l.startsWith('FROM '))
  assert.deepEqual(froms, ['FROM node:20-alpine AS base', 'FROM base AS deps', 'FROM base AS builder', 'FROM base AS runner'])
  assert.ok(lines.includes('RUN npm ci'), 'optional dependencies kept')
  const copies = lines.filter((l) => l.startsWith('COPY --from=builder')).map((l) => l.split(/\s+/).slice(-2).join(' '))
  assert.deepEqual(copies, ['/app/public ./public', '/app/.next/standalone ./', '/app/.next/static ./.next/static'])
  assert.equal(lines.at(-1), 'CMD ["node", "server.js"]')
})
