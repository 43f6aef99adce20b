'use strict'
// The tag manifest at scale, CI's share of `npm run bench:manifest`: a process joining a store
// that saw 30,000 distinct tag revalidations reads none of that history. It holds the stamps of
// the tags it judged (not 30,000) and judges correctly; a tag-state budget
// smaller than its working set still judges correctly (looked up again).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { uniquePrefix, runNode } = require('./helpers/common')
const { redisSuite, LIB } = require('./helpers/suite')

const { api, redis } = redisSuite()

const fetchValue = { kind: 'FETCH', data: { headers: {}, body: 'eA==', url: 'https://cms/x' }, revalidate: 3600 }
const fetchCtx = (tags) => ({ kind: 'FETCH', revalidate: 3600, fetchUrl: 'https://cms/x', fetchIdx: 0, tags, softTags: [] })

/** A fresh process reads `reads` ([key, tags]) and prints [outcomes, stats] as JSON. */
function joiner(options, reads) {
  return runNode(`
    const api = require(${JSON.stringify(LIB)})
    const H = api.createHandler(${JSON.stringify(options)})
    ;(async () => {
      const out = []
      for (const [key, tags] of ${JSON.stringify(reads)}) {
        const hit = await new H({}).get(key, (${fetchCtx.toString()})(tags))
        out.push(hit ? 'hit' : 'miss')
      }
      console.log(JSON.stringify([out, api.stats(${JSON.stringify(options)})]))
      await api.close()
    })()
  `)
}

test('a joining process reads none of the history: it holds only the stamps it judged', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('scale') }
  const H = api.createHandler(options)
  await new H({}).set('revalidated', fetchValue, { fetchCache: true, tags: ['product-7'] })
  await new H({}).set('untouched', fetchValue, { fetchCache: true, tags: ['never-revalidated'] })
  await new Promise((r) => setTimeout(r, 5))
  for (let call = 0; call < 30; call++) {
    await api.revalidateTags(
      Array.from({ length: 1000 }, (_, i) => `product-${call * 1000 + i}`),
      undefined,
      options,
    )
  }
  const { code, out } = await joiner(options, [
    ['revalidated', ['product-7']],
    ['untouched', ['never-revalidated']],
  ])
  assert.equal(code, 0, out)
  const [outcomes, stats] = JSON.parse(out.trim().split('\n').at(-1))
  assert.deepEqual(outcomes, ['miss', 'hit'], 'judged against the revalidations it never read')
  assert.ok(stats.manifestTags <= 2, `holds the stamps of ${stats.manifestTags} tags (judged 2 of 30,000)`)
  assert.ok(stats.tagCacheBytes < 1024, `${stats.tagCacheBytes} bytes of tag state`)
})

test('a tag-state budget smaller than what a process reads costs lookups, never correctness', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('tiny'), tagCacheMaxBytes: 1024 }
  const H = api.createHandler(options)
  const reads = []
  for (let i = 0; i < 40; i++) {
    await new H({}).set(`k${i}`, fetchValue, { fetchCache: true, tags: [`t${i}`] })
    reads.push([`k${i}`, [`t${i}`]])
  }
  await new Promise((r) => setTimeout(r, 5))
  await api.revalidateTags(
    Array.from({ length: 20 }, (_, i) => `t${i * 2}`),
    undefined,
    options,
  )
  const { code, out } = await joiner(options, [...reads, ...reads])
  assert.equal(code, 0, out)
  const [outcomes, stats] = JSON.parse(out.trim().split('\n').at(-1))
  const expected = reads.map((_, i) => (i % 2 === 0 ? 'miss' : 'hit'))
  assert.deepEqual(outcomes, [...expected, ...expected])
  assert.ok(stats.tagCacheBytes <= 1024, `${stats.tagCacheBytes} bytes of tag state`)
})
