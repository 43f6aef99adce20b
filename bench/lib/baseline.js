'use strict'
// `run.js --baseline=<rev>`: another revision of shared-isr, checked out and built beside this
// one, so the micro benchmarks can run it as two more contenders (`shared-isr@base:l1`,
// `shared-isr@base:redis`) in the same interleaved rounds as the current checkout.
//
// The checkout is a git worktree at bench/.work/baseline-<shortsha> (detached at the commit),
// reused when it is already there at that commit. Its node_modules (only the build needs them)
// is a symlink to this checkout's when every package the baseline's package-lock pins is
// installed here at the same version (always the case when both locks are identical); otherwise
// `npm ci` runs there. The addon is built there with `npm run build` (the napi release build)
// unless a build of that commit is already there and loads.

const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const STAMP = '.bench-baseline.json'

function git(root, ...a) {
  return execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch {
    return null
  }
}

/** Whether `dir` is a git worktree of this repository checked out at `sha`. */
function worktreeAt(root, dir, sha) {
  try {
    const top = git(dir, 'rev-parse', '--show-toplevel')
    if (fs.realpathSync(top) !== fs.realpathSync(dir)) return 'not a worktree'
    const common = (d) => fs.realpathSync(git(d, 'rev-parse', '--path-format=absolute', '--git-common-dir'))
    if (common(dir) !== common(root)) return 'not a worktree'
    return git(dir, 'rev-parse', 'HEAD') === sha ? 'at sha' : 'other sha'
  } catch {
    return 'not a worktree'
  }
}

function checkout(root, dir, sha, log) {
  const state = fs.existsSync(dir) ? worktreeAt(root, dir, sha) : 'absent'
  if (state === 'at sha') {
    // Reused as it is; tracked files put back if something edited them.
    if (git(dir, 'status', '--porcelain', '--untracked-files=no')) {
      log(`baseline: ${path.relative(root, dir)} had local changes; restoring the commit's files`)
      git(dir, 'checkout', '--force', '--detach', sha)
    }
    return 'reused'
  }
  if (state === 'other sha') {
    log(`baseline: ${path.relative(root, dir)} is at another commit; checking out ${sha.slice(0, 12)}`)
    git(dir, 'checkout', '--force', '--detach', sha)
    return 'checked out again'
  }
  if (state === 'not a worktree') {
    log(`baseline: ${path.relative(root, dir)} is not a git worktree; replacing it`)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  try {
    git(root, 'worktree', 'add', '--detach', dir, sha)
  } catch (err) {
    // Still registered from a checkout that was deleted by hand: take the registration over
    // (no `git worktree prune`: the repository's other worktrees are none of the bench's business).
    if (!/already registered|missing but/.test(String(err.stderr || err.message))) throw err
    git(root, 'worktree', 'add', '--force', '--detach', dir, sha)
  }
  return 'new worktree'
}

/**
 * Packages the baseline's lock pins that this checkout's node_modules does not have at the same
 * version ([] = this node_modules serves the baseline's build as well).
 */
function lockGaps(root, dir) {
  const base = readJson(path.join(dir, 'package-lock.json'))
  if (!base?.packages) return ['(no package-lock.json v2+ in the baseline)']
  const gaps = []
  for (const [p, meta] of Object.entries(base.packages)) {
    if (!p.startsWith('node_modules/') || meta.link) continue
    const installed = readJson(path.join(root, p, 'package.json'))
    // Optional platform packages of another OS/CPU are not installed here and not needed.
    if (!installed && meta.optional) continue
    if (installed?.version !== meta.version) gaps.push(`${p.slice('node_modules/'.length)}@${meta.version}`)
  }
  return gaps
}

function deps(root, dir, log) {
  const nm = path.join(dir, 'node_modules')
  const target = fs.realpathSync(path.join(root, 'node_modules'))
  const same =
    fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8') === fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')
  const gaps = same ? [] : lockGaps(root, dir)
  let st = null
  try {
    st = fs.lstatSync(nm)
  } catch {}
  if (!gaps.length) {
    if (st?.isSymbolicLink() && fs.realpathSync(nm) === target) return "node_modules: symlink to this checkout's (reused)"
    if (st) fs.rmSync(nm, { recursive: true, force: true })
    fs.symlinkSync(target, nm, 'dir')
    return `node_modules: symlink to this checkout's (${same ? 'identical package-lock' : "every package the baseline's lock pins is installed here at its version"})`
  }
  const stamp = readJson(path.join(dir, STAMP)) || {}
  const lockSum = crypto
    .createHash('sha256')
    .update(fs.readFileSync(path.join(dir, 'package-lock.json')))
    .digest('hex')
  if (st && !st.isSymbolicLink() && stamp.npmCi === lockSum) return 'node_modules: its own (npm ci, reused)'
  log(`baseline: npm ci in ${path.relative(root, dir)} (its lock differs: ${gaps.slice(0, 5).join(', ')}${gaps.length > 5 ? ', ...' : ''})`)
  if (st) fs.rmSync(nm, { recursive: true, force: true })
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, stdio: ['ignore', 2, 2] })
  if (r.status !== 0) throw new Error(`npm ci in the baseline's checkout failed (exit ${r.status})`)
  fs.writeFileSync(path.join(dir, STAMP), JSON.stringify({ ...stamp, npmCi: lockSum }))
  return 'node_modules: its own (npm ci)'
}

