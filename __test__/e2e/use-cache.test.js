'use strict'
// 'use cache' on real Next.js: three instances of examples/use-cache behind the balancer, on
// Next 16 (cacheComponents, top-level cacheHandlers) and 15.5 (experimental.useCache,
// experimental.cacheHandlers), with shared-isr registered as both `default` and `remote`.
// Next 14 has no 'use cache' and is skipped.
//
// Every page renders on each request (connection()) and reads the CMS through 'use cache'
// functions and components; each cached result carries a stamp taken INSIDE the cached code
// ("<instance>@<ms>#<id>", markers fn-render / cmp-render), so a cache hit shows the stamp of
// the render that filled the entry and a re-render shows a new one. Every check asks each
// instance directly.
//
// Timing (see helpers.js): in the package's default mode the "next request" checks start
// SETTLE_MS after a revalidation answered (the L1 coherence window), 250 ms after the App Router
// webhook on 16 (which answers before it records); the strict-mode suite (SHARED_ISR_STRICT=1)
// asks the literal next request. Separately, a render's set() can land a little after its
// response (16 stores it in waitUntil): "served from the cache on the others" is checked once
// the writer's entries are in Redis (`landed`, reported in ms).
//
// The same scenarios run on Next's built-in 'use cache' handler (per-process memory): there
// the instances must disagree, which is the problem this package solves.
//
// E2E_NEXT_VERSIONS=15,16 (default: all; 14 is skipped) selects the majors.
const crypto = require('node:crypto')
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, request, parseMarkers, readBaseCms, redisCommand, sleep } = require('../../scripts/e2e/harness')
const { useCluster, newRev, afterWebhookAnswer, visibilityWindow, isStrict, SETTLE_MS } = require('./helpers')

const APP = 'use-cache'
const VERSIONS = e2eVersions().filter((v) => Number(v) >= 15)
const POLL_MS = 50

// ---------------------------------------------------------------- helpers

/** The app's CMS with `rev` set and every title/message tagged with it. */
function cmsWithRev(rev) {
  const cms = readBaseCms(APP)
  cms.rev = rev
  cms.articles = cms.articles.map((a) => ({ ...a, title: `${a.title} [${rev}]` }))
  cms.notice = { message: `${cms.notice.message} [${rev}]` }
  cms.ticker = { message: `${cms.ticker.message} [${rev}]` }
  return cms
}

/** `<prefix>-render` of a page: "<instance>@<ms>#<id>" → { by, at, key }. */
function stampOf(page, prefix = 'fn') {
  const key = page.markers[`${prefix}-render`]
  const m = /^(.+)@(\d+)#(\w+)$/.exec(key ?? '')
  assert.ok(m, `no ${prefix}-render marker in: ${page.body.slice(0, 400)}`)
  return { by: m[1], at: Number(m[2]), key }
}

const revOf = (page, prefix = 'fn') => page.markers[`${prefix}-rev`]
const brief = (page, prefix = 'fn') =>
  `${page.status} served-by=${page.markers['served-by']} rev=${revOf(page, prefix)} render=${page.markers[`${prefix}-render`]}`
const line = (entries, prefix) => entries.map(({ inst, page }) => `${inst.name}: ${brief(page, prefix)}`).join('; ')

/** GET `path` on one instance: 200, answered by that instance. */
async function get(inst, path) {
  const page = await getPage(inst.url + path)
  assert.equal(page.status, 200, `${inst.name} ${path} answered ${page.status}: ${page.body.slice(0, 300)}`)
  assert.equal(page.markers['served-by'], inst.name, `${path}: answered by ${page.markers['served-by']}, not ${inst.name}`)
  return page
}

/** Every instance in turn, once. */
async function eachInstance(cluster, path, order = cluster.instances) {
  const out = []
  for (const inst of order) out.push({ inst, page: await get(inst, path) })
  return out
}

/**
 * Shared mode: asks every instance until they all serve one render of each cached part
 * (entries filled, no regeneration pending). Returns the pages of the last round.
 */
async function settled(cluster, path, prefixes = ['fn'], { timeoutMs = 15_000 } = {}) {
  const t0 = Date.now()
  for (;;) {
    const seen = await eachInstance(cluster, path)
    const same = prefixes.every((p) => new Set(seen.map(({ page }) => stampOf(page, p).key)).size === 1)
    if (same) return seen
    if (Date.now() - t0 > timeoutMs) assert.fail(`${path}: instances still serve different renders after ${timeoutMs} ms: ${line(seen)}`)
    await sleep(100)
  }
}

/** Redis values of the 'use cache' entries (prefix e:u:), to see when a write has landed. */
async function useCacheEntries(cluster) {
  if (!cluster.redisUrl) return null
  const keys = await redisCommand(cluster.redisUrl, 'KEYS', '*:e:u:*')
  const out = new Map()
  for (const k of keys) out.set(k, await redisCommand(cluster.redisUrl, 'GET', k))
  return out
}

