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

/**
 * `tsc --strict --noEmit` on `file` (a fixture, or `source` when given), with `shared-isr`
 * installed as a package (a symlink to this repository).
 */
function compile(file, source) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-types-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'shared-isr'), 'dir')
    if (source === undefined) fs.copyFileSync(path.join(FIXTURES, file), path.join(dir, file))
    else fs.writeFileSync(path.join(dir, file), source)
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

test('misuse is refused: wrong field types, unknown fields, a wrong expire', () => {
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

/** The body of the README's ```ts block whose first line is `// <title>` (as e2e/readme.test.js does for js). */
function readmeSnippet(title) {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  for (const m of readme.matchAll(/```ts\n([\s\S]*?)```/g)) if (m[1].startsWith(`// ${title}\n`)) return m[1]
  throw new Error(`README.md has no ts block starting with "// ${title}"`)
}

test("the README's TypeScript webhook (app/api/revalidate/route.ts) type-checks under --strict as written", () => {
  const r = compile('route.ts', readmeSnippet('app/api/revalidate/route.ts'))
  assert.equal(r.status, 0, r.out)
})

test('profiles as Next 16 takes them (built-in, custom names, { expire }) and the error guard narrow as documented', () => {
  const r = compile('errors.ts')
  assert.equal(r.status, 0, r.out)
})

test('guard and profile misuse is refused: an unknown code, code on unknown, a number or a stale field as profile', () => {
  const r = compile('errors-misuse.ts')
  assert.notEqual(r.status, 0)
  for (const line of [4, 5, 6, 7]) assert.match(r.out, new RegExp(`errors-misuse\\.ts\\(${line},`), r.out)
})

/** The names declared in one `export interface` / `export type` of index.d.ts. */
function declared(pattern) {
  const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')
  const m = pattern.exec(dts)
  assert.ok(m, `index.d.ts: ${pattern}`)
  return m[1]
}

test('SharedIsrStats types exactly the fields stats() returns', () => {
  const body = declared(/export interface SharedIsrStats \{([\s\S]*?)\n\}/)
  const typed = [...body.matchAll(/^ {2}(\w+):/gm)].map((x) => x[1]).sort()
  const api = require('../lib/index')
  // The memory store (no connection); a Redis store returns the same fields (both come from one list in Rust).
  const actual = Object.keys(api.stats({ prefix: 'types-stats:', redisUrl: null })).sort()
  assert.deepEqual(typed, actual)
})

test('the stable error codes agree: Rust, index.d.ts, the README and isSharedIsrError', () => {
  const rust = Object.keys(require('../binding.js').constants().errorCodes).sort()
  const union = [...declared(/export type SharedIsrErrorCode =([\s\S]*?)\n\n/).matchAll(/'(ERR_SHARED_ISR_\w+)'/g)].map((x) => x[1]).sort()
  assert.deepEqual(union, rust)
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const listed = /Error codes \(`err\.code`\):([\s\S]*?)\n\n/.exec(readme)[1]
  assert.deepEqual([...new Set([...listed.matchAll(/`(ERR_SHARED_ISR_\w+)`/g)].map((x) => x[1]))].sort(), rust)
  const { isSharedIsrError } = require('../lib/index')
  for (const code of rust) assert.ok(isSharedIsrError(Object.assign(new Error('x'), { code })), code)
  for (const other of [
    new Error('x'),
    { code: 'ERR_SHARED_ISR_UNKNOWN' },
    { code: 'ERR_OTHER' },
    null,
    undefined,
    'ERR_SHARED_ISR_CONFIG',
  ]) {
    assert.equal(isSharedIsrError(other), false, String(other?.code ?? other))
  }
})
