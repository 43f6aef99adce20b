'use strict'
// `npm test`'s stage runner (scripts/lib/stages.js): a failed stage does not stop the run, every
// stage is in the summary, and the exit code says whether any failed.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const os = require('node:os')
const { stages } = require('../scripts/lib/stages')

const node = process.execPath
const exit = (code) => ['-e', `process.exit(${code})`]

function runner() {
  const lines = []
  const r = stages({ cwd: os.tmpdir(), log: (l) => lines.push(l) })
  return { ...r, lines }
}

test('a failed stage does not stop the others; the summary lists every stage and the exit code is 1', () => {
  const { run, skip, summary, lines } = runner()
  const quiet = { stdio: 'ignore' }
  assert.equal(run('first', node, exit(0), quiet), true)
  assert.equal(run('broken', node, exit(3), quiet), false)
  assert.equal(run('after the failure', node, exit(0), quiet), true, 'runs after a failed stage')
  assert.equal(run('also broken', node, exit(5), quiet), false)
  assert.equal(run('needs broken', node, exit(0), { ...quiet, needs: ['broken'] }), false)
  assert.equal(run('needs a skipped one', node, exit(0), { ...quiet, needs: ['needs broken'] }), false)
  assert.equal(run('needs first', node, exit(0), { ...quiet, needs: ['first', 'never ran'] }), true)
  assert.equal(run('missing command', 'shared-isr-no-such-command', [], quiet), false)
  skip('left out', 'SKIP_E2E=1')
  assert.equal(summary(), 1)

  const at = lines.indexOf('\n[test] summary')
  assert.ok(at > 0, lines.join('\n'))
  const rows = lines.slice(at + 1).map((l) => l.replace(/\s+/g, ' ').trim())
  const row = (status, label) => rows.find((l) => l.startsWith(`[test] ${status} ${label} `) || l === `[test] ${status} ${label}`)
  for (const label of ['first', 'after the failure', 'needs first']) assert.match(row('ok', label) ?? '', /\d+\.\ds/, label)
  assert.match(row('FAILED', 'broken') ?? '', /\d+\.\ds exit 3$/)
  assert.match(row('FAILED', 'also broken') ?? '', /exit 5$/)
  assert.match(row('FAILED', 'missing command') ?? '', /could not start: ENOENT$/)
  assert.match(row('skipped', 'needs broken') ?? '', /needs broken, which failed$/)
  assert.match(row('skipped', 'needs a skipped one') ?? '', /needs needs broken, which was skipped$/)
  assert.match(row('skipped', 'left out') ?? '', /SKIP_E2E=1$/)
  assert.equal(rows.at(-1), '[test] FAILED: 3 of 9 stages (broken, also broken, missing command)')
  assert.ok(
    lines.some((l) => l === '\n[test] needs broken: skipped (needs broken, which failed)'),
    'the skip is said when it happens too',
  )
})

test('all stages passing (or left out on purpose): exit code 0', () => {
  const { run, skip, summary, lines } = runner()
  run('one', node, exit(0), { stdio: 'ignore' })
  skip('e2e', 'SKIP_E2E=1')
  assert.equal(summary(), 0)
  assert.equal(lines.at(-1), '[test] all green')
})
