'use strict'
// Page and route entries belong to one build (serverDistDir/../BUILD_ID); fetch entries and
// the tag manifest are shared by every build.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { uniquePrefix, makeBuildDir, sleep, assertMiss } = require('./helpers/common')
const { redisSuite } = require('./helpers/suite')
const { fetchKey } = require('./helpers/values')

const { api, redis } = redisSuite()

const page = (html, tags = '_N_T_/layout,_N_T_/p/page,shared-tag') => ({
  kind: 'APP_PAGE',
  html,
  rscData: Buffer.from(html),
  headers: { 'x-next-cache-tags': tags },
  postponed: undefined,
  status: 200,
  segmentData: undefined,
})
const PAGE_CTX = { kind: 'APP_PAGE', isFallback: false }
const SET_CTX = { cacheControl: { revalidate: 60, expire: 3600 }, isRoutePPREnabled: false, isFallback: false }
const fetchValue = { kind: 'FETCH', data: { headers: {}, body: 'c2hhcmVk', url: 'https://x' }, revalidate: 60 }
const FETCH_GET = { kind: 'FETCH', revalidate: 60, tags: ['f'], softTags: [] }
const FETCH_SET = { fetchCache: true, tags: ['f'] }

for (const backend of ['memory', 'redis']) {
  test(`${backend}: pages of build A are invisible to build B; fetch entries are shared`, async () => {
    const options = backend === 'redis' ? { redisUrl: redis.url, prefix: uniquePrefix('bid') } : { prefix: uniquePrefix('bid') }
    const H = api.createHandler(options)
    const dirA = makeBuildDir('build-aaa')
    const dirB = makeBuildDir('build-bbb')
    const dirA2 = makeBuildDir('build-aaa') // another instance of the same build

    await new H({ serverDistDir: dirA }).set('/p', page('from A'), SET_CTX)
    await new H({ serverDistDir: dirA }).set(fetchKey('shared'), fetchValue, FETCH_SET)

    assert.equal((await new H({ serverDistDir: dirA }).get('/p', PAGE_CTX)).value.html, 'from A')
    assert.equal((await new H({ serverDistDir: dirA2 }).get('/p', PAGE_CTX)).value.html, 'from A', 'same BUILD_ID, other dir')
    assert.equal(await new H({ serverDistDir: dirB }).get('/p', PAGE_CTX), null, 'build B must not serve build A HTML')
    assert.equal((await new H({ serverDistDir: dirB }).get(fetchKey('shared'), FETCH_GET)).value.data.body, 'c2hhcmVk')

    // B renders its own version; A keeps its own.
    await new H({ serverDistDir: dirB }).set('/p', page('from B'), SET_CTX)
    assert.equal((await new H({ serverDistDir: dirA }).get('/p', PAGE_CTX)).value.html, 'from A')
    assert.equal((await new H({ serverDistDir: dirB }).get('/p', PAGE_CTX)).value.html, 'from B')

    // The tag manifest is global: a revalidation on build B reaches build A's pages and fetches.
    await sleep(2)
    await new H({ serverDistDir: dirB }).revalidateTag(['shared-tag', 'f'])
    assertMiss(await new H({ serverDistDir: dirA }).get('/p', PAGE_CTX))
    assert.equal(await new H({ serverDistDir: dirA }).get(fetchKey('shared'), FETCH_GET), null)
  })
}

test('the page key carries the BUILD_ID read from serverDistDir/../BUILD_ID', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('bidkey') }
  const H = api.createHandler(options)
  const dir = makeBuildDir('  Xy_9-zzTop  ') // Next writes it without spaces; trimming must not hurt
  await new H({ serverDistDir: dir }).set('/k', page('k'), SET_CTX)
  await new H({ serverDistDir: dir }).set(fetchKey('k'), fetchValue, FETCH_SET)
  // Entries only: the fleet's keys (this process registers at its first call) are not entries.
  const keys = (await redis.cmd('KEYS', `${options.prefix}e:*`)).sort()
  assert.equal(keys.length, 2, keys.join(' '))
  assert.ok(
    keys.some((k) => k.includes('Xy_9-zzTop') && k.endsWith('/k')),
    `page key names the build: ${keys}`,
  )
  assert.ok(
    keys.some((k) => !k.includes('Xy_9-zzTop') && k.endsWith(fetchKey('k'))),
    `fetch key does not: ${keys}`,
  )
})

test('the buildId option overrides the BUILD_ID file', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('bidopt') }
  const pinned = api.createHandler({ ...options, buildId: 'pinned' })
  const byFile = api.createHandler(options)
  const dirA = makeBuildDir('aaa')
  const dirB = makeBuildDir('bbb')
  await new pinned({ serverDistDir: dirA }).set('/o', page('pinned'), SET_CTX)
  assert.equal((await new pinned({ serverDistDir: dirB }).get('/o', PAGE_CTX)).value.html, 'pinned', 'both dirs use the pinned id')
  assert.equal(await new byFile({ serverDistDir: dirA }).get('/o', PAGE_CTX), null)
})

