'use strict'
// What a newcomer reads first, checked as written (as e2e/readme.test.js checks the README's
// snippets by building them): the README's webhook routes answer the demo's curl; the links
// into the repository's docs land on a file and a heading.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { webhookCurl } = require('../scripts/demo')

const ROOT = path.join(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** The body of the README's ```<lang> block whose first line is `// <title>`. */
function snippet(lang, title) {
  for (const m of README.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))) {
    if (m[1].startsWith(`// ${title}\n`)) return m[1]
  }
  throw new Error(`README.md has no ${lang} block starting with "// ${title}"`)
}

/** A curl line as a shell reads it: its URL, `-H 'k: v'` headers and `-d '...'` body. */
function parseCurl(line) {
  const url = /-X POST (\S+)/.exec(line)[1]
  const headers = Object.fromEntries([...line.matchAll(/-H '([^:']+): ([^']*)'/g)].map((m) => [m[1], m[2]]))
  const body = /-d '([^']*)'/.exec(line)[1]
  return { url, headers, body }
}

/**
 * Runs the route module `code` (ESM, importing 'shared-isr' as an app does: from node_modules)
 * in a child process with REVALIDATE_SECRET=`secret` and no Redis URL, POSTs `request` to it and
 * returns { status, body }.
 */
function post(code, secret, request) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-docs-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'shared-isr'), 'dir')
    fs.writeFileSync(path.join(dir, 'route.mjs'), code)
    const runner = `
      const { POST } = await import('./route.mjs')
      const req = ${JSON.stringify(request)}
      const res = await POST(new Request(req.url, { method: 'POST', headers: req.headers, body: req.body }))
      console.log('RESULT ' + JSON.stringify({ status: res.status, body: await res.text() }))
      const { close } = await import('shared-isr')
      await close()`
    const env = { PATH: process.env.PATH, REVALIDATE_SECRET: secret }
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', runner], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 })
    const line = (r.stdout || '').split('\n').find((l) => l.startsWith('RESULT '))
    assert.ok(line, `the route did not answer (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
    return JSON.parse(line.slice('RESULT '.length))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test("the README's webhook routes (JS and TS, as written) accept the demo's curl, and refuse it without the secret", () => {
  const ts = require('typescript')
  const routes = {
    'app/api/revalidate/route.js': snippet('js', 'app/api/revalidate/route.js'),
    'app/api/revalidate/route.ts': ts.transpileModule(snippet('ts', 'app/api/revalidate/route.ts'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText,
  }
  const secret = 'demo-secret'
  const curl = parseCurl(webhookCurl('http://127.0.0.1:3000/api/revalidate', { tags: ['posts'] }, secret))
  for (const [name, code] of Object.entries(routes)) {
    const ok = post(code, secret, curl)
    assert.equal(ok.status, 200, `${name}: ${ok.body}`)
    assert.deepEqual(JSON.parse(ok.body), { revalidated: true }, name)
    const withoutSecret = Object.fromEntries(Object.entries(curl.headers).filter(([k]) => !/secret|authorization/i.test(k)))
    assert.equal(post(code, secret, { ...curl, headers: withoutSecret }).status, 401, `${name}: accepted without the secret`)
    assert.equal(post(code, 'another-secret', curl).status, 401, `${name}: accepted another secret`)
  }
})

/** GitHub's anchor of a Markdown heading. */
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-')

const headings = (text) => [...text.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1].replace(/`/g, ''))

test('links into the repository land on a file and a heading; a section of another doc is named by a link, not in italics', () => {
  const docs = [
    'README.md',
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ]
  const base = 'https://github.com/shared-isr/shared-isr/blob/main/'
  const elsewhere = new Map() // heading → the doc that has it, for every doc but the README
  for (const doc of docs.slice(1)) for (const h of headings(fs.readFileSync(path.join(ROOT, doc), 'utf8'))) elsewhere.set(h, doc)
  const own = new Set(headings(README))
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8')
    for (const m of text.matchAll(/\]\((https:\/\/github\.com\/shared-isr\/shared-isr\/blob\/main\/[^)\s]+)\)/g)) {
      const [file, anchor] = m[1].slice(base.length).split('#')
      assert.ok(fs.existsSync(path.join(ROOT, file)), `${doc}: ${m[1]}: no such file`)
      if (anchor) {
        const target = headings(fs.readFileSync(path.join(ROOT, file), 'utf8')).map(slug)
        assert.ok(target.includes(anchor), `${doc}: ${m[1]}: ${file} has no heading #${anchor}`)
      }
    }
  }
  // `*Gaps*` alone, when Gaps is a heading of docs/benchmarks.md and not of the README, leads nowhere.
  const prose = README.replace(/```[\s\S]*?```/g, '').replace(/\[[^\]]*\]\([^)]*\)/g, '')
  for (const m of prose.matchAll(/(?<![*\w])\*([^*\n]+)\*(?![*\w])/g)) {
    if (!own.has(m[1]) && elsewhere.has(m[1])) assert.fail(`README: *${m[1]}* is a section of ${elsewhere.get(m[1])}: link it`)
  }
})

test('the two commands and their options come first in the README; pack:local is documented and is a script', () => {
  const { usage } = require('../scripts/demo')
  const sections = README.split(/^## /m)
  const first = sections[1]
  assert.match(first, /^Try it/, 'the first section is the one with the two commands')
  for (const cmd of ['npm run demo', 'npm test', 'npm run pack:local']) assert.ok(first.includes(cmd), `${cmd} is not in the first section`)
  // Every option and variable `npm run demo -- --help` lists.
  const options = [...usage().matchAll(/^ {2}(--[\w-]+|[A-Z][A-Z_]+)\s/gm)].map((m) => m[1])
  assert.ok(options.length >= 5, usage())
  for (const o of options) assert.ok(first.includes(`\`${o}\``), `the demo's ${o} is not in the first section`)
  const pkg = require('../package.json')
  assert.equal(pkg.scripts['pack:local'], 'node scripts/pack-local.js')
})

test('the Node versions the README states: apps as engines.node says; contributors one every locked package accepts', () => {
  const semver = require('semver')
  const pkg = require('../package.json')
  const lock = require('../package-lock.json')
  const min = semver.minVersion(pkg.engines.node)
  assert.ok(README.includes(`Node ≥ ${min.major}.${min.minor}`), `the README does not say Node ≥ ${min.major}.${min.minor}`)
  const stated = /Node ≥ (\d+\.\d+) installs them without warnings/.exec(README)
  assert.ok(stated, 'the README does not say which Node contributors need')
  const contributors = semver.coerce(stated[1])
  const warned = new Set()
  for (const [where, p] of Object.entries(lock.packages)) {
    if (!where || p.optional || !p.engines?.node) continue
    const name = where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length)
    assert.ok(semver.satisfies(contributors, p.engines.node), `${name} ${p.version} needs Node ${p.engines.node}, not ${contributors}`)
    if (!semver.satisfies(min, p.engines.node)) warned.add(name)
  }
  // The packages npm warns about on the oldest Node apps may use, each named.
  for (const name of warned)
    assert.ok(README.includes(`\`${name}\``), `${name} warns EBADENGINE on Node ${min} and the README does not name it`)
})