/**
 * Waits until `count` 'use cache' entries differ from `before` (written since): the renders
 * of the request just answered are stored. Returns ms waited (0 without Redis).
 */
async function landed(cluster, before, count, { timeoutMs = 10_000 } = {}) {
  if (!before) return 0
  const t0 = Date.now()
  for (;;) {
    const now = await useCacheEntries(cluster)
    let changed = 0
    for (const [k, v] of now) if (before.get(k) !== v) changed++
    if (changed >= count) return Date.now() - t0
    if (Date.now() - t0 > timeoutMs) assert.fail(`only ${changed} of ${count} 'use cache' entries were written within ${timeoutMs} ms`)
    await sleep(10)
  }
}

/** Asks `inst` every POLL_MS until `done(page)`; every answer is kept. */
async function pollUntil(inst, path, done, { timeoutMs = 10_000 } = {}) {
  const t0 = Date.now()
  const answers = []
  for (;;) {
    const page = await get(inst, path)
    answers.push(page)
    if (done(page)) return { answers, last: page, ms: Date.now() - t0 }
    if (Date.now() - t0 > timeoutMs) assert.fail(`${inst.name} ${path}: still ${brief(page)} after ${timeoutMs} ms`)
    await sleep(POLL_MS)
  }
}

/** How long after a server action's answer every instance must see its revalidation. */
function actionWindow(cluster) {
  if (cluster.mode === 'default') return 0
  return isStrict(cluster) ? 0 : SETTLE_MS
}

/** The webhook through the balancer (or `via`), 200 expected. 16: `profile` defaults to 'max'. */
async function webhook(cluster, body, opts) {
  const hook = await cluster.revalidate(body, opts)
  assert.equal(hook.status, 200, `webhook answered ${hook.status}: ${hook.body}`)
  return hook
}

