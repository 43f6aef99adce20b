'use strict'
// Time-based revalidation (stale-while-revalidate) scenarios on the app's 3-second pages:
// /ticker (App Router, `revalidate = 3`) and /ticker-pages (Pages Router, `revalidate: 3`).
// Both read the CMS directly, so one regeneration shows the new content.
const assert = require('node:assert/strict')
const { getPage, sleep, cmsWithRev } = require('../../scripts/e2e/harness')
const { warm, newRev } = require('./helpers')

const TIMED_PAGES = ['/ticker', '/ticker-pages']
const PERIOD_MS = 3000
// An entry's lastModified is taken when it is stored, a few ms after `rendered-at`.
const MARGIN_MS = 700
const POLL_MS = 50

const renderedAt = (page) => Number(page.markers['rendered-at'])
const brief = (page) =>
  `${page.status} ${page.cache ?? '-'} rev=${page.markers.rev} by=${page.markers.instance}@${page.markers['rendered-at']}`

/** Sleeps until a page rendered at `at` is past its revalidate period. */
async function waitUntilStale(at) {
  const ms = at + PERIOD_MS + MARGIN_MS - Date.now()
  if (ms > 0) await sleep(ms)
}

/** Asks `inst` for `path` every POLL_MS until it shows `rev`; every answer is kept. */
async function pollUntilRev(inst, path, rev, { timeoutMs = 8000 } = {}) {
  const t0 = Date.now()
  const answers = []
  for (;;) {
    const page = await getPage(inst.url + path)
    answers.push({ ms: Date.now() - t0, page })
    if (page.markers.rev === rev || Date.now() - t0 > timeoutMs) return { answers, last: page, ms: Date.now() - t0 }
    await sleep(POLL_MS)
  }
}

/** An answer while the regeneration runs: the old page, 200, marked STALE. */
function assertStaleAnswer(inst, path, page, oldRev) {
  assert.equal(page.status, 200, `${inst.name} ${path}: ${brief(page)}`)
  assert.equal(page.markers.rev, oldRev, `${inst.name} ${path}: expected the old page (${oldRev}), got ${brief(page)}`)
  assert.equal(page.cache, 'STALE', `${inst.name} ${path}: expected x-nextjs-cache STALE, got ${brief(page)}`)
}

/**
 * The old page while another instance regenerates it (the regeneration lease): served as a HIT,
 * without a regeneration of its own, or STALE on the instance that regenerates.
 */
function assertOldAnswer(inst, path, page, oldRev) {
  assert.equal(page.status, 200, `${inst.name} ${path}: ${brief(page)}`)
  assert.equal(page.markers.rev, oldRev, `${inst.name} ${path}: expected the old page (${oldRev}), got ${brief(page)}`)
  assert.ok(['STALE', 'HIT'].includes(page.cache), `${inst.name} ${path}: expected x-nextjs-cache STALE or HIT, got ${brief(page)}`)
}

/**
 * Changes the CMS, waits until the timed pages are stale, and runs `scenario(path, rev, oldRevs)`
 * for every timed page in parallel. `oldRevs[instance name]` is what that instance served.
 */
async function afterPeriod(cluster, label, scenario, { paths = TIMED_PAGES } = {}) {
  const oldRevs = {}
  let latest = 0
  for (const p of paths) {
    oldRevs[p] = {}
    for (const inst of cluster.instances) {
      const page = await warm(inst, p)
      oldRevs[p][inst.name] = page.markers.rev
      // The entry was stored no later than this fresh answer. (`rendered-at` can be much older:
      // an entry read through from the build output counts from its file's mtime.)
      latest = Math.max(latest, renderedAt(page), Date.now())
    }
  }
  const rev = newRev(label)
  cluster.setCms(cmsWithRev(rev))
  await waitUntilStale(latest)
  const results = await Promise.all(paths.map((p) => scenario(p, rev, oldRevs[p])))
  return Object.fromEntries(paths.map((p, i) => [p, results[i]]))
}

module.exports = {
  TIMED_PAGES,
  PERIOD_MS,
  waitUntilStale,
  pollUntilRev,
  assertStaleAnswer,
  assertOldAnswer,
  afterPeriod,
  brief,
  renderedAt,
}
