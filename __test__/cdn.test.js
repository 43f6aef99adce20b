'use strict'
// CDN purging: the key rule shared by the header and the purge, the settings, the handler's
// side (tags on what Next sends, purges on revalidation and on a page written anew, with the
// in-memory store and with Redis), delivery through failures, and the Varnish adapter against
// a real varnishd running docs/varnish.vcl (the contract test of the VCL users copy).

const { test, describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { redisSuite } = require('./helpers/suite')
const { freePort, sleep } = require('./helpers/redis')
const { cdnKey, headerValue, purgeKeys, pathTags, ALL_KEY, OVERFLOW_KEY } = require('../lib/cdn/keys')
const { resolveCdn } = require('../lib/cdn/config')
const { PurgeError } = require('../lib/cdn/errors')
const { startVarnish } = require('../scripts/e2e/varnish')
const { request } = require('../scripts/e2e/harness')
const { runCli } = require('./helpers/cli')

const { api, redis } = redisSuite()

const LIMITS = { separator: ' ', maxKeyBytes: 64, maxKeys: Number.POSITIVE_INFINITY, maxHeaderBytes: 8000 }
const page = (tags) => ({
  kind: 'APP_PAGE',
  html: '<p>x</p>',
  rscData: Buffer.from('r'),
  headers: { 'x-next-cache-tags': tags.join(',') },
  status: 200,
})

async function until(fn, what, ms = 10_000) {
  const t0 = Date.now()
  while (Date.now() - t0 < ms) {
    if (await fn()) return
    await sleep(20)
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('keys: one rule for the header and the purge', () => {
  test('plain tags are their own key; anything a header cannot carry, or too long, is a stable digest', () => {
    assert.equal(cdnKey('posts', 64), 'posts')
    assert.equal(cdnKey('_N_T_/posts/[slug]/page', 64), '_N_T_/posts/[slug]/page')
    for (const odd of ['two words', 'a,b', 'quo"te', 'caf\u00e9', 'x'.repeat(65), 'tab\there', '']) {
      const k = cdnKey(odd, 64)
      assert.match(k, /^sisr-[A-Za-z0-9_-]{22}$/, odd)
      assert.equal(cdnKey(odd, 64), k, 'stable')
    }
    assert.notEqual(cdnKey('two words', 64), cdnKey('two  words', 64))
  })

  test('the header carries every tag within the limits; what does not fit becomes the overflow key, which every purge includes', () => {
    const tags = Array.from({ length: 10 }, (_, i) => `tag${i}`)
    assert.deepEqual(headerValue(tags, LIMITS).split(' '), [ALL_KEY, ...tags])
    const few = headerValue(tags, { ...LIMITS, maxKeys: 5 }).split(' ')
    assert.equal(few.length, 5)
    assert.deepEqual(few, [ALL_KEY, 'tag0', 'tag1', 'tag2', OVERFLOW_KEY])
    const small = headerValue(tags, { ...LIMITS, maxHeaderBytes: 40 })
    assert.ok(small.length <= 40, small)
    assert.ok(small.endsWith(OVERFLOW_KEY))
    assert.equal(headerValue(tags, { ...LIMITS, separator: ',' }).split(',').length, 11)
    assert.deepEqual(purgeKeys(['tag9', 'two words'], LIMITS), ['tag9', cdnKey('two words', 64), OVERFLOW_KEY])
    assert.deepEqual(purgeKeys([], LIMITS), [])
  })

  test("an entry's path tags are Next's implicit tags of its path", () => {
    assert.deepEqual(pathTags('/posts/a'), ['_N_T_/posts/a'])
    assert.deepEqual(pathTags('/index'), ['_N_T_/', '_N_T_/index'])
    // Next 16.4+ keys pages and routes by digest, the path after '$'.
    assert.deepEqual(pathTags('/route-cache/APP_PAGE/2bb8721a/$/posts/redis-notes'), ['_N_T_/posts/redis-notes'])
    assert.deepEqual(pathTags('/route-cache/APP_PAGE/2bb8721a/$/'), ['_N_T_/', '_N_T_/index'])
    assert.deepEqual(pathTags('/route-cache/APP_PAGE/no-path'), [])
    assert.deepEqual(pathTags('not-a-path'), [])
    assert.deepEqual(pathTags(undefined), [])
  })
})

describe('settings', () => {
  test('none set: no CDN; a Varnish URL from the option or SHARED_ISR_CDN_URL lists every node', () => {
    assert.equal(resolveCdn(undefined, {}), null)
    const v = resolveCdn(undefined, { SHARED_ISR_CDN_URL: 'varnish://10.0.0.1:6081,cache-2:80,[::1]:6082' })
    assert.equal(v.name, 'varnish')
    assert.equal(v.header, 'xkey')
    assert.deepEqual(v.nodes, [
      { host: '10.0.0.1', port: 6081 },
      { host: 'cache-2', port: 80 },
      { host: '::1', port: 6082 },
    ])
    assert.equal(resolveCdn({ url: 'varnish://h', header: 'X-Tags' }, {}).header, 'x-tags')
  })

  test('bad settings are refused with ERR_SHARED_ISR_CONFIG, naming where they came from', () => {
    const refused = (option, env, re) =>
      assert.throws(
        () => resolveCdn(option, env),
        (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && re.test(err.message),
      )
    refused(
      undefined,
      { SHARED_ISR_CDN_URL: 'http://cdn' },
      /^SHARED_ISR_CDN_URL must start with varnish:\/\/, fastly:\/\/ or cloudflare:\/\//,
    )
    refused(undefined, { SHARED_ISR_CDN_URL: 'cloudfront://E123' }, /cloudfront is not supported by this version yet/)
    refused('varnish://h:99999', {}, /bad Varnish node "h:99999"/)
    refused('varnish://a:1,,b:2', {}, /bad Varnish node ""/)
    refused({ onPurge: async () => {} }, {}, /cdn.header is required with onPurge/)
    refused({ onPurge: 'nope', header: 'x' }, {}, /cdn.onPurge must be a function/)
    refused({ url: 'varnish://h', header: 'bad header' }, {}, /cdn.header must be a header name/)
    refused({ url: 'varnish://h', timeoutMs: 0 }, {}, /cdn.timeoutMs/)
    refused(42, {}, /cdn must be a URL or an object/)
  })

  test('withSharedIsr takes a CDN URL (it reaches every process) but refuses onPurge (a function cannot)', () => {
    const { serialiseOptions } = require('../lib/next-config')
    assert.equal(JSON.parse(serialiseOptions({ cdn: 'varnish://v:6081' })).cdn, 'varnish://v:6081')
    assert.throws(
      () => serialiseOptions({ cdn: { header: 'x', onPurge: () => {} } }),
      (err) => err.code === 'ERR_SHARED_ISR_CONFIG' && /cdn.onPurge cannot reach the handlers/.test(err.message),
    )
    assert.throws(
      () => serialiseOptions({ cdn: { url: 'fastly://S', token: 'secret-token' } }),
      (err) =>
        err.code === 'ERR_SHARED_ISR_CONFIG' &&
        /cdn.token would be written into the build output/.test(err.message) &&
        !err.message.includes('secret-token'),
    )
  })
})

/** A hook provider recording what it was asked to purge; `fail` makes the next calls reject. */
function recorder() {
  const r = { calls: [], fail: 0 }
  r.onPurge = async (p) => {
    if (r.fail > 0) {
      r.fail--
      throw new PurgeError('CDN answered 503', 503)
    }
    r.calls.push(p)
  }
  r.purged = () => r.calls.flatMap((c) => c.tags)
  return r
}

for (const store of ['memory', 'redis']) {
  describe(`the handler with a CDN (${store} store)`, () => {
    const opts = (r, extra = {}) => ({
      ...(store === 'redis' ? { redisUrl: redis.url, prefix: `cdn-${extra.prefix ?? 'h'}:` } : {}),
      cdn: { header: 'cache-tag', onPurge: r.onPurge },
      ...extra,
    })

    test('what Next sends carries the tags: a rendered value in set(), before any await, and every hit', async () => {
      const r = recorder()
      const H = api.createHandler(opts(r, { prefix: 'a' }))
      const data = page(['_N_T_/layout', '_N_T_/posts/a', 'posts', 'two words'])
      const pending = new H({}).set('/posts/a', data, { cacheControl: { revalidate: 60 } })
      // Next reads the headers as soon as set() settles; they are there before it even returns.
      const want = `${ALL_KEY} _N_T_/layout _N_T_/posts/a posts ${cdnKey('two words', 1024)}`
      assert.equal(data.headers['cache-tag'], want)
      await pending
      const hit = await new H({}).get('/posts/a', { kind: 'APP_PAGE' })
      assert.equal(hit.value.headers['cache-tag'], want)
      // A fetch entry is no response: untouched.
      const fetchData = { kind: 'FETCH', data: { headers: {}, body: '', status: 200 }, revalidate: 60 }
      await new H({}).set('f1', fetchData, { fetchCache: true, tags: ['posts'] })
      assert.equal(fetchData.data.headers['cache-tag'], undefined)
    })

    test('a revalidation purges its tags; a page written anew purges its path', async () => {
      const r = recorder()
      const H = api.createHandler(opts(r, { prefix: 'b' }))
      await new H({}).set('/posts/b', page(['_N_T_/posts/b', 'posts']), { cacheControl: { revalidate: 60 } })
      await until(() => r.purged().includes('_N_T_/posts/b'), 'the purge of the written path')
      await new H({}).revalidateTag(['posts', 'two words'])
      await until(() => r.purged().includes('posts'), 'the purge of the revalidated tags')
      const call = r.calls.find((c) => c.tags.includes('posts'))
      assert.deepEqual(call.keys.sort(), ['posts', cdnKey('two words', 1024), OVERFLOW_KEY].sort())
      assert.ok(call.tags.includes('two words'))
    })

    test('a CDN that fails is retried with backoff until it answers; health() is degraded meanwhile; nothing is lost', async () => {
      const r = recorder()
      const lines = []
      const logger = {
        info: (o, m) => lines.push(['info', m]),
        warn: (o, m) => lines.push(['warn', m]),
        error: (o, m) => lines.push(['error', m]),
      }
      const H = api.createHandler(opts(r, { prefix: 'c', logger }))
      r.fail = 3
      await new H({}).revalidateTag(['down-tag'])
      await until(() => lines.some(([, m]) => /CDN purge failed/.test(m)), 'the failure line')
      const o = opts(r, { prefix: 'c', logger })
      if (r.fail > 0) {
        const h = api.health(o)
        assert.equal(h.status, 'degraded')
        assert.equal(h.cdn.status, 'failing')
      }
      await until(() => r.purged().includes('down-tag'), 'the purge once the CDN answers')
      // Healthy again once the delivered batch is confirmed (a round trip after the purge).
      await until(() => api.health(o).status === 'ok', 'health ok once purges are delivered')
      assert.equal(lines.filter(([, m]) => /CDN purge failed/.test(m)).length, 1, 'one line, not one per retry')
      await until(() => lines.some(([, m]) => /CDN purges are delivered again/.test(m)), 'the recovery line')
    })
  })
}

describe('with Redis: one purge per change for the whole fleet', () => {
  test('two stores (two instances) sharing a Redis: each revalidation is purged once, by whichever delivers', async () => {
    const a = recorder()
    const b = recorder()
    const HA = api.createHandler({ redisUrl: redis.url, prefix: 'fleet1:', cdn: { header: 'x-a', onPurge: a.onPurge } })
    const HB = api.createHandler({ redisUrl: redis.url, prefix: 'fleet1:', cdn: { header: 'x-b', onPurge: b.onPurge } })
    await new HA({}).get('/warm', {}) // both stores connected
    await new HB({}).get('/warm', {})
    for (let i = 0; i < 20; i++) await new (i % 2 ? HA : HB)({}).revalidateTag([`fleet-${i}`])
    const all = () => [...a.purged(), ...b.purged()].filter((t) => t.startsWith('fleet-'))
    await until(() => new Set(all()).size === 20, 'every revalidation purged')
    await sleep(1500) // a poll of each store: nothing is delivered twice once confirmed
    assert.equal(all().length, 20, `purged: ${all().join(' ')}`)
  })
})

describe('with Redis: a deliverer killed mid-purge', () => {
  test('is replaced: another instance delivers its batch once the lock lapses', { timeout: 60_000 }, async () => {
    const { spawn } = require('node:child_process')
    const { LIB } = require('./helpers/suite')
    // The instance that takes the webhook starts purging and is SIGKILLed before the CDN answers.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const api = require(${JSON.stringify(LIB)})
         const H = api.createHandler({ redisUrl: process.env.URL, prefix: 'kill:', cdn: { header: 'x', onPurge: () => { console.log('purging'); return new Promise(() => {}) } } })
         new H({}).revalidateTag(['killed-mid-purge']).then(() => setInterval(() => {}, 1000))`,
      ],
      { env: { PATH: process.env.PATH, URL: redis.url }, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('purging') && resolve())
      child.on('exit', (code) => reject(new Error(`the child exited (${code}) before purging`)))
    })
    child.kill('SIGKILL')
    const t0 = Date.now()
    const r = recorder()
    const H = api.createHandler({ redisUrl: redis.url, prefix: 'kill:', cdn: { header: 'x', onPurge: r.onPurge } })
    await new H({}).get('/warm', {})
    await until(() => r.purged().includes('killed-mid-purge'), 'the survivor delivering the batch', 30_000)
    const { LOCK_MS } = require('../lib/cdn/deliver')
    assert.ok(Date.now() - t0 <= LOCK_MS + 5000, `delivered ${Date.now() - t0} ms after the kill`)
  })
})

describe('operators see the CDN', () => {
  test('metrics by provider: purges, keys, the lag; no tag or key in a label', async () => {
    const r = recorder()
    const H = api.createHandler({ redisUrl: redis.url, prefix: 'metrics:', cdn: { header: 'x-t', onPurge: r.onPurge } })
    await new H({}).revalidateTag(['metric-tag'])
    await until(() => r.purged().includes('metric-tag'), 'the purge')
    // The lag is observed once the batch is confirmed (a round trip after the purge).
    await until(() => /^shared_isr_cdn_purge_lag_seconds_count\{provider="hook"\} [1-9]/m.test(api.metricsText()), 'the lag observed')
    const text = api.metricsText()
    const value = (name) => Number(new RegExp(`^${name}\\{provider="hook"\\} (\\d+)`, 'm').exec(text)?.[1])
    assert.ok(value('shared_isr_cdn_purges_total') >= 1, text)
    assert.ok(value('shared_isr_cdn_keys_purged_total') >= 2)
    assert.equal(value('shared_isr_cdn_failing'), 0)
    assert.match(text, /^shared_isr_cdn_purge_lag_seconds_count\{provider="hook"\} [1-9]/m)
    assert.doesNotMatch(text, /metric-tag/)
  })

  test('status shows what the fleet owes the CDN; doctor checks that every node answers purges', async () => {
    const env = { SHARED_ISR_REDIS_URL: redis.url, SHARED_ISR_PREFIX: 'clicdn:' }
    // Owed: a revalidation recorded by a process with no CDN delivering it.
    const H = api.createHandler({ redisUrl: redis.url, prefix: 'clicdn:' })
    await new H({}).revalidateTag(['owed-1', 'owed-2'])
    const st = await runCli(['status', '--json'], env)
    assert.equal(st.code, 0, st.err)
    assert.equal(st.json.cdn.pending, 0, 'nobody delivered yet: the feed starts at its first deliverer')
    const port = await freePort()
    const down = await runCli(['doctor'], { ...env, SHARED_ISR_CDN_URL: `varnish://127.0.0.1:${port}` })
    assert.notEqual(down.code, 0)
    assert.match(down.out, new RegExp(`PROBLEM  cdn: varnish 127\\.0\\.0\\.1:${port}: .*127\\.0\\.0\\.1:${port}`))
  })
})

describe('Varnish adapter against a real varnishd (docs/varnish.vcl)', () => {
  let backend
  let varnish
  let renders = 0
  before(async () => {
    backend = http.createServer((req, res) => {
      renders++
      const key = new URL(req.url, 'http://x').searchParams.get('key') ?? ''
      res.setHeader('cache-control', 's-maxage=3600')
      if (key) res.setHeader('xkey', `${ALL_KEY} ${key}`)
      res.end(`render ${renders}`)
    })
    await new Promise((r) => backend.listen(0, '127.0.0.1', r))
    varnish = await startVarnish({ backend: `127.0.0.1:${backend.address().port}` })
  })
  after(async () => {
    await varnish?.stop()
    backend?.close()
  })

  const get = async (path) => {
    const res = await request(`${varnish.url}${path}`)
    return { body: res.body, cache: res.headers['x-cache'] }
  }
  const provider = () => resolveCdn(`varnish://127.0.0.1:${varnish.port}`, {})

  test('PURGE with xkey drops exactly the objects carrying a key; a long list goes out in several requests, all of them purged', async () => {
    const first = await get('/a?key=alpha')
    assert.equal((await get('/a?key=alpha')).body, first.body)
    const other = await get('/b?key=beta')
    await provider().purge(['alpha'])
    assert.notEqual((await get('/a?key=alpha')).body, first.body, 'purged')
    assert.equal((await get('/b?key=beta')).body, other.body, 'another key is kept')
    // 600 keys of 20 bytes do not fit one 8 KB header: the last one is in a later request.
    const keys = Array.from({ length: 600 }, (_, i) => `k${String(i).padStart(19, '0')}`)
    const last = keys.at(-1)
    const kept = await get(`/c?key=${last}`)
    assert.equal((await get(`/c?key=${last}`)).cache, 'HIT')
    await provider().purge(keys)
    assert.notEqual((await get(`/c?key=${last}`)).body, kept.body)
  })

  test('a purge of everything drops every tagged object', async () => {
    const a = await get('/d?key=delta')
    await provider().purgeAll()
    assert.notEqual((await get('/d?key=delta')).body, a.body)
  })

  test('the path key the VCL gives an untagged response (a Pages Router page) is the path tag a write purges', async () => {
    const a = await get('/shop/sticker')
    assert.equal((await get('/shop/sticker')).cache, 'HIT')
    await provider().purge(pathTags('/shop/sticker'))
    assert.notEqual((await get('/shop/sticker')).body, a.body)
    const home = await get('/')
    await provider().purge(pathTags('/index'))
    assert.notEqual((await get('/')).body, home.body)
  })

  test('doctor says ok when every node answers', async () => {
    const ok = await runCli(['doctor', '--json'], {
      SHARED_ISR_REDIS_URL: redis.url,
      SHARED_ISR_PREFIX: 'doc:',
      SHARED_ISR_CDN_URL: `varnish://127.0.0.1:${varnish.port}`,
    })
    const check = ok.json.checks.find((c) => c.name === 'cdn')
    assert.deepEqual([check.ok, check.detail], [true, `varnish 127.0.0.1:${varnish.port}: answers purges`])
  })

  test('Varnish unreachable during the revalidation: the purge is delivered once it answers', async () => {
    const first = await get('/e?key=echo')
    assert.equal((await get('/e?key=echo')).body, first.body)
    // The app reaches Varnish through a port that refuses connections until the "network" is back.
    const port = await freePort()
    const H = api.createHandler({ redisUrl: redis.url, prefix: 'down:', cdn: `varnish://127.0.0.1:${port}` })
    await new H({}).revalidateTag(['echo'])
    await sleep(800) // some attempts fail meanwhile
    assert.equal((await get('/e?key=echo')).body, first.body, 'not purged while unreachable')
    const net = require('node:net')
    const forward = net.createServer((c) => {
      const up = net.connect(varnish.port, '127.0.0.1')
      c.pipe(up).pipe(c)
      c.on('error', () => up.destroy())
      up.on('error', () => c.destroy())
    })
    await new Promise((r) => forward.listen(port, '127.0.0.1', r))
    try {
      await until(async () => (await get('/e?key=echo')).body !== first.body, 'the retried purge', 40_000)
    } finally {
      forward.close()
    }
  })

  test('a node that does not answer is a retryable PurgeError naming it', async () => {
    const port = await freePort()
    const p = resolveCdn({ url: `varnish://127.0.0.1:${port}`, timeoutMs: 500 }, {})
    await assert.rejects(p.purge(['x']), (err) => err instanceof PurgeError && err.retryable && err.message.includes(`127.0.0.1:${port}`))
  })
})

/**
 * A local stand-in for a purge API that checks the provider's documented request (method,
 * path, auth header, body shape, batch limit) and answers as the provider does, from a script
 * of answers (then 200).
 */
async function apiServer(check) {
  const calls = []
  const script = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      let body
      try {
        body = JSON.parse(raw)
      } catch {
        body = raw
      }
      const call = { method: req.method, path: req.url, headers: req.headers, body, at: Date.now() }
      calls.push(call)
      const problem = check(call)
      if (problem) {
        res.writeHead(400, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ problem }))
      }
      const next = script.shift() ?? { status: 200 }
      res.writeHead(next.status, { 'content-type': 'application/json', ...(next.headers ?? {}) })
      res.end(JSON.stringify(next.body ?? { status: 'ok', success: true }))
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${server.address().port}`, calls, script, close: () => server.close() }
}

describe('contract tests: Fastly', () => {
  const check = (c) => {
    if (c.method !== 'POST') return 'method'
    if (c.headers['fastly-key'] !== 'fastly-token') return 'Fastly-Key'
    if (c.path === '/service/SVC1/purge_all') return null
    if (c.path !== '/service/SVC1/purge') return `path ${c.path}`
    if (!Array.isArray(c.body?.surrogate_keys) || c.body.surrogate_keys.length === 0) return 'body'
    if (c.body.surrogate_keys.length > 256) return 'more than 256 keys'
    return null
  }

  test('purges by surrogate key in batches of at most 256, soft when asked, with the token from FASTLY_API_TOKEN', async () => {
    const srv = await apiServer(check)
    try {
      const p = resolveCdn(`fastly://SVC1?soft=1&endpoint=${srv.url}`, { FASTLY_API_TOKEN: 'fastly-token' })
      assert.equal(p.header, 'surrogate-key')
      const keys = Array.from({ length: 600 }, (_, i) => `k${i}`)
      await p.purge(keys)
      assert.deepEqual(
        srv.calls.map((c) => c.body.surrogate_keys.length),
        [256, 256, 88],
      )
      assert.deepEqual(
        srv.calls.flatMap((c) => c.body.surrogate_keys),
        keys,
      )
      assert.ok(srv.calls.every((c) => c.headers['fastly-soft-purge'] === '1'))
      assert.doesNotMatch(JSON.stringify({ p }), /fastly-token/)
    } finally {
      srv.close()
    }
  })

  test('a 429 waits for its Retry-After, a 5xx is retried, a 401 is reported and kept: all through the deliverer, nothing lost', async () => {
    const srv = await apiServer(check)
    try {
      srv.script.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 503 })
      const lines = []
      const logger = { info: (o, m) => lines.push(m), warn: (o, m) => lines.push(m), error: (o, m) => lines.push(m) }
      const H =
        srv.url &&
        require('../lib/index').createHandler({
          redisUrl: redis.url,
          prefix: 'fastly:',
          logger,
          cdn: { url: `fastly://SVC1?endpoint=${srv.url}`, token: 'fastly-token' },
        })
      await new H({}).revalidateTag(['fastly-tag'])
      await until(() => srv.calls.filter((c) => c.body?.surrogate_keys?.includes('fastly-tag')).length === 3, 'two retries', 20_000)
      const [first, second] = srv.calls.filter((c) => c.body?.surrogate_keys?.includes('fastly-tag'))
      assert.ok(second.at - first.at >= 950, `waited ${second.at - first.at} ms after a 429 with Retry-After: 1`)
      assert.equal(lines.filter((m) => /CDN purge failed/.test(m)).length, 1)
      assert.ok(lines.some((m) => /fastly service SVC1 answered 429/.test(m)))
    } finally {
      srv.close()
    }
  })

  test('settings: the token is required and never read from the URL; unknown parameters are refused', () => {
    assert.throws(() => resolveCdn('fastly://SVC1', {}), /needs an API token in FASTLY_API_TOKEN/)
    assert.throws(() => resolveCdn('fastly://tok:secret@SVC1', { FASTLY_API_TOKEN: 't' }), /not in the URL/)
    assert.throws(() => resolveCdn('fastly://SVC1?sof=1', { FASTLY_API_TOKEN: 't' }), /unknown parameter "sof"/)
    assert.throws(() => resolveCdn('fastly://SVC1?rate=0', { FASTLY_API_TOKEN: 't' }), /rate must be calls per minute/)
  })
})