function multipart(fields) {
  const boundary = `----e2e${crypto.randomBytes(8).toString('hex')}`
  let body = ''
  for (const [k, v] of Object.entries(fields)) body += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`
  body += `--${boundary}--\r\n`
  return { body: Buffer.from(body), contentType: `multipart/form-data; boundary=${boundary}` }
}

/** The server action id of the form `data-testid=<formId>` in a page (React's $ACTION_ID_ field). */
function actionId(page, formId) {
  const m = new RegExp(`data-testid="${formId}"[^>]*>\\s*<input type="hidden" name="\\$ACTION_ID_([0-9a-f]+)"`).exec(page.body)
  assert.ok(m, `no server action form ${formId} in the page`)
  return m[1]
}

/**
 * Submits an editor form the way a browser without JavaScript does (multipart POST carrying
 * $ACTION_ID_<id>): the action writes the CMS and calls updateTag (16) / revalidateTag (15).
 * `form-save` answers with the re-rendered page, `form-save-redirect` with a 303.
 */
async function submitEdit(inst, { slug, title, rev, form = 'form-save', id }) {
  const m = multipart({ [`$ACTION_ID_${id}`]: '', slug, title, rev })
  const res = await request(`${inst.url}/edit/${slug}`, {
    method: 'POST',
    headers: { 'content-type': m.contentType, origin: inst.url },
    body: m.body,
  })
  return { ...res, markers: parseMarkers(res.body) }
}

// ---------------------------------------------------------------- scenarios (run both ways)

/**
 * Test 1: a key nobody has read yet (a slug no page ever asked for), then /notice ('use cache:
 * remote'): instance 1 renders it, then instances 2 and 3 are asked once its entries landed.
 */
async function firstRender(cluster) {
  const slug = `fresh-${crypto.randomBytes(4).toString('hex')}`
  const out = {}
  for (const [path, prefixes] of [
    [`/articles/${slug}`, ['fn', 'cmp']],
    ['/notice', ['fn']],
  ]) {
    const [first, ...others] = cluster.instances
    const before = await useCacheEntries(cluster)
    const t0 = Date.now()
    const seen = [{ inst: first, page: await get(first, path) }]
    const answeredMs = Date.now() - t0
    const landedMs = await landed(cluster, before, prefixes.length)
    if (!before) await sleep(300) // built-in handler: nothing to wait for, the others render their own anyway
    for (const inst of others) seen.push({ inst, page: await get(inst, path) })
    out[path] = { seen, prefixes, answeredMs, landedMs }
  }
  return out
}

/**
 * Test 2 on the shared cache, sequential: the CMS changes, the webhook revalidates
 * `article:beta` through the balancer, then instance 1 is asked until fresh, then the others.
 */
async function tagSequential(cluster, t) {
  const path = '/articles/beta'
  const [first, ...others] = cluster.instances
  const old = await settled(cluster, path, ['fn', 'cmp'])
  const oldStamp = { fn: stampOf(old[0].page, 'fn').key, cmp: stampOf(old[0].page, 'cmp').key }
  const oldRev = revOf(old[0].page)
  const rev = newRev('tag')
  cluster.setCms(cmsWithRev(rev))
  // The CMS changed but nothing was revalidated: every instance still serves the cached render.
  for (const { inst, page } of await eachInstance(cluster, path)) {
    assert.equal(stampOf(page).key, oldStamp.fn, `${inst.name} re-rendered ${path} without a revalidation: ${brief(page)}`)
  }
  const hook = await webhook(cluster, { tags: ['article:beta'] })
  await afterWebhookAnswer(cluster, hook)
  const before = await useCacheEntries(cluster)
  const firstAnswer = await get(first, path)
  const polled = await pollUntil(first, path, (p) => revOf(p) === rev && revOf(p, 'cmp') === rev)
  const landedMs = await landed(cluster, before, 2)
  const rest = await eachInstance(cluster, path, others)
  t.diagnostic(
    `next ${cluster.nextVersion}: revalidateTag('article:beta'${Number(cluster.version) >= 16 ? ", 'max'" : ''}) via ${hook.headers['x-e2e-upstream']}; ` +
      `${first.name} first: ${brief(firstAnswer)} / cmp ${brief(firstAnswer, 'cmp')}; fresh after ${polled.answers.length - 1} more answer(s) (${polled.ms} ms): ${brief(polled.last)}; ` +
      `entries landed ${landedMs} ms later; then ${line(rest)}`,
  )
  return { path, rev, oldRev, oldStamp, firstAnswer, polled, rest, first }
}

/** Test 2, concurrent: right after the webhook, every instance at once, then each until fresh. */
async function tagBurst(cluster, t) {
  const path = '/articles/beta'
  const old = await settled(cluster, path, ['fn', 'cmp'])
  const oldKey = stampOf(old[0].page).key
  const rev = newRev('burst')
  cluster.setCms(cmsWithRev(rev))
  const hook = await webhook(cluster, { tags: ['article:beta'] })
  await afterWebhookAnswer(cluster, hook)
  const burst = await Promise.all(cluster.instances.map((inst) => get(inst, path)))
  const polls = await Promise.all(
    cluster.instances.map((inst) => pollUntil(inst, path, (p) => revOf(p) === rev && revOf(p, 'cmp') === rev)),
  )
  // Then one render everywhere (concurrent regenerations: the last write wins).
  const t0 = Date.now()
  let final
  for (;;) {
    final = await eachInstance(cluster, path)
    if (new Set(final.map(({ page }) => stampOf(page).key)).size === 1 || Date.now() - t0 > 1500) break
    await sleep(100)
  }
  t.diagnostic(
    `next ${cluster.nextVersion}: burst right after the webhook: ${burst.map((p, k) => `${cluster.instances[k].name}: ${brief(p)}`).join('; ')}; ` +
      `old answers while polling: ${polls.map((x, k) => `${cluster.instances[k].name} ${x.answers.length - 1}`).join(', ')}; ` +
      `${Date.now() - t0} ms later: ${line(final)}`,
  )
  return { path, rev, oldKey, burst, polls, final }
}

// ---------------------------------------------------------------- shared-isr

for (const version of VERSIONS) {
  const v16 = Number(version) >= 16

  describe(`next ${version}, 'use cache' with shared-isr (default + remote) + redis, 3 instances`, () => {
    const step = useCluster({ version, app: APP, instances: 3, useSharedIsr: true, redis: true })

    step('1. a cached function/component rendered on one instance is served from the cache on the others', async (cluster, t) => {
      const before = await redisCommand(cluster.redisUrl, 'KEYS', '*:e:u:*')
      const out = await firstRender(cluster)
      for (const [path, { seen, prefixes, answeredMs, landedMs }] of Object.entries(out)) {
        t.diagnostic(`${path}: ${line(seen)} (first answered in ${answeredMs} ms, its entries landed ${landedMs} ms after the answer)`)
        const [first] = seen
        for (const prefix of prefixes) {
          const s = stampOf(first.page, prefix)
          assert.equal(s.by, first.inst.name, `${path} ${prefix}: ${first.inst.name} did not render it itself: ${s.key}`)
          for (const { inst, page } of seen.slice(1)) {
            assert.equal(
              stampOf(page, prefix).key,
              s.key,
              `${inst.name} ${path} ${prefix}: rendered again (${brief(page, prefix)}) instead of serving ${first.inst.name}'s entry ${s.key}`,
            )
          }
        }
      }
      const after = await redisCommand(cluster.redisUrl, 'KEYS', '*:e:u:*')
      assert.ok(after.length >= before.length + 3, `'use cache' entries in redis: ${before.length} -> ${after.length}`)
    })

    // Why the versions differ: 16's revalidateTag(tag, 'max') only marks the tag stale
    // (updateTags(tags, { expire: 1 year })): the handler answers the entry with revalidate -1,
    // Next serves it once and regenerates in the background. 15.5's revalidateTag(tag) expires
    // the tag now (expireTags): the entry is a miss and the request renders in the foreground.
    step(
      `2. revalidateTag${v16 ? "(tag, 'max')" : '(tag)'}: ${v16 ? 'the first request serves stale once, its regeneration serves every instance' : 'the next request renders fresh, every instance serves it'}`,
      async (cluster, t) => {
        const { path, rev, oldRev, oldStamp, firstAnswer, polled, rest, first } = await tagSequential(cluster, t)
        if (v16) {
          for (const prefix of ['fn', 'cmp']) {
            assert.equal(
              revOf(firstAnswer, prefix),
              oldRev,
              `${first.name} ${prefix}: expected the stale entry first, got ${brief(firstAnswer, prefix)}`,
            )
            assert.equal(
              stampOf(firstAnswer, prefix).key,
              oldStamp[prefix],
              `${first.name} ${prefix}: expected the stale entry first, got ${brief(firstAnswer, prefix)}`,
            )
          }
          // While the regeneration runs, `first` may answer stale again; never anything else.
          for (const p of polled.answers.slice(0, -1))
            assert.equal(stampOf(p).key, oldStamp.fn, `${first.name} while regenerating: ${brief(p)}`)
        } else {
          assert.equal(revOf(firstAnswer), rev, `${first.name}: 15.5 expires the tag, expected a fresh render, got ${brief(firstAnswer)}`)
          assert.equal(revOf(firstAnswer, 'cmp'), rev, `${first.name} cmp: ${brief(firstAnswer, 'cmp')}`)
          assert.equal(polled.answers.length, 1)
        }
        for (const prefix of ['fn', 'cmp']) {
          const fresh = stampOf(polled.last, prefix)
          assert.equal(fresh.by, first.name, `${prefix}: the regeneration should be ${first.name}'s: ${fresh.key}`)
          for (const { inst, page } of rest) {
            assert.equal(revOf(page, prefix), rev, `${inst.name} ${path} ${prefix}: ${brief(page, prefix)}`)
            assert.equal(
              stampOf(page, prefix).key,
              fresh.key,
              `${inst.name} ${path} ${prefix}: ${brief(page, prefix)} is not ${first.name}'s regeneration ${fresh.key}`,
            )
          }
        }
      },
    )

    step(
      `2b. revalidateTag${v16 ? "(tag, 'max')" : '(tag)'}, every instance asked at once: ${v16 ? 'each serves stale at most until a regeneration lands' : 'none serves stale'}, then one entry everywhere`,
      async (cluster, t) => {
        const { rev, oldKey, burst, polls, final } = await tagBurst(cluster, t)
        burst.forEach((page, k) => {
          const inst = cluster.instances[k]
          if (revOf(page) !== rev) {
            assert.ok(v16, `${inst.name}: 15.5 must never serve the revalidated entry: ${brief(page)}`)
            assert.equal(stampOf(page).key, oldKey, `${inst.name}: ${brief(page)}`)
          }
        })
        if (v16)
          assert.ok(
            burst.some((p) => revOf(p) !== rev),
            `16 with 'max': nobody served the stale entry: ${burst.map((p) => brief(p)).join('; ')}`,
          )
        polls.forEach(({ answers }, k) => {
          for (const p of answers.slice(0, -1)) assert.equal(stampOf(p).key, oldKey, `${cluster.instances[k].name}: ${brief(p)}`)
        })
        for (const { inst, page } of final) assert.equal(revOf(page), rev, `${inst.name} went back to ${brief(page)}`)
        assert.equal(
          new Set(final.map(({ page }) => stampOf(page).key)).size,
          1,
          `instances serve different renders 1.5 s after the regenerations: ${line(final)}`,
        )
      },
    )

    step(
      `3. ${v16 ? 'updateTag' : 'revalidateTag'} in a server action: read-your-writes in its own response, then on every instance`,
      async (cluster, t) => {
        const path = '/edit/gamma'
        const old = await settled(cluster, path)
        const [writer, ...others] = cluster.instances
        const id = actionId(old[0].page, 'form-save')
        const rev = newRev('action')
        const t0 = Date.now()
        const res = await submitEdit(writer, { slug: 'gamma', title: `Gamma [${rev}]`, rev, id })
        const actionMs = Date.now() - t0
        assert.equal(res.status, 200, `the action answered ${res.status}: ${res.body.slice(0, 300)}`)
        // The action's own response: the page re-rendered after the revalidation, with the write.
        assert.equal(res.markers['fn-title'], `Gamma [${rev}]`, `the action's own response shows ${brief(res)}`)
        assert.equal(revOf(res), rev)
        const own = stampOf(res)
        assert.equal(own.by, writer.name)
        assert.ok(own.at >= t0, `the action's response shows a render from before the action: ${own.key}`)
        const window = actionWindow(cluster)
        if (window) await sleep(window)
        // Every instance's next request: the new title, never the old entry. Which render it is
        // varies, by Next's doing: for an action that re-renders the page, 16.4.6 and 15.5.29 record
        // the revalidation twice, once before the render (action-handler.js) and again when the
        // render's response is created (app-render.js `executeRevalidates`; `pendingRevalidatedTags`
        // is never cleared; redis epoch +4 per such action against +2 for a redirecting one). When
        // that second `updateTags`/`expireTags` stamp lands after the render inside the action began,
        // the entry the action just wrote is older than the tag's expiry: every instance then
        // renders once more. (Seen in about 4 of 7 actions on 16 and 1 of 7 on 15.5; Next's own
        // handler stamps `now` the same way.)
        const next = await eachInstance(cluster, path, [...others, writer])
        const source = next.map(
          ({ inst, page }) =>
            `${inst.name}: ${stampOf(page).key === own.key ? "the action's render" : `own render by ${stampOf(page).by}`}`,
        )
        t.diagnostic(
          `next ${cluster.nextVersion}: action on ${writer.name} answered in ${actionMs} ms with ${brief(res)}; ${window} ms later: ${line(next)} (${source.join(', ')})`,
        )
        for (const { inst, page } of next) {
          assert.equal(page.markers['fn-title'], `Gamma [${rev}]`, `${inst.name} after the action: ${brief(page)}`)
          assert.equal(revOf(page), rev)
        }
        const after = await settled(cluster, path)
        t.diagnostic(
          `then one render everywhere: ${stampOf(after[0].page).key} (${stampOf(after[0].page).key === own.key ? "the action's own" : "not the action's own"})`,
        )

        // The same through a redirecting action: the 303's target, requested on another instance
        // (the balancer may send the browser anywhere), shows the write.
        const rev2 = newRev('action-redirect')
        const idRedirect = actionId(after[0].page, 'form-save-redirect')
        const [, second, third] = cluster.instances
        const r = await submitEdit(second, {
          slug: 'gamma',
          title: `Gamma [${rev2}]`,
          rev: rev2,
          form: 'form-save-redirect',
          id: idRedirect,
        })
        assert.equal(r.status, 303, `the redirecting action answered ${r.status}: ${r.body.slice(0, 200)}`)
        assert.equal(r.headers.location, '/articles/gamma')
        if (window) await sleep(window)
        const target = await get(third, r.headers.location)
        t.diagnostic(`redirecting action on ${second.name} -> 303 ${r.headers.location}; on ${third.name}: ${brief(target)}`)
        assert.equal(
          target.markers['fn-title'],
          `Gamma [${rev2}]`,
          `${third.name} ${r.headers.location} after the redirecting action: ${brief(target)}`,
        )
        assert.equal(target.markers['cmp-title'], `Gamma [${rev2}]`, `${third.name} ${r.headers.location} cmp: ${brief(target, 'cmp')}`)
        for (const { inst, page } of await eachInstance(cluster, path))
          assert.equal(page.markers['fn-title'], `Gamma [${rev2}]`, `${inst.name}: ${brief(page)}`)
      },
    )

    step("4. revalidatePath reaches a 'use cache' entry through the page's implicit (soft) tags, on every instance", async (cluster, t) => {
      const path = '/soft/delta'
      const [first, ...others] = cluster.instances
      const old = await settled(cluster, path)
      const oldKey = stampOf(old[0].page).key
      const rev = newRev('path')
      cluster.setCms(cmsWithRev(rev))
      // Control: a tag the entry does not carry leaves it alone (getSoft() carries no tag but
      // `never-revalidated`; only the page's implicit tags can reach it).
      const control = await webhook(cluster, { tags: ['articles'] })
      await afterWebhookAnswer(cluster, control)
      for (const { inst, page } of await eachInstance(cluster, path))
        assert.equal(stampOf(page).key, oldKey, `${inst.name}: revalidateTag('articles') reached getSoft(): ${brief(page)}`)

      const hook = await webhook(cluster, { paths: [path] })
      await afterWebhookAnswer(cluster, hook)
      const before = await useCacheEntries(cluster)
      const firstPage = await get(first, path)
      const landedMs = await landed(cluster, before, 1)
      const rest = await eachInstance(cluster, path, others)
      t.diagnostic(
        `revalidatePath('${path}') via ${hook.headers['x-e2e-upstream']}: ${first.name}: ${brief(firstPage)}; entry landed ${landedMs} ms later; ${line(rest)}`,
      )
      // No profile: expired now on both versions, so the next request renders (no stale answer).
      assert.equal(revOf(firstPage), rev, `${first.name} ${path} after revalidatePath: ${brief(firstPage)}`)
      assert.equal(stampOf(firstPage).by, first.name)
      for (const { inst, page } of rest) assert.equal(stampOf(page).key, stampOf(firstPage).key, `${inst.name} ${path}: ${brief(page)}`)

      // revalidatePath('/soft/[slug]', 'page'): one tag for every slug of the route.
      const paths = ['/soft/alpha', '/soft/delta']
      const olds = {}
      for (const p of paths) olds[p] = stampOf((await settled(cluster, p))[0].page).key
      const rev2 = newRev('route')
      cluster.setCms(cmsWithRev(rev2))
      const hook2 = await webhook(cluster, { paths: [{ path: '/soft/[slug]', type: 'page' }] })
      await afterWebhookAnswer(cluster, hook2)
      for (const p of paths) {
        const seen = await eachInstance(cluster, p)
        t.diagnostic(`revalidatePath('/soft/[slug]', 'page'), ${p}: ${line(seen)}`)
        for (const { inst, page } of seen) {
          assert.equal(revOf(page), rev2, `${inst.name} ${p}: ${brief(page)}`)
          assert.notEqual(stampOf(page).key, olds[p])
        }
      }
    })

    step(
      `'use cache: remote' is shared too, and revalidateTag${v16 ? '(tag, { expire: 0 })' : '(tag)'} renders it fresh once for every instance`,
      async (cluster, t) => {
        const path = '/notice'
        const [first, ...others] = cluster.instances
        await settled(cluster, path)
        const rev = newRev('remote')
        cluster.setCms(cmsWithRev(rev))
        // 16: an inline profile with expire 0 expires the tag now (no stale answer), like 15.5.
        const hook = await webhook(cluster, { tags: ['notice'], profile: { expire: 0 } })
        await afterWebhookAnswer(cluster, hook)
        const before = await useCacheEntries(cluster)
        const firstPage = await get(first, path)
        const landedMs = await landed(cluster, before, 1)
        const rest = await eachInstance(cluster, path, others)
        t.diagnostic(`${path}: ${first.name}: ${brief(firstPage)}; entry landed ${landedMs} ms later; ${line(rest)}`)
        assert.equal(revOf(firstPage), rev, `${first.name}: ${brief(firstPage)}`)
        assert.equal(stampOf(firstPage).by, first.name)
        for (const { inst, page } of rest) assert.equal(stampOf(page).key, stampOf(firstPage).key, `${inst.name}: ${brief(page)}`)
      },
    )

    // cacheLife('blink'): revalidate 3 s. Past it, a dynamic request serves the entry and
    // regenerates it in the background (both versions); that one regeneration serves everyone.
    step(
      'time-based (cacheLife revalidate 3 s): the first request after the period is stale, its regeneration serves every instance',
      async (cluster, t) => {
        const path = '/ticker'
        const [first, ...others] = cluster.instances
        let old
        for (let i = 0; ; i++) {
          old = await settled(cluster, path)
          // A young entry, so the period below starts from a known render.
          if (Date.now() - stampOf(old[0].page).at < 1500 || i > 20) break
          await sleep(300)
        }
        const oldKey = stampOf(old[0].page).key
        const rev = newRev('timed')
        cluster.setCms(cmsWithRev(rev))
        const wait = stampOf(old[0].page).at + 3000 + 700 - Date.now()
        if (wait > 0) await sleep(wait)
        const before = await useCacheEntries(cluster)
        const firstPage = await get(first, path)
        const polled = await pollUntil(first, path, (p) => revOf(p) === rev)
        const landedMs = await landed(cluster, before, 1)
        const rest = await eachInstance(cluster, path, others)
        t.diagnostic(
          `${path}: ${first.name} first: ${brief(firstPage)}; fresh after ${polled.answers.length - 1} more (${polled.ms} ms): ${brief(polled.last)}; landed ${landedMs} ms later; ${line(rest)}`,
        )
        assert.equal(stampOf(firstPage).key, oldKey, `${first.name}: expected the stale entry: ${brief(firstPage)}`)
        for (const p of polled.answers.slice(0, -1)) assert.equal(stampOf(p).key, oldKey, `${first.name} while regenerating: ${brief(p)}`)
        const fresh = stampOf(polled.last)
        assert.equal(fresh.by, first.name)
        for (const { inst, page } of rest)
          assert.equal(stampOf(page).key, fresh.key, `${inst.name}: ${brief(page)} is not ${first.name}'s regeneration ${fresh.key}`)
      },
    )

    step("right after a revalidation answers: another instance's next request (default mode: within the window)", async (cluster, t) => {
      await nextRequestAfterAnswer(cluster, t)
    })

    // Issue 27: a read that does not render (build output, a fresh entry, a navigation that
    // resumes a PPR page) takes no regeneration lease, so a navigation after a revalidation
    // made on another instance waits on none (it took ~3 s while warm-up reads left one).
    if (v16)
      step(
        'PPR navigations after a revalidation on another instance: the new content at once, no lease left behind',
        async (cluster, t) => {
          const path = '/articles/gamma'
          const leases = async () => (await redisCommand(cluster.redisUrl, 'KEYS', '*:l:*')) ?? []
          const noLease = async (what) => {
            // A render's own lease is released once its entry is stored, which 16 does after
            // answering (waitUntil): give that a moment, far less than a lease's life.
            let left
            for (let i = 0; i < 40; i++) {
              left = await leases()
              if (left.length === 0) return
              await sleep(100)
            }
            assert.fail(`${what}: regeneration leases left behind: ${left.join(', ')}`)
          }
          // As the router asks on router.refresh(): RSC, no prefetch header (16 redirects a
          // `_rsc` value that does not match the request's headers to the one that does).
          const navigate = async (inst) => {
            const t0 = Date.now()
            let res = await request(`${inst.url}${path}?_rsc=e2e`, { headers: { RSC: '1' } })
            if (res.status === 307 || res.status === 308)
              res = await request(new URL(res.headers.location, inst.url).href, { headers: { RSC: '1' } })
            const rev = /"data-testid":"fn-rev","children":"([^"]*)"/.exec(res.body)?.[1]
            return { status: res.status, ms: Date.now() - t0, rev }
          }
          await settled(cluster, path)
          for (const inst of cluster.instances) assert.equal((await navigate(inst)).status, 200)
          await noLease('after the warm-up')
          const rev = newRev('nav')
          cluster.setCms(cmsWithRev(rev))
          const hook = await webhook(cluster, { tags: ['article:gamma'], profile: { expire: 0 } }, { via: cluster.instances[0].url })
          await afterWebhookAnswer(cluster, hook)
          const seen = []
          for (const inst of cluster.instances.slice(1)) seen.push({ inst, ...(await navigate(inst)) })
          t.diagnostic(seen.map((s) => `${s.inst.name}: ${s.status} rev=${s.rev} in ${s.ms} ms`).join('; '))
          for (const s of seen) {
            assert.equal(s.status, 200, s.inst.name)
            assert.equal(s.rev, rev, `${s.inst.name} navigates to the new content`)
            // Robust on a loaded 2-core machine, far below the ~3 s of a left-behind lease.
            assert.ok(s.ms < 1500, `${s.inst.name} answered in ${s.ms} ms`)
          }
          await noLease('after the navigations')
        },
      )
  })

  // The literal "next request": SHARED_ISR_STRICT=1 checks every L1 hit against Redis.
  describe(`next ${version}, 'use cache' with shared-isr strict mode (SHARED_ISR_STRICT=1), 3 instances`, () => {
    const step = useCluster({ version, app: APP, instances: 3, useSharedIsr: true, redis: true, env: { SHARED_ISR_STRICT: '1' } })

    step("right after a server action or webhook answers: another instance's next request is new", async (cluster, t) => {
      await nextRequestAfterAnswer(cluster, t)
    })
  })

  // Test 5: the same scenarios on Next's built-in 'use cache' handler (no shared-isr).
  describe(`next ${version}, Next's built-in 'use cache' handler, 3 instances (the problem)`, () => {
    const step = useCluster({ version, app: APP, instances: 3, useSharedIsr: false })

    step('1 without shared-isr: every instance renders its own copy', async (cluster, t) => {
      const out = await firstRender(cluster)
      for (const [path, { seen, prefixes }] of Object.entries(out)) {
        t.diagnostic(`${path}: ${line(seen)}`)
        for (const prefix of prefixes) {
          for (const { inst, page } of seen)
            assert.equal(stampOf(page, prefix).by, inst.name, `${inst.name} ${path} ${prefix}: ${brief(page, prefix)}`)
          assert.equal(
            new Set(seen.map(({ page }) => stampOf(page, prefix).key)).size,
            seen.length,
            `${path} ${prefix}: ${line(seen, prefix)}`,
          )
        }
      }
    })

    step(
      '2 without shared-isr: the instance the webhook reached serves the new content, the others keep their old copy',
      async (cluster, t) => {
        const path = '/articles/beta'
        const [via, ...others] = cluster.instances
        const old = await eachInstance(cluster, path)
        const oldKeys = Object.fromEntries(old.map(({ inst, page }) => [inst.name, stampOf(page).key]))
        const rev = newRev('tag-default')
        cluster.setCms(cmsWithRev(rev))
        const hook = await webhook(cluster, { tags: ['article:beta'] }, { via: via.url })
        await afterWebhookAnswer(cluster, hook)
        const viaFirst = await get(via, path)
        const viaFresh = await pollUntil(via, path, (p) => revOf(p) === rev)
        // Give the others every chance: the same 16 'max' / 15 expiry would have reached them by now.
        await sleep(1000)
        const rest = []
        for (let round = 0; round < 3; round++) rest.push(...(await eachInstance(cluster, path, others)))
        t.diagnostic(
          `webhook on ${via.name}: ${via.name} first ${brief(viaFirst)}, fresh after ${viaFresh.answers.length - 1} more: ${brief(viaFresh.last)}; ` +
            `the others, 1 s later, 3 times each: ${line(rest)}`,
        )
        if (v16)
          assert.equal(
            stampOf(viaFirst).key,
            oldKeys[via.name],
            `${via.name} (16, 'max'): expected its stale entry first: ${brief(viaFirst)}`,
          )
        else assert.equal(revOf(viaFirst), rev, `${via.name} (15.5): expected fresh: ${brief(viaFirst)}`)
        for (const { inst, page } of rest) {
          assert.notEqual(revOf(page), rev, `${inst.name} saw the revalidation without a shared handler?! ${brief(page)}`)
          assert.equal(stampOf(page).key, oldKeys[inst.name], `${inst.name}: ${brief(page)}`)
        }
      },
    )
  })
}

