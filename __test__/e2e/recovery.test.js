'use strict'
// A year in production, part 2 and 3: three `next start` instances (shared-isr, 300 ms timeout)
// behind the balancer, each polled on one page every 20 ms.
//
// 1. Redis stops answering (SIGSTOP: connections stay, data kept) for 4 s. 1.8 s into it the
//    CMS changes and the example's webhook (Next's own revalidateTag in a route handler) is
//    answered 200 by app-1, which could not record it. After Redis resumes, the two other
//    instances must serve the new page within RESUME_BOUND_MS: the revalidation was kept with
//    its time and recorded by app-1 as soon as Redis answered.
// 2. Redis is SIGKILLed and restarted empty (ROUNDS times); right after the restart the CMS
//    changes and a webhook that awaits the package's revalidateTags() (retried until it
//    resolves, as a CMS would) is acknowledged. Reported: how long after the acknowledgement an
//    instance still served the old page (each instance probes Redis every 100 ms while it fails,
//    instead of waiting for a request to get past its back-off). Bounded by STALE_BOUND_MS.
//
// Runs on Next 16 when E2E_NEXT_VERSIONS includes it (default 14,15,16).
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, sleep, cmsWithRev } = require('../../scripts/e2e/harness')
const { useCluster, newRev, warm, listenerPid, hardKillRedis } = require('./helpers')

const TIMEOUT_MS = 300
const PAGE = '/posts/hello-world'
const RESUME_BOUND_MS = 1500 // "every instance serves the new content within a second", plus a margin for a busy 2-core machine
const STALE_BOUND_MS = 800
const ROUNDS = 3
const api = () => require('../../lib')

/** Polls PAGE on `instances` every 20 ms until `stop()`: [{ inst, at, rev }] (at: ms since the epoch). */
function pollAll(instances) {
  const seen = []
  let running = true
  const loops = instances.map(async (inst) => {
    while (running) {
      const at = Date.now()
      const page = await getPage(inst.url + PAGE, { timeout: 10_000 }).catch((e) => ({ status: 0, markers: {}, error: e.message }))
      seen.push({ inst: inst.name, at, status: page.status, rev: page.markers.rev })
      await sleep(20)
    }
  })
  return {
    seen,
    stop: async () => {
      running = false
      await Promise.all(loops)
    },
  }
}

function redisPid(cluster) {
  const pid = listenerPid(Number(new URL(cluster.redisUrl).port))
  assert.ok(pid, 'no redis-server pid')
  return pid
}

/** Per instance: ms after `since` of its last answer with another revision than `rev` (0 when none). */
function lastOld(seen, rev, since) {
  const out = {}
  for (const s of seen) {
    out[s.inst] ??= 0
    if (s.at >= since && s.rev !== rev) out[s.inst] = Math.max(out[s.inst], s.at - since)
  }
  return out
}

for (const version of e2eVersions().filter((v) => v === '16')) {
  describe(`next ${version}: revalidations survive a Redis stall; instances recover in a probe period (3 instances)`, () => {
    const step = useCluster({ version, instances: 3, useSharedIsr: true, redis: true, env: { SHARED_ISR_TIMEOUT_MS: String(TIMEOUT_MS) } })

    step(
      "Redis stalls (SIGSTOP 4 s); Next's revalidateTag answers 200 meanwhile; every instance serves the new page once Redis resumes",
      async (cluster, t) => {
        for (const inst of cluster.instances) await warm(inst, PAGE)
        const pid = redisPid(cluster)
        // The webhook goes to app-1, which gets no other request for the page: the other two can
        // only learn of the change from the recorded revalidation (app-1 would otherwise render
        // the new page and store it, which reaches them as a new entry).
        const [receiver, ...others] = cluster.instances
        const poll = pollAll(others)
        let resumed = 0
        const rev = newRev('stall')
        try {
          await sleep(300)
          process.kill(pid, 'SIGSTOP')
          await sleep(1800)
          cluster.setCms(cmsWithRev(rev))
          const hook = await cluster.revalidate({ tags: ['posts'] }, { via: receiver.url })
          t.diagnostic(`webhook during the stall: ${hook.status} from ${receiver.name}`)
          assert.equal(hook.status, 200)
          await sleep(4000 - 1800)
        } finally {
          process.kill(pid, 'SIGCONT')
          resumed = Date.now()
        }
        await sleep(RESUME_BOUND_MS + 1000)
        await poll.stop()
        const late = lastOld(poll.seen, rev, resumed)
        t.diagnostic(`old page served after Redis resumed, last (ms): ${JSON.stringify(late)}`)
        const errors = poll.seen.filter((s) => s.status !== 200)
        assert.deepEqual(errors, [], 'every request answered 200')
        for (const inst of others) {
          const last = poll.seen.filter((s) => s.inst === inst.name).at(-1)
          assert.equal(last.rev, rev, `${inst.name} still serves ${last.rev}: the revalidation was lost`)
          assert.ok(late[inst.name] <= RESUME_BOUND_MS, `${inst.name} served the old page ${late[inst.name]} ms after Redis resumed`)
        }
      },
    )

    step(
      `Redis SIGKILLed and restarted empty, webhook acknowledged right after: the old page is gone within ${STALE_BOUND_MS} ms (${ROUNDS} rounds)`,
      async (cluster, t) => {
        const lasts = []
        for (let round = 0; round < ROUNDS; round++) {
          for (const inst of cluster.instances) await warm(inst, PAGE)
          const poll = pollAll(cluster.instances)
          const rev = newRev(`restart${round}`)
          let ack
          try {
            await sleep(300)
            await hardKillRedis(cluster)
            await sleep(2000)
            await cluster.restartRedis()
            cluster.setCms(cmsWithRev(rev))
            // The CMS's webhook: awaits the package's revalidateTags(), retried until recorded.
            for (let i = 0; ; i++) {
              try {
                await api().revalidateTags(['posts'], undefined, {
                  redisUrl: cluster.redisUrl,
                  timeoutMs: TIMEOUT_MS,
                  connectTimeoutMs: TIMEOUT_MS,
                })
                break
              } catch (err) {
                assert.ok(i < 100, `never recorded: ${err.message}`)
                await sleep(20)
              }
            }
            ack = Date.now()
            await sleep(STALE_BOUND_MS + 1000)
          } finally {
            await poll.stop()
            await api().close()
          }
          const late = lastOld(poll.seen, rev, ack)
          lasts.push(...Object.values(late))
          t.diagnostic(`round ${round}: old page served after the acknowledgement, last (ms): ${JSON.stringify(late)}`)
          assert.deepEqual(
            poll.seen.filter((s) => s.status !== 200),
            [],
            'every request answered 200',
          )
          for (const [inst, ms] of Object.entries(late))
            assert.ok(ms <= STALE_BOUND_MS, `${inst} served the old page ${ms} ms after the acknowledged revalidation`)
        }
        lasts.sort((a, b) => a - b)
        t.diagnostic(
          `last old answer after the acknowledgement over ${ROUNDS} rounds x 3 instances: median ${lasts[Math.floor(lasts.length / 2)]} ms, max ${lasts.at(-1)} ms`,
        )
      },
    )
  })
}
