'use strict'
// The ops CLI against the example app: three `next start` instances of one build behind the
// balancer, registered in the fleet by their heartbeat. `npx shared-isr status` lists them with
// their build, `inspect` shows what they serve, `revalidate` makes all of them serve new content,
// `purge --old-builds` removes exactly an old build's entries and no other key, `doctor` passes.
//
// Runs on the newest selected Next major only (the CLI does not depend on the version).
const { describe } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, getPage, cmsWithRev, redisCommand, sleep, DEFAULT_HANDLER } = require('../../scripts/e2e/harness')
const { useCluster, warm, newRev, assertAllNew, describeSeen } = require('./helpers')
const { runCli } = require('../helpers/cli')

const version = e2eVersions().at(-1)

const cli = (cluster, args) => runCli([...args, '--json'], { SHARED_ISR_REDIS_URL: cluster.redisUrl })

/** Every key in the Redis, sorted. */
async function allKeys(cluster) {
  return (await redisCommand(cluster.redisUrl, 'KEYS', '*')).map(String).sort()
}

describe(`next ${version}: the ops CLI against 3 instances of the example app`, () => {
  const step = useCluster({
    version,
    instances: 3,
    useSharedIsr: true,
    redis: true,
    handler: DEFAULT_HANDLER,
    env: { SHARED_ISR_HEARTBEAT_SECONDS: '0.5' },
  })
  let buildId

  step('status lists every instance with the build it serves', async (cluster, t) => {
    for (const inst of cluster.instances) await warm(inst, '/posts/redis-notes')
    await sleep(1500) // a few heartbeats
    const s = await cli(cluster, ['status'])
    assert.equal(s.code, 0, s.err)
    t.diagnostic(JSON.stringify(s.json.fleet))
    assert.equal(s.json.fleet.instances, 3)
    assert.equal(s.json.fleet.builds.length, 1, `one build: ${s.json.fleet.builds}`)
    buildId = s.json.fleet.builds[0]
    for (const i of s.json.instances) {
      assert.equal(i.status, 'ok')
      assert.match(i.next ?? '', new RegExp(`^${version}\\.`), 'the Next version of the app')
      assert.deepEqual(i.builds, [buildId])
    }
    assert.ok(s.json.fleet.gets > 0)
  })

  step('inspect shows what they serve; revalidate from the CLI makes every instance serve new content', async (cluster, t) => {
    const before = await cli(cluster, ['inspect', '/posts/redis-notes'])
    assert.equal(before.code, 0, before.err)
    const entry = before.json.entries.find((e) => e.build === buildId)
    assert.ok(entry, `${JSON.stringify(before.json)}; keys: ${(await allKeys(cluster)).filter((k) => k.includes('redis-notes'))}`)
    assert.equal(entry.freshness, 'fresh')
    assert.equal(entry.buildLive, true)
    assert.ok(entry.tags.includes('post:redis-notes'), entry.tags.join(','))

    for (const inst of cluster.instances) await warm(inst, '/posts/redis-notes')
    const rev = newRev('cli')
    cluster.setCms(cmsWithRev(rev))
    const r = await cli(cluster, ['revalidate', '--tag', 'post:redis-notes'])
    assert.equal(r.code, 0, r.err)
    await sleep(300)
    const seen = []
    for (const inst of cluster.instances) seen.push({ inst, page: await getPage(`${inst.url}/posts/redis-notes`) })
    t.diagnostic(describeSeen(seen))
    assertAllNew(seen, rev)
    // By its key as listed (Next 16 keys a route's cache by kind and hash).
    const after = await cli(cluster, ['inspect', entry.key])
    assert.equal(after.json.entries[0].freshness, 'fresh', 'regenerated once, fresh again')
    assert.ok(Date.parse(after.json.entries[0].lastModified) > Date.parse(entry.lastModified))
  })

  step("purge --old-builds removes exactly an old build's entries, nothing else", async (cluster) => {
    // Entries of a build no instance serves, as an earlier deployment would have left them.
    const old = `old-${Date.now()}`
    const envelopeOf = async (key) => redisCommand(cluster.redisUrl, 'GET', key)
    const live = (await allKeys(cluster)).filter((k) => k.startsWith(`shared-isr:e:p:${buildId}:`))
    assert.ok(live.length > 0)
    for (const k of live.slice(0, 5)) {
      const bytes = await envelopeOf(k)
      await redisCommand(cluster.redisUrl, 'SET', k.replace(`:p:${buildId}:`, `:p:${old}:`), bytes)
    }
    const before = await allKeys(cluster)
    const b = await cli(cluster, ['builds'])
    assert.deepEqual(
      b.json.builds.map((x) => [x.id, x.live]).sort(),
      [
        [buildId, true],
        [old, false],
      ].sort(),
    )
    const p = await cli(cluster, ['purge', '--old-builds'])
    assert.equal(p.code, 0, p.err)
    assert.equal(p.json.deleted, Math.min(5, live.length))
    const after = await allKeys(cluster)
    const removed = before.filter((k) => !after.includes(k))
    assert.deepEqual(
      removed,
      before.filter((k) => k.includes(`:p:${old}:`)),
      'exactly the old build',
    )
    // Every other key is still there (instances may have added some meanwhile).
    for (const k of before.filter((k) => !k.includes(`:p:${old}:`))) assert.ok(after.includes(k) || k.includes(':i:'), `lost ${k}`)
  })

  step('doctor passes on this deployment', async (cluster) => {
    const d = await cli(cluster, ['doctor'])
    assert.equal(d.code, 0, JSON.stringify(d.json?.checks ?? d.err))
  })
})
