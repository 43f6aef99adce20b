'use strict'
// Outgrowing one Redis (issue #7): the same handler on a 3-primary Redis Cluster (6
// redis-server processes) and on a Sentinel-managed primary (1 primary, 1 replica, 3
// sentinels), from the connection URL alone. Every test starts its own servers.

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { aclLine, uniquePrefix, assertLossless, captureConsole, runNode } = require('./helpers/common')
const { loadLib, LIB } = require('./helpers/suite')
const { versions, fetchKey } = require('./helpers/values')
const { startInstance } = require('./helpers/instances')
const { startCluster, startSentinel } = require('./helpers/redis-topologies')
const { monitored } = require('./helpers/redis')
const { getStore } = require('../lib/store')
const { pageKey } = require('../lib/keys')
const { decodeValue } = require('../lib/codec')

const api = loadLib()

const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 3600, expire: 7200 } }
const route = (body, tag) => ({ kind: 'APP_ROUTE', body: Buffer.from(body), status: 200, headers: { 'x-next-cache-tags': tag } })
const body = (hit) => hit?.value?.body?.toString()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function eventually(what, fn, timeoutMs = 10_000) {
  const t0 = Date.now()
  let last
  for (let tries = 1; ; tries++) {
    last = await fn()
    if (last.ok) return { ...last, ms: Date.now() - t0, tries }
    if (Date.now() - t0 > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
    await sleep(50)
  }
}

const TOPOLOGIES = {
  cluster: () => startCluster({ primaries: 3, replicasPerPrimary: 1 }),
  sentinel: () => startSentinel({ serviceName: 'shared-isr' }),
}

for (const [name, start] of Object.entries(TOPOLOGIES)) {
  describe(`Redis ${name}`, () => {
    let topo
    const workers = []
    before(async () => {
      topo = await start()
    })
    after(async () => {
      await api.close()
      await Promise.all(workers.map((w) => w.stop()))
      await topo?.stop()
    })
    const options = (extra = {}) => ({ redisUrl: topo.url, prefix: uniquePrefix(name), buildId: 'b1', timeoutMs: 1000, ...extra })
    async function instances(n, opts) {
      const list = await Promise.all(Array.from({ length: n }, () => startInstance(opts, {})))
      workers.push(...list)
      return list
    }

    test('every kind of every Next version comes back lossless', async () => {
      const Handler = api.createHandler(options())
      let n = 0
      for (const [version, v] of Object.entries(versions())) {
        for (const [kind, sample] of Object.entries(v.values)) {
          const fetch = sample.value?.kind === 'FETCH'
          const key = fetch ? fetchKey(`${version}-${kind}`) : `/lossless/${version}/${encodeURIComponent(kind)}`
          const [getCtx, setCtx] = fetch
            ? [version === '14.2' ? v.getCtx.fetch(['t']) : v.getCtx.FETCH(['t']), v.setCtx.fetch(['t'])]
            : [v.getCtx[sample.ctx], version === '14.2' ? v.setCtx.page(60) : v.setCtx.page(60, 3600)]
          await new Handler({}).set(key, sample.value, setCtx)
          const hit = await new Handler({}).get(key, getCtx)
          assert.ok(hit, `${version} ${kind}: hit`)
          if (sample.value === null) assert.equal(hit.value, null)
          else assertLossless(hit.value, sample.value)
          n++
        }
      }
      assert.ok(n > 10, `${n} values`)
      const s = api.stats(options())
      assert.equal(s.setErrors, 0)
      assert.equal(s.getErrors, 0)
    })

    test('a revalidation and a rewrite on one instance reach the others (L1 on, entries and manifest on different nodes)', async (t) => {
      const opts = options()
      const [a, b, c] = await instances(3, opts)
      const lag = { rewrite: [], revalidate: [] } // per reader: { ms, tries } until its first new answer
      for (let i = 0; i < 20; i++) {
        const key = `/multi/${i}`
        await a.set(key, route(`v${i}`, `m-${i}`), SET)
        for (const r of [b, c]) assert.equal(body(await r.get(key, CTX)), `v${i}`)
        for (const r of [b, c]) assert.equal(body(await r.get(key, CTX)), `v${i}`) // L1
        if (i % 2) {
          await b.set(key, route(`v${i}-new`, `m-${i}`), SET)
          for (const r of [a, c]) {
            lag.rewrite.push(
              await eventually(
                `${key} rewritten on b, seen by the others`,
                async () => ({ ok: body(await r.get(key, CTX)) === `v${i}-new` }),
                2000,
              ),
            )
          }
        } else {
          await c.revalidateTag([`m-${i}`])
          // L1 copies are dropped by the epoch's push: a few ms at most (default mode).
          for (const r of [a, b]) {
            lag.revalidate.push(
              await eventually(
                `${key} revalidated on c, a miss on the others`,
                async () => ({ ok: (await r.get(key, CTX)) === null }),
                1000,
              ),
            )
          }
        }
      }
      const stats = await Promise.all([a, b, c].map((w) => w.call('stats')))
      const late = (l) =>
        `old on the first read ${l.filter((x) => x.tries > 1).length} of ${l.length} times, new after at most ${Math.max(...l.map((x) => x.ms))} ms`
      t.diagnostic(
        `first read on another instance after the change returned: rewrite ${late(lag.rewrite)}; revalidateTag ${late(lag.revalidate)}`,
      )
      t.diagnostic(`L1 hits: ${stats.map((s) => s.l1Hits).join(', ')}; get errors: ${stats.map((s) => s.getErrors).join(', ')}`)
      assert.ok(stats[1].l1Hits > 0 && stats[2].l1Hits > 0, 'readers were served from their L1')
      for (const s of stats) assert.equal(s.getErrors + s.setErrors + s.revalidationErrors, 0)
    })

    test('concurrent writes of one key: afterwards every instance serves the one stored value', async () => {
      const opts = options()
      const insts = await instances(3, opts)
      const [truth] = await instances(1, { ...opts, l1MaxBytes: 0 })
      for (let i = 0; i < 60; i++) {
        const key = `/race/${i % 5}`
        await Promise.all(insts.map((w, k) => w.set(key, route(`r${i}-w${k}`, 'race'), SET)))
        await sleep(30)
        const stored = body(await truth.get(key, CTX))
        const served = await Promise.all(insts.map((x) => x.get(key, CTX).then(body)))
        assert.deepEqual(served, [stored, stored, stored], `round ${i}: Redis holds ${stored}`)
      }
    })

    test('a process that used it exits on its own without close(), and so does one whose servers are all down', async () => {
      const script = (url) => `
        const api = require(${JSON.stringify(LIB)})
        const H = api.createHandler({ redisUrl: ${JSON.stringify(url)}, prefix: 'exit:', timeoutMs: 300, connectTimeoutMs: 300 })
        ;(async () => {
          const h = new H({})
          await h.set('/a', { kind: 'APP_ROUTE', body: Buffer.from('x'), status: 200, headers: {} }, { revalidate: 60 })
          console.log('get', (await h.get('/a', { kind: 'APP_ROUTE' }))?.value?.body?.toString() ?? null)
          await h.revalidateTag('t').then(() => console.log('revalidated'), (e) => console.log('rejected', e.code))
        })()
      `
      const up = await runNode(script(topo.url))
      assert.equal(up.signal, null, `killed after ${up.ms} ms\n${up.out}`)
      assert.match(up.out, /get x\nrevalidated/)
      const closed = name === 'cluster' ? 'redis+cluster://127.0.0.1:1,127.0.0.1:2' : 'redis+sentinel://127.0.0.1:1,127.0.0.1:2/nobody'
      const down = await runNode(script(closed))
      assert.equal(down.signal, null, `killed after ${down.ms} ms\n${down.out}`)
      assert.match(down.out, /get null\nrejected ERR_SHARED_ISR_(UNAVAILABLE|TIMEOUT)/)
    })

    test('an ACL user limited to its prefix with the documented line is enough', async () => {
      const prefix = uniquePrefix(`acl-${name}`)
      // docs/operations.md: the Cluster client reads the slot map and follows ASK; the Sentinel
      // client checks the role of the primary it is given. Without these: NOPERM.
      const extra = name === 'cluster' ? ['+cluster|slots', '+asking'] : ['+role']
      // Replicas get the user too: after a failover they are the primaries.
      for (const p of topo.ports) await topo.cmd(p, ...aclLine('app', 'acl-secret', prefix, extra))
      const url = topo.url.replace(/^(redis\+\w+):\/\//, '$1://app:acl-secret@')
      const opts = { ...options(), redisUrl: url, prefix }
      const Handler = api.createHandler(opts)
      await new Handler({}).set('/acl', route('ok', 'acl'), SET)
      assert.equal(body(await new Handler({}).get('/acl', CTX)), 'ok')
      await new Handler({}).revalidateTag(['acl'])
      assert.equal(await new Handler({}).get('/acl', CTX), null)
      // The background checks (epoch, and on a Cluster every primary's connection id) pass
      // too: a copy read now is still served from the L1 after several of them.
      await new Handler({}).set('/acl-l1', route('kept', 'acl-l1'), SET)
      assert.equal(body(await new Handler({}).get('/acl-l1', CTX)), 'kept')
      await sleep(800)
      const hits = api.stats(opts).l1Hits
      assert.equal(body(await new Handler({}).get('/acl-l1', CTX)), 'kept')
      assert.equal(api.stats(opts).l1Hits, hits + 1, 'served from the L1 after 800 ms of background checks')
      const s = api.stats(opts)
      assert.deepEqual([s.setErrors, s.getErrors, s.revalidationErrors], [0, 0, 0], 'no command was refused')
    })

    test('the ops CLI, the fleet and the regeneration lease on this topology', async () => {
      const { runCli } = require('./helpers/cli')
      const opts = options({ heartbeatSeconds: 0.2 })
      const [a, b] = await instances(2, opts)
      await a.set('/ops/1', route('o1', 'ops'), SET)
      for (let i = 0; i < 40; i++) await a.set(`/ops/many/${i}`, route(`m${i}`, 'ops'), SET)
      assert.equal(body(await b.get('/ops/1', CTX)), 'o1')
      await sleep(700) // heartbeats
      const cli = (args) => runCli([...args, '--json'], { SHARED_ISR_REDIS_URL: topo.url, SHARED_ISR_PREFIX: opts.prefix })
      const status = await cli(['status'])
      assert.equal(status.code, 0, status.err)
      assert.equal(status.json.fleet.instances, 2)
      assert.deepEqual(status.json.fleet.builds, ['b1'])
      if (name === 'cluster') assert.equal(status.json.redis.primaries, 3)
      // SCAN over every primary: all 41 entries, whichever node holds them.
      const builds = await cli(['builds'])
      assert.equal(builds.code, 0, builds.err)
      assert.deepEqual(
        builds.json.builds.map((x) => [x.id, x.entries, x.live]),
        [['b1', 41, true]],
      )
      const inspect = await cli(['inspect', '/ops/1'])
      assert.equal(inspect.json.entries[0].freshness, 'fresh')
      const doctor = await cli(['doctor'])
      assert.equal(doctor.code, 0, JSON.stringify(doctor.json?.checks))
      // Leases: after a revalidation one instance renders, the other waits for its entry.
      await a.revalidateTag(['ops'])
      const reads = [a.get('/ops/1', CTX), b.get('/ops/1', CTX)]
      const first = await Promise.race(reads.map((p, n) => p.then((hit) => ({ hit, n }))))
      assert.equal(first.hit, null, 'the holder renders')
      await [a, b][first.n].set('/ops/1', route('o2', 'ops'), SET)
      const answers = await Promise.all(reads)
      assert.equal(body(answers[1 - first.n]), 'o2', 'the other one served the holder entry')
      // The race behind that: a waiter's lease request landing after the holder stored and
      // released. A take for a write no longer stored holds nothing (on a Cluster the lease and
      // the entry live in different slots: checked after the take, not in one script).
      const s = getStore(opts)
      const key = pageKey('b1', '/ops/1')
      const read = await s.read(key, undefined, decodeValue)
      assert.equal(body(read), 'o2')
      await a.set('/ops/1', route('o3', 'ops'), SET)
      assert.deepEqual(await s.leases.take(key, { writeId: read.writeId }), { state: 'newer' }, 'replaced since read: not taken')
      const now = await s.reread(key, undefined, decodeValue)
      assert.equal(body(now), 'o3')
      assert.deepEqual(await s.leases.take(key, { writeId: now.writeId }), { state: 'render' }, 'the stored write: taken')
    })

    if (name === 'cluster') {
      test('entries spread over every primary; the manifest lives in one slot', async (t) => {
        const opts = options()
        const Handler = api.createHandler(opts)
        for (let i = 0; i < 300; i++) await new Handler({}).set(`/spread/${i}`, route(`s${i}`, `spread-${i % 7}`), SET)
        await new Handler({}).revalidateTag(['spread-1'])
        const primaries = topo.primaries
        const counts = await Promise.all(primaries.map((p) => topo.cmd(p, 'DBSIZE')))
        t.diagnostic(`keys per primary after 300 entries: ${counts.join(', ')}`)
        for (const c of counts) assert.ok(Number(c) >= 50, `every primary holds entries: ${counts}`)
        const prefix = opts.prefix
        const metaSlots = new Set()
        for (const k of ['stale', 'expired', 'log', 'epoch', 'born']) {
          metaSlots.add(String(await topo.cmd(primaries[0], 'CLUSTER', 'KEYSLOT', `${prefix}{${prefix}}:${k}`)))
        }
        assert.equal(metaSlots.size, 1, 'manifest keys share one slot (scripts need that)')
      })

      test('reads spread over the primaries: the manifest node sees no per-read traffic while the feed is healthy', async (t) => {
        // The manifest node also sees background traffic: the epoch check every maxStalenessMs / 4
        // and the heartbeat. At the longest bound (1 h: no check due during the test, and no
        // silence long enough to end the feed's trust) and without heartbeats, whatever reaches
        // the manifest keys while the reads run is per-read, however slow the machine. Counted
        // by key on the node, so other tests' instances sharing the node do not count.
        const opts = options({ maxStalenessMs: 3_600_000, heartbeatSeconds: 0 })
        const [writer, reader] = await instances(2, opts)
        const keys = Array.from({ length: 300 }, (_, i) => `/hot/${i}`)
        for (const k of [...keys, '/hot/connect']) await writer.set(k, route(k, 'hot'), SET)
        // Connects (the feed becomes trusted) without reading any of the measured keys; then
        // the check made at connect completes.
        assert.equal(body(await reader.get('/hot/connect', CTX)), '/hot/connect')
        await sleep(300)
        const manifestSlot = `{${opts.prefix}}`
        const metaNode = await topo.primaryFor(`${opts.prefix}${manifestSlot}:epoch`)
        const entriesOn = topo.primaries.map(() => 0)
        for (const k of keys) entriesOn[topo.primaries.indexOf(await topo.primaryFor(`${opts.prefix}e:p:b1:${k}`))]++
        const gets = async () =>
          Promise.all(
            topo.primaries.map(async (p) => Number(/cmdstat_get:calls=(\d+)/.exec(await topo.cmd(p, 'INFO', 'commandstats'))?.[1] ?? 0)),
          )
        const before = await gets()
        const { result: ms, lines } = await monitored(metaNode, async () => {
          const t0 = Date.now()
          for (const k of keys) assert.equal(body(await reader.get(k, CTX)), k) // none in the reader's L1: all from Redis
          return Date.now() - t0
        })
        const after = await gets()
        const delta = after.map((n, i) => n - before[i])
        const entriesOnMeta = entriesOn[topo.primaries.indexOf(metaNode)]
        const entryGets = lines.filter((l) => l.includes(`"GET" "${opts.prefix}e:p:b1:/hot/`)).length
        const manifest = lines.filter((l) => l.includes(manifestSlot))
        t.diagnostic(
          `GETs per primary for 300 reads from Redis: ${delta.join(', ')} (entries there: ${entriesOn.join(', ')}); on the manifest node ${entryGets} reads of its ${entriesOnMeta} entries and ${manifest.length} commands on the manifest keys (${ms} ms)`,
        )
        assert.equal(manifest.length, 0, `reads reached the manifest keys while the feed was trusted:\n${manifest.slice(0, 5).join('\n')}`)
        assert.equal(entryGets, entriesOnMeta, 'each entry on the manifest node was read there, once')
        for (const [i, n] of entriesOn.entries())
          assert.ok(delta[i] >= n, `primary ${topo.primaries[i]}: ${delta[i]} GETs for its ${n} entries`)
        assert.ok(delta.reduce((a, b) => a + b, 0) >= 300, 'every read reached its entry node')
      })

      test('slot migration of an entry and of the manifest (MOVED, ASK): reads, writes and revalidations follow', async (t) => {
        const opts = options()
        const [a, b] = await instances(2, opts)
        const key = '/migrating'
        const entryKey = `${opts.prefix}e:p:b1:${key}`
        const metaKey = `${opts.prefix}{${opts.prefix}}:epoch`
        await a.set(key, route('before', 'mig'), SET)
        assert.equal(body(await b.get(key, CTX)), 'before')
        assert.equal(body(await b.get(key, CTX)), 'before') // now in b's L1, tracked on the old node
        const target = async (k) => {
          const from = await topo.primaryFor(k)
          return topo.primaries.find((p) => p !== from)
        }
        const moved = await topo.migrateSlot(entryKey, await target(entryKey), async () => {
          // Half-moved: the key answers with ASK on the old node.
          assert.equal(body(await a.get(key, CTX)), 'before', 'read during the migration')
        })
        // After the move, the next write by a lands on the new node and b is told about it.
        await a.set(key, route('after', 'mig'), SET)
        const seen = await eventually(
          'b serves the write made after the migration',
          async () => ({ ok: body(await b.get(key, CTX)) === 'after' }),
          3000,
        )
        await a.revalidateTag(['unrelated']) // the manifest keys exist before they move
        const movedMeta = await topo.migrateSlot(metaKey, await target(metaKey))
        assert.ok(movedMeta.keys >= 4, `manifest keys moved: ${movedMeta.keys}`)
        await b.revalidateTag(['mig'])
        await eventually('a revalidation after the manifest moved reaches a', async () => ({ ok: (await a.get(key, CTX)) === null }), 3000)
        const stats = await Promise.all([a, b].map((w) => w.call('stats')))
        t.diagnostic(
          `entry slot ${JSON.stringify(moved)}, manifest slot ${JSON.stringify(movedMeta)}; b saw the new write after ${seen.ms} ms; store errors: ${stats.map((s) => s.getErrors + s.setErrors + s.revalidationErrors).join(', ')}`,
        )
        for (const s of stats) assert.equal(s.setErrors + s.revalidationErrors, 0, 'no write or revalidation was lost to the migration')
      })

      test('a wrong password is a clear error without the secret', async () => {
        // A user with a password on every node; the URL gives the wrong one.
        for (const p of topo.ports) await topo.cmd(p, 'ACL', 'SETUSER', 'app', 'on', '>right-password', '~*', '&*', '+@all')
        const cap = captureConsole()
        try {
          const url = topo.url.replace('redis+cluster://', 'redis+cluster://app:hunter2-secret@')
          const Handler = api.createHandler({ ...options(), redisUrl: url })
          const h = new Handler({})
          assert.equal(await h.get('/x', CTX), null, 'reads are misses, never errors')
          await assert.rejects(h.revalidateTag(['x']), (err) => {
            assert.match(err.code, /^ERR_SHARED_ISR_/)
            assert.doesNotMatch(err.message, /hunter2/)
            return true
          })
          assert.doesNotMatch(cap.all().join('\n'), /hunter2/)
        } finally {
          cap.restore()
        }
      })

      test('a primary that freezes (no reset, no push): its keys stop being served from copies, and the write made after the failover is seen', async (t) => {
        const opts = options({ timeoutMs: 500 })
        const [a, b] = await instances(2, opts)
        const entry = (k) => `${opts.prefix}e:p:b1:${k}`
        const metaNode = await topo.primaryFor(`${opts.prefix}{${opts.prefix}}:epoch`)
        let key = null
        for (let i = 0; key === null; i++) if ((await topo.primaryFor(entry(`/freeze/${i}`))) !== metaNode) key = `/freeze/${i}`
        const frozen = await topo.primaryFor(entry(key))
        const other = topo.primaries.find((p) => p !== frozen)
        await b.set(key, route('old', 'frz'), SET)
        assert.equal(body(await a.get(key, CTX)), 'old')
        assert.equal(body(await a.get(key, CTX)), 'old')
        const hitsBefore = (await a.call('stats')).l1Hits
        assert.equal(body(await a.get(key, CTX)), 'old')
        assert.equal((await a.call('stats')).l1Hits, hitsBefore + 1, 'a serves its copy from the L1')

        const server = topo.servers[topo.ports.indexOf(frozen)]
        server.proc.kill('SIGSTOP') // no FIN, no RST: a hung host
        const resume = () => server.proc?.kill('SIGCONT')
        t.after(resume)
        const _t0 = Date.now()
        const slotOwner = async () => {
          const slot = Number(await topo.cmd(other, 'CLUSTER', 'KEYSLOT', entry(key)))
          for (const [from, to, [, port]] of await topo.cmd(other, 'CLUSTER', 'SLOTS'))
            if (slot >= Number(from) && slot <= Number(to)) return Number(port)
        }
        const promoted = await eventually(
          "a replica takes over the frozen primary's slots",
          async () => {
            const owner = await slotOwner()
            return { ok: owner !== frozen, owner }
          },
          20_000,
        )
        // The write lands on the new primary (b learns the new slot map on its own).
        const fromRedis = api.createHandler({ ...opts, l1MaxBytes: 0 })
        const landed = await eventually(
          "b's write lands on the new primary",
          async () => {
            await b.set(key, route('new', 'frz'), SET)
            const got = body(await new fromRedis({}).get(key, CTX))
            return { ok: got === 'new', got, b: await b.call('stats'), direct: api.stats({ ...opts, l1MaxBytes: 0 }) }
          },
          10_000,
        )
        const seen = await eventually(
          'a serves the new value',
          async () => {
            const v = body(await a.get(key, CTX))
            return { ok: v === 'new', v }
          },
          3000,
        )
        t.diagnostic(
          `primary ${frozen} frozen; replica ${promoted.owner} serving its slots after ${promoted.ms} ms; b's write landed ${landed.ms} ms later; a served it ${seen.ms} ms after that (${seen.tries} read(s))`,
        )
        resume()
        // The old primary rejoins as a replica; the next tests start from a healthy cluster.
        await eventually(
          'cluster healthy again',
          async () => {
            for (const p of topo.ports) if (!/cluster_state:ok/.test(await topo.cmd(p, 'CLUSTER', 'INFO'))) return { ok: false, p }
            return { ok: /role:slave/.test(await topo.cmd(frozen, 'INFO', 'replication')) }
          },
          20_000,
        )
      })
    }

    test('a primary failover under load: no handler call rejects; writes resume and a revalidation after it reaches the other instance', async (t) => {
      const opts = options({ timeoutMs: 500 })
      const [w1, w2] = await instances(2, opts)
      const keys = Array.from({ length: 12 }, (_, i) => `/fo/${i}`)
      for (const k of keys) await w1.set(k, route(`${k}@0`, 'fo'), SET)
      let stop = false
      let rejected = 0
      let ops = 0
      const loop = async (w, k0) => {
        for (let i = 0; !stop; i++) {
          const k = keys[(k0 + i) % keys.length]
          try {
            if (i % 4 === 0) await w.set(k, route(`${k}@${i}`, 'fo'), SET)
            else await w.get(k, CTX)
            ops++
          } catch (err) {
            rejected++
            t.diagnostic(`handler call rejected: ${err.code} ${err.message}`)
          }
        }
      }
      const loops = [loop(w1, 0), loop(w1, 5), loop(w2, 3), loop(w2, 8)]
      t.after(async () => {
        stop = true
        await Promise.all(loops)
      })
      await sleep(500)
      // Checked on a key the load does not touch, on the primary that fails over.
      const probe = '/fo-probe'
      const t0 = Date.now()
      const moved = name === 'cluster' ? await topo.failover(await topo.primaryFor(`${opts.prefix}e:p:b1:${probe}`)) : await topo.failover()
      const failoverMs = Date.now() - t0
      // Writes land again: a value written on one instance is read back on the other.
      const resumed = await eventually(
        'writes resume after the failover',
        async () => {
          const v = `after-${Date.now()}`
          await w1.set(probe, route(v, 'fo-probe'), SET)
          return { ok: body(await w2.get(probe, CTX)) === v }
        },
        15_000,
      )
      // A revalidation after the failover succeeds and reaches the other instance.
      const reval = await eventually(
        'revalidateTag succeeds after the failover',
        async () => {
          try {
            await w1.revalidateTag(['fo-probe'])
            return { ok: true }
          } catch (err) {
            return { ok: false, err: err.code }
          }
        },
        15_000,
      )
      await eventually('the revalidation reaches the other instance', async () => ({ ok: (await w2.get(probe, CTX)) === null }), 1000)
      stop = true
      await Promise.all(loops)
      const stats = await Promise.all([w1, w2].map((w) => w.call('stats')))
      t.diagnostic(
        `${name} failover ${JSON.stringify(moved)} took ${failoverMs} ms; writes resumed ${resumed.ms} ms later, revalidateTag ${reval.ms} ms after that; ` +
          `${ops} handler calls under load, ${rejected} rejected; store errors (answered as misses / dropped writes): ` +
          stats.map((s) => `get ${s.getErrors} set ${s.setErrors}`).join('; '),
      )
      assert.equal(rejected, 0, 'handler get/set never reject')
      assert.ok(ops > 100, `load ran (${ops} calls)`)
    })
  })
}

// TLS with a CA file on both topologies: the client checks every node's certificate (and the
// sentinels'); a CA that did not sign them is refused with a clear error, never a throw on get.
const TLS_TOPOLOGIES = {
  'Cluster over TLS (rediss+cluster://, CA file, TLS cluster bus)': (tls) => startCluster({ primaries: 3, replicasPerPrimary: 1, tls }),
  'Sentinel over TLS (rediss+sentinel://, CA file, TLS replication and sentinel links)': (tls) =>
    startSentinel({ serviceName: 'shared-isr-tls', tls }),
}

for (const [name, start] of Object.entries(TLS_TOPOLOGIES)) {
  describe(`Redis ${name}`, () => {
    const fs = require('node:fs')
    const os = require('node:os')
    const path = require('node:path')
    const certs = require('./helpers/certs')
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-tls-topology-'))
    const f = (x) => path.join(dir, x)
    let topo
    before(async () => {
      certs.makeCa(dir, 'ca')
      certs.makeCert(dir, 'node', 'ca', 'IP:127.0.0.1,DNS:localhost') // nodes announce 127.0.0.1
      topo = await start({ cert: f('node.crt'), key: f('node.key'), ca: f('ca.crt') })
    })
    after(async () => {
      await api.close()
      await topo?.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    })

    test('entries and revalidations work over TLS; a wrong CA is refused with a clear error', async () => {
      assert.match(topo.url, /^rediss\+/)
      const opts = {
        redisUrl: topo.url,
        tlsCaFile: f('ca.crt'),
        prefix: uniquePrefix('tls'),
        buildId: 'b1',
        timeoutMs: 2000,
        connectTimeoutMs: 2000,
      }
      const Handler = api.createHandler(opts)
      const roundTrip = async (round) => {
        for (let i = 0; i < 30; i++) await new Handler({}).set(`/tls/${i}`, route(`${round}${i}`, `tls-${round}-${i % 3}`), SET)
        for (let i = 0; i < 30; i++) assert.equal(body(await new Handler({}).get(`/tls/${i}`, CTX)), `${round}${i}`)
        await new Handler({}).revalidateTag([`tls-${round}-1`])
        let misses = 0
        for (let i = 0; i < 30; i++) if ((await new Handler({}).get(`/tls/${i}`, CTX)) === null) misses++
        assert.equal(misses, 10, `exactly the entries tagged tls-${round}-1`)
      }
      await roundTrip('a')
      if (topo.primaries) {
        const counts = await Promise.all(topo.primaries.map((p) => topo.cmd(p, 'DBSIZE')))
        for (const c of counts) assert.ok(Number(c) > 0, `entries on every primary: ${counts}`)
      } else {
        // Sentinel: the client follows a failover over TLS (new primary found through the
        // sentinels' TLS ports) and the entries were replicated over TLS.
        const { from, to } = await topo.failover()
        assert.notEqual(from, to)
        await eventually('writes reach the new primary', async () => {
          try {
            await new Handler({}).revalidateTag(['after-failover'])
            return { ok: true }
          } catch (err) {
            return { ok: false, err: err.code }
          }
        })
        // Read from Redis (no L1), on a connection made after the failover.
        const fromRedis = api.createHandler({ ...opts, l1MaxBytes: 0 })
        assert.equal(body(await new fromRedis({}).get('/tls/0', CTX)), 'a0', 'replicated over TLS')
        await roundTrip('b')
        assert.ok(Number(await topo.cmd(to, 'DBSIZE')) > 0)
      }
      if (topo.primaries) {
        const s = api.stats(opts)
        assert.deepEqual([s.setErrors, s.getErrors, s.revalidationErrors], [0, 0, 0])
      }

      certs.makeCa(dir, 'other-ca')
      const wrong = api.createHandler({ ...opts, tlsCaFile: f('other-ca.crt'), prefix: uniquePrefix('tlsw') })
      const cap = captureConsole()
      try {
        assert.equal(await new wrong({}).get('/tls/0', CTX), null, 'a miss, not an error')
        await assert.rejects(
          new wrong({}).revalidateTag(['x']),
          (err) => /ERR_SHARED_ISR_(UNAVAILABLE|REDIS)/.test(err.code) && /certificate|tls|handshake|unknown/i.test(err.message),
        )
      } finally {
        cap.restore()
      }
    })
  })
}

describe('topology URLs', () => {
  const configError = (re) => (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && re.test(err.message) && !/hunter2/.test(err.message)
  test('Cluster and Sentinel URLs are checked before anything connects', () => {
    assert.throws(() => api.stats({ redisUrl: 'redis+sentinel://127.0.0.1:26379' }), configError(/service name/))
    assert.throws(() => api.stats({ redisUrl: 'redis+sentinel://127.0.0.1:26379/svc/notadb' }), configError(/database/))
    assert.throws(() => api.stats({ redisUrl: 'redis+cluster://127.0.0.1:7000/2' }), configError(/database 0/))
    assert.throws(() => api.stats({ redisUrl: 'redis+cluster://u:hunter2@' }), configError(/host/))
    assert.throws(() => api.stats({ redisUrl: 'redis+unknown://h:1' }), configError(/redis\+cluster/))
    assert.equal(
      api.stats({ redisUrl: 'redis+cluster://127.0.0.1:1,127.0.0.1:2', prefix: uniquePrefix('u') }).store,
      'redis',
      'nothing is contacted until used',
    )
    // A percent sign before a multi-byte character is kept as written (it once panicked).
    assert.equal(
      api.stats({ redisUrl: 'redis+sentinel://127.0.0.1:1/svc?sentinelPassword=%a\u00e9', prefix: uniquePrefix('u') }).store,
      'redis',
    )
  })

  for (const scheme of ['redis+cluster', 'redis+sentinel']) {
    test(`${scheme}: servers that accept and never answer: concurrent first calls each wait one connect timeout at most, not one per caller ahead of them`, async () => {
      const net = require('node:net')
      const sockets = new Set()
      const hang = net.createServer((sock) => sockets.add(sock)) // accepts, never replies
      await new Promise((r) => hang.listen(0, '127.0.0.1', r))
      const { port } = hang.address()
      try {
        const url = scheme === 'redis+cluster' ? `${scheme}://127.0.0.1:${port}` : `${scheme}://127.0.0.1:${port}/svc`
        const Handler = api.createHandler({ redisUrl: url, prefix: uniquePrefix('hang'), timeoutMs: 300, connectTimeoutMs: 300 })
        const cap = captureConsole()
        let times
        try {
          times = await Promise.all(
            Array.from({ length: 20 }, async (_, i) => {
              const t0 = Date.now()
              assert.equal(await new Handler({}).get(`/hang/${i}`, CTX), null)
              return Date.now() - t0
            }),
          )
        } finally {
          cap.restore()
        }
        // Before: the 20th caller waited for 19 failed attempts ahead of it (~20 x 100-300 ms).
        assert.ok(Math.max(...times) < 1000, `slowest first call ${Math.max(...times)} ms (${times.join(', ')})`)
      } finally {
        for (const s of sockets) s.destroy()
        await new Promise((r) => hang.close(r))
      }
    })
  }
})