describe('contract tests: Cloudflare', () => {
  const check = (c) => {
    if (c.method !== 'POST') return 'method'
    if (c.headers.authorization !== 'Bearer cf-token') return 'Authorization'
    if (c.path !== '/client/v4/zones/ZONE9/purge_cache') return `path ${c.path}`
    if (!Array.isArray(c.body?.tags) || c.body.tags.length === 0) return 'body'
    if (c.body.tags.length > 100) return 'more than 100 tags'
    return null
  }

  test('purges by tag, at most 100 per call, paced to the plan budget, with the token from CLOUDFLARE_API_TOKEN', async () => {
    const srv = await apiServer(check)
    try {
      const p = resolveCdn(`cloudflare://ZONE9?rate=120&endpoint=${srv.url}`, { CLOUDFLARE_API_TOKEN: 'cf-token' })
      assert.equal(p.header, 'cache-tag')
      assert.equal(p.limits.separator, ',')
      const keys = Array.from({ length: 250 }, (_, i) => `t${i}`)
      await p.purge(keys)
      assert.deepEqual(
        srv.calls.map((c) => c.body.tags.length),
        [100, 100, 50],
      )
      // 120 calls a minute: 500 ms apart.
      for (let i = 1; i < srv.calls.length; i++) assert.ok(srv.calls[i].at - srv.calls[i - 1].at >= 450, 'paced')
    } finally {
      srv.close()
    }
  })

  test("a 200 whose envelope says success: false is a failure (Cloudflare's errors), not a delivery", async () => {
    const srv = await apiServer(check)
    try {
      srv.script.push({ status: 200, body: { success: false, errors: [{ code: 1134, message: 'purge by tag not allowed' }] } })
      const p = resolveCdn(`cloudflare://ZONE9?endpoint=${srv.url}`, { CLOUDFLARE_API_TOKEN: 'cf-token' })
      await assert.rejects(p.purge(['x']), (err) => err instanceof PurgeError && /1134/.test(err.message) && !err.retryable)
    } finally {
      srv.close()
    }
  })
})

test("the README's onPurge handler file works as written", async () => {
  const fs = require('node:fs')
  const path = require('node:path')
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
  const title = "// cache-handler.js — cacheHandler: require.resolve('./cache-handler.js')"
  const code = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith(title))
  assert.ok(code, 'the snippet is in the README')
  const purged = []
  const myCdn = { purgeByTag: async (keys) => purged.push(...keys) }
  const mod = { exports: {} }
  new Function('require', 'module', 'myCdn', code)((id) => (id === 'shared-isr' ? api : require(id)), mod, myCdn)
  const Handler = mod.exports
  await new Handler({}).set('/readme-page', page(['readme-tag']), { cacheControl: { revalidate: 60 } })
  await new Handler({}).revalidateTag(['readme-tag'])
  await until(() => purged.includes('readme-tag'), 'the README hook called with the tag')
  assert.ok(purged.includes('_N_T_/readme-page'), 'and with the written path')
})