/**
 * Rounds of "revalidate on one instance, then immediately ask another": server actions
 * (updateTag / revalidateTag on /edit/gamma) and the webhook (tag article:beta; on 16 with
 * { expire: 0 }, so the next request must be fresh rather than stale by design). Old content
 * is allowed only within the visibility window (0 in strict mode except the 16 webhook, which
 * answers before it records); counted and reported.
 */
async function nextRequestAfterAnswer(cluster, t) {
  const n = cluster.instances.length
  const rounds = 12
  const old = { action: [], webhook: [] }
  const idPage = await get(cluster.instances[0], '/edit/gamma')
  const id = actionId(idPage, 'form-save')
  await settled(cluster, '/articles/beta')
  for (let k = 0; k < rounds; k++) {
    const kind = k % 2 === 0 ? 'action' : 'webhook'
    const via = cluster.instances[k % n]
    const other = cluster.instances[(k + 1) % n]
    const path = kind === 'action' ? '/edit/gamma' : '/articles/beta'
    await get(other, path) // `other` holds the entry (L1 warm) before the revalidation
    const rev = newRev(`answer-${k}`)
    let hook
    let isNew
    if (kind === 'action') {
      hook = await submitEdit(via, { slug: 'gamma', title: `Gamma [${rev}]`, rev, id })
      assert.equal(hook.status, 200, hook.body.slice(0, 300))
      isNew = (p) => p.markers['fn-title'] === `Gamma [${rev}]`
    } else {
      cluster.setCms(cmsWithRev(rev))
      hook = await webhook(cluster, { tags: ['article:beta'], profile: { expire: 0 } }, { via: via.url })
      isNew = (p) => revOf(p) === rev
    }
    const window = kind === 'action' ? actionWindow(cluster) : visibilityWindow(cluster, hook)
    const t0 = Date.now()
    let page = await get(other, path)
    let lagMs = 0
    if (!isNew(page)) {
      while (!isNew(page) && Date.now() - t0 < Math.max(window, 1000)) {
        await sleep(1)
        page = await get(other, path)
      }
      lagMs = Date.now() - t0
      old[kind].push(`${via.name}->${other.name} new after ${lagMs} ms`)
    }
    assert.ok(isNew(page), `${other.name} ${path} still serves ${brief(page)} 1 s after the ${kind} answered on ${via.name}`)
    assert.ok(
      lagMs <= window,
      `${kind}: ${other.name} served the old entry for ${lagMs} ms after the answer on ${via.name} (allowed: ${window} ms)`,
    )
  }
  const mode = isStrict(cluster) ? 'strict' : 'default mode'
  for (const kind of Object.keys(old)) {
    t.diagnostic(
      `next ${cluster.nextVersion}, ${mode}, ${kind}: old entry on the first request to another instance in ${old[kind].length} of ${rounds / 2} rounds${old[kind].length ? ` (${old[kind].join(', ')})` : ''}`,
    )
  }
  if (isStrict(cluster)) {
    assert.deepEqual(old.action, [], "strict mode: a server action's revalidation is visible everywhere once it answered")
    if (Number(cluster.version) < 16)
      assert.deepEqual(old.webhook, [], "strict mode before 16: the webhook's revalidation is visible everywhere once it answered")
  }
}
