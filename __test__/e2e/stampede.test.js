'use strict'
// One render per change, fleet-wide: the example app's /news page reads the CMS over HTTP (a
// tagged fetch); the CMS server counts its reads. Right after each revalidation of 'news'
// (through the webhook on one instance) a burst of simultaneous requests hits every instance.
// With the regeneration lease the CMS is read exactly once per change, every answer is 200 and
// every instance serves the new content afterwards. Then, with a slow CMS, the lease holder is
// killed mid-render: the others still answer 200 within the wait bound and serve the new
// content. And with Redis stopped every instance answers as without the lease.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, cmsWithRev, sleep, redisCommand, DEFAULT_HANDLER } = require('../../scripts/e2e/harness')
const { useCluster, warm, newRev, listenerPid } = require('./helpers')

const BURST = 6
const ROUNDS = 4

/** Requests `/news` until it serves `rev` (at most `ms`). */
async function until(inst, rev, ms = 10_000) {
  const deadline = Date.now() + ms
  let page
  while (Date.now() < deadline) {
    page = await getPage(`${inst.url}/news`)
    if (page.status === 200 && page.markers.rev === rev) return page
    await sleep(100)
  }
  throw new Error(`${inst.name} still serves rev ${page?.markers.rev} instead of ${rev}`)
}

for (const version of e2eVersions())
  describe(`next ${version}: a revalidation followed by a burst on 3 instances reads the CMS once`, () => {
    const step = useCluster({ version, instances: 3, useSharedIsr: true, redis: true, handler: DEFAULT_HANDLER })

    step(`${ROUNDS} rounds of webhook + ${BURST} simultaneous requests per instance`, async (cluster, t) => {
      for (const inst of cluster.instances) await warm(inst, '/news')
      const reads = []
      const latencies = []
      for (let round = 0; round < ROUNDS; round++) {
        for (const inst of cluster.instances) await warm(inst, '/news')
        const rev = newRev(`burst-${round}`)
        cluster.setCms(cmsWithRev(rev))
        const before = cluster.cmsHits
        const hook = await cluster.revalidate({ tags: ['news'] }, { via: cluster.instances[round % 3].url })
        assert.equal(hook.status, 200, hook.body)
        const burst = cluster.instances.flatMap((inst) =>
          Array.from({ length: BURST }, async () => {
            const t0 = performance.now()
            const page = await getPage(`${inst.url}/news`)
            latencies.push(performance.now() - t0)
            return { inst, page }
          }),
        )
        const answers = await Promise.all(burst)
        for (const { inst, page } of answers) assert.equal(page.status, 200, `${inst.name} answered ${page.status}`)
        for (const inst of cluster.instances) await until(inst, rev)
        await sleep(300) // a background regeneration still running would show now
        reads.push(cluster.cmsHits - before)
      }
      latencies.sort((a, b) => a - b)
      const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(0)
      t.diagnostic(`CMS reads per change: ${reads.join(', ')}; burst latency p50 ${q(0.5)} ms, p99 ${q(0.99)} ms`)
      assert.deepEqual(
        reads,
        reads.map(() => 1),
        'one CMS read per change',
      )
    })

    step('the lease holder killed mid-render: the others answer 200 within the wait bound, with the new content', async (cluster, t) => {
      for (const inst of cluster.instances) await warm(inst, '/news')
      cluster.setCms(cmsWithRev(newRev('kill-warm')))
      const rev = newRev('killed')
      cluster.setCms(cmsWithRev(rev))
      cluster.setCmsDelay(2000) // renders take 2 s: time to find and kill the holder
      try {
        const hook = await cluster.revalidate({ tags: ['news'] }, { via: cluster.instances[0].url })
        assert.equal(hook.status, 200, hook.body)
        const started = Date.now()
        const answers = cluster.instances.map((inst) =>
          getPage(`${inst.url}/news`).then(
            (page) => ({ inst, page }),
            (err) => ({ inst, err }),
          ),
        )
        // The holder: the pid in the token of the page's lease.
        let holder = null
        for (let i = 0; i < 40 && !holder; i++) {
          await sleep(50)
          const keys = (await redisCommand(cluster.redisUrl, 'KEYS', 'shared-isr:l:p:*')).map(String)
          for (const k of keys) {
            const pid = Number(String(await redisCommand(cluster.redisUrl, 'GET', k)).split(':')[1])
            holder = cluster.instances.find((inst) => listenerPid(inst.port) === pid) ?? holder
          }
        }
        assert.ok(holder, 'a lease was taken')
        await cluster.stopInstance(holder)
        const survivors = (await Promise.all(answers)).filter(({ inst }) => inst !== holder)
        const ms = Date.now() - started
        t.diagnostic(`holder ${holder.name} killed; the others answered in ${ms} ms`)
        for (const { inst, page, err } of survivors) {
          assert.ok(!err, `${inst.name}: ${err?.message}`)
          assert.equal(page.status, 200, `${inst.name} answered ${page.status}`)
        }
        assert.ok(ms < 3000 + 2000 + 3000, `bounded: ${ms} ms`)
        for (const { inst } of survivors) await until(inst, rev, 15_000)
      } finally {
        cluster.setCmsDelay(0)
      }
    })
  })
