'use strict'
// The problem shared-isr solves, shown on real Next.js: with Next's DEFAULT cache, three
// instances behind a load balancer each keep their own ISR cache, so a CMS webhook that reaches
// one of them leaves the others serving old content.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, cmsWithRev, sleep } = require('../../scripts/e2e/harness')
const { useCluster, warm, newRev, describeSeen } = require('./helpers')
const { afterPeriod, pollUntilRev, assertStaleAnswer, brief } = require('./timed')

const PAGE = '/posts/hello-world' // App Router ISR page, revalidate = 3600, data tagged 'posts'

for (const version of e2eVersions()) {
  describe(`next ${version}, Next's default cache, 3 instances`, () => {
    const step = useCluster({ version, instances: 3, useSharedIsr: false, redis: false })

    step('revalidateTag through the balancer refreshes one instance; the others stay stale', async (cluster, t) => {
      // Every instance holds the page in its own cache first.
      const before = []
      for (const inst of cluster.instances) before.push((await warm(inst, PAGE)).markers.rev)

      const rev = newRev('default')
      cluster.setCms(cmsWithRev(rev))
      const hook = await cluster.revalidate({ tags: ['posts'] })
      assert.equal(hook.status, 200, hook.body)
      const receiver = hook.headers['x-e2e-upstream']
      assert.equal(JSON.parse(hook.body).instance, receiver)

      // Ask each instance directly. revalidate = 3600, so nothing but the webhook can refresh.
      const seen = []
      for (const inst of cluster.instances) seen.push({ inst, page: await getPage(inst.url + PAGE) })
      t.diagnostic(`webhook reached ${receiver}; first request after it: ${describeSeen(seen)}`)

      // The webhook did work where it landed (Next 16 may finish recording it just after
      // answering the webhook, hence a short wait).
      const recv = cluster.instances.find((i) => i.name === receiver)
      let page = seen.find((s) => s.inst === recv).page
      for (let i = 0; i < 20 && page.markers.rev !== rev; i++) {
        await sleep(250)
        page = await getPage(recv.url + PAGE)
      }
      assert.equal(page.status, 200)
      assert.equal(page.markers.rev, rev, `${receiver} (received the webhook) should serve the new content`)
      assert.equal(page.markers.content, `Hello world [${rev}]`)

      // ...and nowhere else: the others still serve what they had before.
      const stale = seen.filter(({ inst }) => inst !== recv)
      assert.ok(stale.length >= 1)
      stale.forEach(({ inst, page: p }) => {
        const i = cluster.instances.indexOf(inst)
        assert.equal(p.status, 200)
        assert.equal(p.markers.rev, before[i], `${inst.name} was expected to still serve its old copy`)
        assert.notEqual(p.markers.rev, rev)
      })
    })

    // vercel/next.js#58137, seen on 14.2.35 and 15.5.29: after revalidateTag, Next's own cache
    // answers 404 for a prerendered dynamicParams=false page on the instance that received the
    // webhook, and keeps doing so. Fixed in 16.4. Pinned here so a Next upgrade that changes it
    // is noticed (and because the shared-isr tests must never see it).
    step('closed route after revalidateTag on the receiving instance (404 before Next 16)', async (cluster, t) => {
      const closed = '/products/mug'
      const inst = cluster.instances[0]
      await warm(inst, closed)
      const rev = newRev('closed')
      cluster.setCms(cmsWithRev(rev))
      const hook = await cluster.revalidate({ tags: ['products'] }, { via: inst.url })
      assert.equal(hook.status, 200, hook.body)
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await getPage(inst.url + closed)).status)
      t.diagnostic(`next ${cluster.nextVersion}: ${closed} after revalidateTag on the same instance: ${statuses.join(', ')}`)
      const expected = Number(version) >= 16 ? 200 : 404
      assert.deepEqual(statuses, [expected, expected, expected])
    })

    // Time-based revalidation with per-instance caches: every instance serves the stale page
    // and regenerates it on its own, even after another instance already has the new content
    // (three renders where shared-isr does one).
    step('time-based: every instance serves the stale page once and regenerates it itself', async (cluster, t) => {
      await afterPeriod(cluster, 'timed-default', async (p, rev, oldRevs) => {
        const lines = []
        const renders = new Set()
        for (const inst of cluster.instances) {
          const t0 = Date.now()
          const page = await getPage(inst.url + p)
          assertStaleAnswer(inst, p, page, oldRevs[inst.name])
          const { answers, last } = await pollUntilRev(inst, p, rev)
          assert.equal(last.markers.rev, rev, `${inst.name} ${p} still serves ${brief(last)}`)
          assert.equal(last.markers.instance, inst.name, `${inst.name} ${p}: ${brief(last)}`)
          renders.add(last.markers['rendered-at'])
          lines.push(`${inst.name}: STALE ${answers.length}x, then ${brief(last)} after ${Date.now() - t0} ms`)
        }
        t.diagnostic(`${p}: ${lines.join('; ')}`)
        assert.equal(renders.size, cluster.instances.length, `${p}: expected one regeneration per instance`)
      })
    })
  })
}
