'use strict'
// The L1's coherence protocol, state by state (lib/l1.js rules 1-7), against a generation
// source that answers as the addon's does: every invalidation moves the generation and is
// remembered per key. The end-to-end behaviour across processes is in coherence.test.js.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { L1 } = require('../lib/l1')

/** Generations as the addon keeps them: `invalidate(key)` moves it; `down()` distrusts it. */
function feed() {
  const changed = new Map()
  return {
    gen: 1,
    trusted: true,
    coherence() {
      return this.trusted ? this.gen : -this.gen
    },
    isValid(key, since) {
      return since > 0 && (changed.get(key) ?? 0) <= since
    },
    invalidate(key) {
      this.gen++
      changed.set(key, this.gen)
    },
    down() {
      this.trusted = false
    },
  }
}

const copy = (value, extra = {}) => ({ value, size: 10, deadline: Date.now() + 60_000, verdict: null, gen: 0, ...extra })

/** Reads `key` through the L1 as the store does; `answer` is what the store returns. */
function readThrough(l1, key, answer, loads) {
  const gen = Math.abs(l1.generation())
  return l1.read(key, gen, async (flight) => {
    loads.push(flight)
    await new Promise((r) => setImmediate(r))
    const rec = copy(answer, { gen: flight.gen })
    l1.keep(key, flight, rec)
    return rec
  })
}

test('a copy is served at its generation, and after unrelated changes, until its key is invalidated', async () => {
  const f = feed()
  const l1 = new L1(1000, f)
  await readThrough(l1, 'k', 'v1', [])
  assert.equal(l1.current('k', l1.generation())?.value, 'v1')
  f.invalidate('other')
  const c = l1.current('k', l1.generation())
  assert.equal(c?.value, 'v1', 'another key changing does not drop it')
  assert.equal(c.gen, f.gen, 'revalidated at the current generation')
  f.invalidate('k')
  assert.equal(l1.current('k', l1.generation()), undefined, 'its own invalidation drops it')
  assert.equal(l1.size, 0)
})

test('without a trusted feed nothing is served, but the last copy remains for stale-if-error', async () => {
  const f = feed()
  const l1 = new L1(1000, f)
  await readThrough(l1, 'k', 'v1', [])
  f.down()
  assert.ok(l1.generation() < 0)
  assert.equal(l1.fallback('k')?.value, 'v1')
  // A read while distrusted is not kept: its answer could not be validated later.
  const loads = []
  await readThrough(l1, 'j', 'v2', loads)
  assert.equal(loads.length, 1)
  assert.equal(loads[0].gen, f.gen)
  f.trusted = true
  assert.equal(l1.current('j', l1.generation())?.value, 'v2', 'stored under |gen|, valid once trusted again')
})

test('a copy is never served past its deadline (the store dropped it at its TTL)', () => {
  const l1 = new L1(1000, feed())
  l1.set('k', copy('v', { gen: 1, deadline: Date.now() - 1 }))
  assert.equal(l1.fallback('k'), undefined)
  assert.equal(l1.current('k', 1), undefined)
  assert.equal(l1.size, 0)
})

test('concurrent reads share one load; a read after an invalidation does not join an older one', async () => {
  const f = feed()
  const l1 = new L1(1000, f)
  const loads = []
  const [a, b] = await Promise.all([readThrough(l1, 'k', 'v', loads), readThrough(l1, 'k', 'v', loads)])
  assert.equal(loads.length, 1)
  assert.equal(a, b)
  const first = readThrough(l1, 'j', 'old', loads)
  f.invalidate('j')
  const second = readThrough(l1, 'j', 'new', loads)
  assert.equal(loads.length, 3, 'the invalidated flight was not joined')
  assert.equal((await first).value, 'old')
  assert.equal((await second).value, 'new')
  assert.equal(l1.current('j', l1.generation())?.value, 'new', 'only the read that started after the change is kept')
})

