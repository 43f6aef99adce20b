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
