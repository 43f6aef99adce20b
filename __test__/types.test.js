'use strict'
// The public types (index.d.ts, handler.d.ts, use-cache.d.ts, next-config.d.ts, written by hand) as a TypeScript
// user meets them: `tsc --strict` accepts the README's webhook and typed stats, and refuses
// misuse (so the check itself can fail).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const FIXTURES = path.join(__dirname, 'fixtures', 'types')
const TSC = require.resolve('typescript/bin/tsc')

/** `tsc --strict --noEmit` on `file`, with `shared-isr` installed as a package (a symlink to this repository). */
function compile(file) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-types-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'shared-isr'), 'dir')
    fs.copyFileSync(path.join(FIXTURES, file), path.join(dir, file))
    const args = ['--strict', '--noEmit', '--skipLibCheck', 'false', '--target', 'es2022', '--module', 'nodenext']
    args.push('--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), file)
    const r = spawnSync(process.execPath, [TSC, ...args], { cwd: dir, encoding: 'utf8' })
    return { status: r.status, out: `${r.stdout}${r.stderr}` }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('the README webhook, stats and both handler entry points type-check under --strict', () => {
  const r = compile('usage.ts')
  assert.equal(r.status, 0, r.out)
})

test('misuse is refused: wrong field types, unknown fields, unknown profiles', () => {
  const r = compile('misuse.ts')
  assert.notEqual(r.status, 0)
  for (const line of [4, 5, 6]) assert.match(r.out, new RegExp(`misuse\\.ts\\(${line},`), r.out)
})

test('withSharedIsr type-checks in a next.config.ts: config objects and functions come back as they went in', () => {
  const r = compile('next-config.ts')
  assert.equal(r.status, 0, r.out)
})

test('withSharedIsr misuse is refused: wrong option types, logger, a non-object config, unknown options', () => {
  const r = compile('next-config-misuse.ts')
  assert.notEqual(r.status, 0)
  for (const line of [4, 5, 6, 7]) assert.match(r.out, new RegExp(`next-config-misuse\\.ts\\(${line},`), r.out)
})