/** Loads the checkout's addon in a child process (never in the orchestrator): null if it loads. */
function addonError(dir) {
  const env = { ...process.env }
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(dir, 'lib', 'native.js'))})`], {
    env,
    encoding: 'utf8',
  })
  return r.status === 0 ? null : (r.stderr || `exit ${r.status}`).split('\n').find((l) => /Error/.test(l)) || `exit ${r.status}`
}

function build(root, dir, sha, log) {
  const stamp = readJson(path.join(dir, STAMP)) || {}
  if (stamp.built === sha && !addonError(dir)) return 'addon: built before (reused)'
  log(`baseline: building the addon in ${path.relative(root, dir)} (npm run build, ~2 min from scratch) ...`)
  const t0 = Date.now()
  const r = spawnSync('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 2, 2] })
  if (r.status !== 0) throw new Error(`building the baseline's addon failed (npm run build in ${dir}, exit ${r.status})`)
  const err = addonError(dir)
  if (err) throw new Error(`the baseline's addon was built but does not load: ${err}`)
  fs.writeFileSync(path.join(dir, STAMP), JSON.stringify({ ...readJson(path.join(dir, STAMP)), built: sha }))
  return `addon: built in ${Math.round((Date.now() - t0) / 1000)} s`
}

/**
 * Checks out, installs and builds `rev`; returns what the orchestrator, the workers (`root`)
 * and the report need.
 */
function prepareBaseline(root, rev, log) {
  let sha
  try {
    sha = git(root, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`)
  } catch {
    throw new Error(`--baseline=${rev}: not a commit of this repository`)
  }
  const short = git(root, 'rev-parse', '--short', sha)
  const dir = path.join(root, 'bench', '.work', `baseline-${short}`)
  const t0 = Date.now()
  const steps = [checkout(root, dir, sha, log)]
  steps.push(deps(root, dir, log))
  steps.push(build(root, dir, sha, log))
  const info = {
    rev,
    sha,
    short,
    root: dir,
    dir: path.relative(root, dir),
    subject: ((t) => (t.length > 100 ? `${t.slice(0, 99)}…` : t))(git(root, 'log', '-1', '--format=%s', sha)),
    date: git(root, 'log', '-1', '--format=%cI', sha),
    version: readJson(path.join(dir, 'package.json'))?.version || null,
    setup: steps,
    setupMs: Date.now() - t0,
  }
  log(`baseline ${short} (${rev}): ${steps.join('; ')}`)
  return info
}

module.exports = { prepareBaseline }