test('a read overlapping a write of ours is tainted: not joined, not kept', async () => {
  const f = feed()
  const l1 = new L1(1000, f)
  const loads = []
  const reading = readThrough(l1, 'k', 'maybe-old', loads)
  const token = l1.beginWrite('k')
  const again = readThrough(l1, 'k', 'after', loads)
  assert.equal(loads.length, 2, 'a read after the write started does not join the tainted one')
  await reading
  assert.equal(l1.size, 0, 'the overlapped read was not kept')
  l1.endWrite(token, copy('written'), false)
  await again
  assert.equal(l1.current('k', l1.generation())?.value, 'written', "the write's own copy is the one kept")
})

test('a write drops the copy it replaces, keeps its own, and keeps none when writes overlap, fail or are conditional', async () => {
  const f = feed()
  const l1 = new L1(1000, f)
  await readThrough(l1, 'k', 'before', [])
  const t = l1.beginWrite('k')
  assert.equal(l1.current('k', l1.generation()), undefined, 'the old copy is gone while the write is in flight')
  l1.endWrite(t, copy('mine'), false)
  assert.equal(l1.current('k', l1.generation())?.value, 'mine')

  const t1 = l1.beginWrite('k')
  const t2 = l1.beginWrite('k')
  l1.endWrite(t1, copy('one'), false)
  l1.endWrite(t2, copy('two'), false)
  assert.equal(l1.size, 0, 'two writes in flight: which one Redis kept is unknown')
  assert.equal(l1.writing.size, 0)

  l1.endWrite(l1.beginWrite('k'), null, false)
  assert.equal(l1.size, 0, 'a failed write keeps nothing')
  l1.endWrite(l1.beginWrite('k'), copy('seed'), true)
  assert.equal(l1.size, 0, 'a conditional write (ifAbsent) may not have been stored')

  const t3 = l1.beginWrite('k')
  f.invalidate('k') // another instance's write of the key lands around ours
  l1.endWrite(t3, copy('ours'), false)
  assert.equal(l1.current('k', l1.generation()), undefined, 'a push after the write was sent invalidates its copy')
})

test('a verdict is remembered for its generation and read-time tags until the clock could change it', () => {
  const f = feed()
  const l1 = new L1(1000, f)
  const c = copy('v', { gen: 1 })
  l1.remember(c, ['a', 'b'], 1, 'fresh', Date.now() + 60_000)
  assert.equal(l1.verdict(c, ['a', 'b'], 1), 'fresh')
  assert.equal(l1.verdict(c, ['a', 'c'], 1), undefined, 'other read-time tags')
  assert.equal(l1.verdict(c, ['a'], 1), undefined)
  assert.equal(l1.verdict(c, ['a', 'b'], 2), undefined, 'the manifest may have moved')
  l1.remember(c, undefined, 2, 'stale', Date.now() - 1)
  assert.equal(l1.verdict(c, undefined, 2), undefined, 'past its until')
})

test('copies are bounded by bytes, least recently used out first; one larger than the budget is not kept', () => {
  const l1 = new L1(100, feed())
  for (const k of ['a', 'b', 'c']) l1.set(k, copy(k, { size: 30, gen: 1 }))
  assert.equal(l1.bytes, 3 * 32)
  l1.current('a', 1) // a is now the most recent
  l1.set('d', copy('d', { size: 30, gen: 1 }))
  assert.deepEqual([...l1.map.keys()], ['c', 'a', 'd'])
  assert.ok(l1.bytes <= 100)
  l1.set('huge', copy('h', { size: 200, gen: 1 }))
  assert.equal(l1.map.has('huge'), false)
})

test('without a coherence source it keeps no copies but still shares reads in flight', async () => {
  const l1 = new L1(1000, null)
  assert.equal(l1.enabled, false)
  assert.equal(l1.generation(), 0)
  const loads = []
  await Promise.all([readThrough(l1, 'k', 'v', loads), readThrough(l1, 'k', 'v', loads)])
  assert.equal(loads.length, 1)
  assert.equal(l1.size, 0)
})
