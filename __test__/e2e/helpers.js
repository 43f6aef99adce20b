'use strict'
// Shared pieces of the e2e tests: one cluster per describe(), logs kept and printed on failure.
const { before, after, test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const net = require('node:net')
const { startCluster, getPage, sleep, cmsWithRev } = require('../../scripts/e2e/harness')

// Installing and building a Next version can take minutes on a cold 2-core machine.
const SETUP_TIMEOUT = 15 * 60_000
const STEP_TIMEOUT = 3 * 60_000

/**
 * Starts a cluster before the suite's tests and stops it after them. Returns `step(name, fn)`,
 * which declares a test receiving the cluster; a failing step keeps the run dir (logs, CMS
 * file) and prints the tail of every log.
 */
function useCluster(options) {
  const state = { cluster: null, failed: false }
  before(
    async () => {
      // A function: options known only once earlier hooks ran (e.g. a Redis the test started).
      const opts = typeof options === 'function' ? options() : options
      state.cluster = await startCluster(opts)
      state.cluster.options = opts
    },
    { timeout: SETUP_TIMEOUT },
  )
  after(async () => {
    if (!state.cluster) return
    if (state.failed) console.error(`\n[e2e] logs of the failed cluster (kept in ${state.cluster.runDir}):\n${state.cluster.logTail(60)}`)
    await state.cluster.stop({ keepLogs: state.failed })
  })
  return function step(name, fn) {
    test(name, { timeout: STEP_TIMEOUT }, async (t) => {
      assert.ok(state.cluster, 'cluster did not start')
      try {
        await fn(state.cluster, t)
      } catch (err) {
        state.failed = true
        throw err
      }
    })
  }
}

/**
 * Requests `path` on one instance until it answers 200 from a fresh cache entry
 * (x-nextjs-cache: HIT). A STALE or MISS answer means a regeneration may still be running in
 * the background; waiting for HIT makes sure none can land after the test changes the CMS.
 */
async function warm(inst, path, { attempts = 40 } = {}) {
  let last
  for (let i = 0; i < attempts; i++) {
    last = await getPage(inst.url + path)
    if (last.status === 200 && last.cache === 'HIT') return last
    await sleep(250)
  }
  assert.fail(`${inst.name} ${path}: no fresh HIT after ${attempts} tries (last: ${last.status} ${last.cache})`)
}

/** A revision id unique to this run and step, tagged into every CMS title. */
function newRev(label) {
  return `${label}-${Date.now().toString(36)}`
}

/** One line per instance for t.diagnostic: what the first request after a revalidation saw. */
function describeSeen(seen) {
  return seen
    .map(({ inst, page }) => {
      let { rev, instance } = page.markers
      if (rev === undefined)
        try {
          ;({ rev, instance } = JSON.parse(page.body))
        } catch {} // route handler JSON
      return `${inst.name}: ${page.status} ${page.cache ?? '-'} rev=${rev} rendered-by=${instance}`
    })
    .join('; ')
}

// When is an on-demand revalidation visible on the OTHER instances?
//
// * Next 14.2 and 15.5 record a route handler's revalidateTag/revalidatePath before its response
//   is sent. Next 16 records them in waitUntil, after the response (app-route's
//   `renderOpts.pendingWaitUntil` goes to `ctx.waitUntil`, which `next start` provides): a
//   request sent the moment the App Router webhook answers races the recording, with any cache
//   handler. res.revalidate (Pages API) is awaited before its response on every version.
// * shared-isr's default mode serves hits from a local L1 copy that Redis invalidates with a
//   push; the push may land a few ms after the writer's call returned (README: "up to ~3 ms").
//   SHARED_ISR_STRICT=1 checks every L1 hit against Redis: no such window.
//
// Measured here (first request to another instance right after the answer, 100 rounds each):
// res.revalidate, default mode: 14.2 3 old (new after 5-11 ms), 15.5 0, 16.4 1 (10 ms); strict: 0.
// App Router webhook on 16.4: default mode 3 old (new after 19-106 ms), strict 0, L1 off 0-1.
//
// So the "next request" checks start after SETTLE_MS in default mode, and after
// NEXT16_RECORDING_MS for the App Router webhook on 16; in strict mode on 14/15 immediately.
// The steps 'right after ... answers' measure the window in both modes.
const SETTLE_MS = 100
const NEXT16_RECORDING_MS = 250

const isStrict = (cluster) => cluster.options?.env?.SHARED_ISR_STRICT === '1'

/** How long after an on-demand revalidation's answer every instance must serve the new content. */
function visibilityWindow(cluster, hook) {
  if (cluster.mode === 'default') return 0
  let body = null
  try {
    body = JSON.parse(hook.body)
  } catch {}
  const appRouterWebhook = !!body && Array.isArray(body.tags)
  if (Number(cluster.version) >= 16 && appRouterWebhook) return NEXT16_RECORDING_MS
  return isStrict(cluster) ? 0 : SETTLE_MS
}

async function afterWebhookAnswer(cluster, hook) {
  const ms = visibilityWindow(cluster, hook)
  if (ms) await sleep(ms)
}

/** Changes the CMS, fires `revalidate()` through the balancer, then asks every instance once. */
async function changeAndRevalidate(cluster, t, { label, paths, revalidate }) {
  for (const inst of cluster.instances) for (const p of paths) await warm(inst, p)
  const rev = newRev(label)
  cluster.setCms(cmsWithRev(rev))
  const hook = await revalidate(cluster)
  assert.equal(hook.status, 200, `webhook answered ${hook.status}: ${hook.body}`)
  const receiver = hook.headers['x-e2e-upstream']
  await afterWebhookAnswer(cluster, hook)
  const seen = {}
  for (const p of paths) {
    seen[p] = []
    for (const inst of cluster.instances) seen[p].push({ inst, page: await getPage(inst.url + p) })
    t.diagnostic(`${p}: webhook reached ${receiver}; next request: ${describeSeen(seen[p])}`)
  }
  return { rev, receiver, seen }
}

function assertAllNew(seen, rev, content) {
  for (const { inst, page } of seen) {
    assert.equal(page.status, 200, `${inst.name} answered ${page.status}`)
    assert.equal(
      page.markers.rev,
      rev,
      `${inst.name} still serves rev ${page.markers.rev} (rendered by ${page.markers.instance}) instead of ${rev}`,
    )
    if (content) assert.equal(page.markers.content, content(rev), `${inst.name}`)
  }
}

/** pid of the process listening on 127.0.0.1:`port` (Linux /proc), or null. */
function listenerPid(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  let inode = null
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] === '0A') inode = f[9]
    }
  }
  if (!inode) return null
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds = []
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return Number(pid)
      } catch {}
    }
  }
  return null
}

function portAnswers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** SIGKILL the cluster's redis-server itself (no shutdown, no goodbye to clients), then let the harness reap its guard. */
async function hardKillRedis(cluster) {
  const port = Number(new URL(cluster.redisUrl).port)
  const pid = listenerPid(port)
  let how = 'killRedis()'
  if (pid) {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    assert.match(comm, /redis-server/, `pid ${pid} listening on ${port} is ${comm}, not redis-server`)
    process.kill(pid, 'SIGKILL')
    how = `SIGKILL pid ${pid}`
  }
  await cluster.killRedis()
  for (let i = 0; i < 50 && (await portAnswers(port)); i++) await sleep(20)
  assert.equal(await portAnswers(port), false, `redis still answers on ${port} after ${how}`)
  return how
}

module.exports = {
  useCluster,
  listenerPid,
  portAnswers,
  hardKillRedis,
  warm,
  newRev,
  describeSeen,
  changeAndRevalidate,
  assertAllNew,
  afterWebhookAnswer,
  visibilityWindow,
  isStrict,
  SETTLE_MS,
  NEXT16_RECORDING_MS,
  SETUP_TIMEOUT,
  STEP_TIMEOUT,
}