test('no BUILD_ID file (next dev) and no serverDistDir are their own namespaces, never a build', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('biddev') }
  const H = api.createHandler(options)
  const dev = makeBuildDir(undefined)
  const built = makeBuildDir('real-build')
  assert.ok(!fs.existsSync(path.join(dev, '..', 'BUILD_ID')))
  await new H({ serverDistDir: dev }).set('/d', page('dev'), SET_CTX)
  assert.equal((await new H({ serverDistDir: dev }).get('/d', PAGE_CTX)).value.html, 'dev')
  assert.equal(await new H({ serverDistDir: built }).get('/d', PAGE_CTX), null)
  await new H({}).set('/d', page('no dir'), SET_CTX)
  assert.equal((await new H({}).get('/d', PAGE_CTX)).value.html, 'no dir')
  assert.equal((await new H({ serverDistDir: dev }).get('/d', PAGE_CTX)).value.html, 'dev')
})

/** Runs `fn` with NEXT_DEPLOYMENT_ID set as Next sets it (at build and at start; '' when none). */
async function withDeploymentId(id, fn) {
  const before = process.env.NEXT_DEPLOYMENT_ID
  process.env.NEXT_DEPLOYMENT_ID = id
  try {
    return await fn()
  } finally {
    if (before === undefined) delete process.env.NEXT_DEPLOYMENT_ID
    else process.env.NEXT_DEPLOYMENT_ID = before
  }
}

test("Next's deployment id, when set, is the namespace of page entries instead of BUILD_ID", async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('dpl') }
  const H = api.createHandler(options)
  const dirA = makeBuildDir('build-one')
  const dirB = makeBuildDir('build-two') // the same deployment built on another machine
  await withDeploymentId('dpl_42', async () => {
    await new H({ serverDistDir: dirA }).set('/d', page('dpl 42'), SET_CTX)
    assert.equal((await new H({ serverDistDir: dirB }).get('/d', PAGE_CTX)).value.html, 'dpl 42', 'one deployment, one namespace')
  })
  await withDeploymentId('dpl_43', async () => {
    assert.equal(await new H({ serverDistDir: dirA }).get('/d', PAGE_CTX), null, 'another deployment must not serve it')
  })
  await withDeploymentId('', async () => {
    assert.equal(await new H({ serverDistDir: dirA }).get('/d', PAGE_CTX), null, "'' (no deploymentId): BUILD_ID again")
  })
  const keys = await redis.cmd('KEYS', `${options.prefix}e:p:*`)
  assert.deepEqual(keys, [`${options.prefix}e:p:dpl_42:/d`])
})

test('the buildId option wins over the deployment id; a ":" in the deployment id cannot end the namespace', async () => {
  const options = { redisUrl: redis.url, prefix: uniquePrefix('dplopt') }
  const dir = makeBuildDir('file-id')
  await withDeploymentId('team:prod', async () => {
    await new (api.createHandler({ ...options, buildId: 'pinned' }))({ serverDistDir: dir }).set('/o', page('o'), SET_CTX)
    await new (api.createHandler(options))({ serverDistDir: dir }).set('/c', page('c'), SET_CTX)
  })
  const keys = (await redis.cmd('KEYS', `${options.prefix}e:p:*`)).sort()
  assert.deepEqual(keys, [`${options.prefix}e:p:pinned:/o`, `${options.prefix}e:p:team%3Aprod:/c`])
})

test("every source of a build id is escaped the same way: ':' and '%' cannot end the namespace", async () => {
  const prefix = uniquePrefix('bidodd')
  const ID = 'rel-2024-06-01T12:30%x'
  const byOption = api.createHandler({ redisUrl: redis.url, prefix, buildId: ID })
  const byFile = api.createHandler({ redisUrl: redis.url, prefix, heartbeatSeconds: 0.2 })
  await new byOption({}).set('/o', page('option'), SET_CTX)
  await new byFile({ serverDistDir: makeBuildDir(ID) }).set('/f', page('file'), SET_CTX)
  await withDeploymentId(ID, async () => {
    await new byFile({ serverDistDir: makeBuildDir('ignored') }).set('/d', page('deployment'), SET_CTX)
    // One id, one namespace, whichever source named it.
    assert.equal((await new byOption({}).get('/d', PAGE_CTX)).value.html, 'deployment')
  })
  assert.equal((await new byFile({ serverDistDir: makeBuildDir(ID) }).get('/o', PAGE_CTX)).value.html, 'option')
  const keys = (await redis.cmd('KEYS', `${prefix}e:p:*`)).sort()
  const ns = `${prefix}e:p:rel-2024-06-01T12%3A30%25x:`
  assert.deepEqual(keys, [`${ns}/d`, `${ns}/f`, `${ns}/o`])
  // The heartbeat reports the id as configured, the form the CLI gets from a key and compares.
  let summaries = []
  for (const started = Date.now(); summaries.length === 0 && Date.now() - started < 10_000; await sleep(100)) {
    const instances = await redis.cmd('KEYS', `${prefix}{${prefix}}:i:*`)
    summaries = await Promise.all(instances.map(async (k) => JSON.parse(await redis.cmd('GET', k))))
  }
  // Both stores (one per handler's options) register at their first call; each reports the id.
  assert.ok(summaries.length >= 1)
  for (const s of summaries) assert.deepEqual(s.builds, [ID])
})
