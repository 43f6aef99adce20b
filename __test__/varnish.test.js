'use strict'
// docs/varnish.vcl, the VCL users copy, in a real varnishd (scripts/e2e/varnish.js) in front of
// a tiny backend that answers like Next's ISR pages: Cache-Control with s-maxage, Next's Vary
// header, the page's cache tags in `xkey`, and a body that changes on every render.
const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const { startVarnish, varnishAvailable, vclWithBackend } = require('../scripts/e2e/varnish')
const { request, sleep } = require('../scripts/e2e/harness')

// What Next 15/16 send on App Router pages.
const NEXT_VARY = 'RSC, Next-Router-State-Tree, Next-Router-Prefetch, Next-Router-Segment-Prefetch'
const GRACE_CAP_S = 5 // beresp.grace cap in docs/varnish.vcl

// Per path: headers the backend answers with. Every render gets a new number.
const ROUTES = {
  '/page': { 'cache-control': 's-maxage=3600', xkey: 'a b', vary: NEXT_VARY },
  '/no-vary': { 'cache-control': 's-maxage=3600', xkey: 'no-vary' },
  '/vary': { 'cache-control': 's-maxage=3600', xkey: 'vary', vary: NEXT_VARY },
  '/short': { 'cache-control': 's-maxage=1, stale-while-revalidate=31535999', xkey: 'short', vary: NEXT_VARY },
  '/soft': { 'cache-control': 's-maxage=3600', xkey: 'soft', vary: NEXT_VARY },
}

describe('Varnish with docs/varnish.vcl', () => {
  let backend
  let varnish
  let renders = 0
  const hits = {} // backend requests per path

  before(async () => {
    assert.ok(varnishAvailable(), 'varnishd is not installed: run scripts/ensure-system.sh (apt-get install varnish varnish-modules)')
    backend = http.createServer((req, res) => {
      const route = ROUTES[req.url]
      if (!route) {
        res.writeHead(404)
        res.end()
        return
      }
      hits[req.url] = (hits[req.url] ?? 0) + 1
      res.writeHead(200, { 'content-type': 'text/plain', ...route })
      res.end(`${req.url} rsc=${req.headers.rsc ?? '-'} render=${++renders}`)
    })
    await new Promise((resolve) => backend.listen(0, '127.0.0.1', resolve))
    varnish = await startVarnish({ backend: `127.0.0.1:${backend.address().port}` })
  })

  after(async () => {
    await varnish?.stop()
    await new Promise((resolve) => (backend ? backend.close(resolve) : resolve()))
  })

  const get = (path, headers = {}) => request(`${varnish.url}${path}`, { headers, timeout: 10_000 })

  it('caches a page for its s-maxage, RSC apart, and purges it by xkey', async () => {
    const first = await get('/page')
    assert.equal(first.status, 200)
    assert.equal(first.headers['x-cache'], 'MISS')
    assert.equal(first.headers.xkey, undefined, 'the tags are not shown to clients')

    const second = await get('/page')
    assert.equal(second.headers['x-cache'], 'HIT')
    assert.equal(second.body, first.body)
    assert.match(second.headers.age, /^\d+$/)
    assert.equal(hits['/page'], 1)

    const rsc = await get('/page', { RSC: '1' })
    assert.equal(rsc.headers['x-cache'], 'MISS', 'an RSC request is another object')
    assert.notEqual(rsc.body, first.body)
    assert.equal((await get('/page', { RSC: '1' })).body, rsc.body)
    assert.equal((await get('/page')).body, first.body, 'the HTML object is still there')

    const other = await varnish.purge(['other'])
    assert.equal(other.status, 200)
    assert.equal(other.purged, 0)
    assert.match(other.body, /^Invalidated 0 objects/)
    const still = await get('/page')
    assert.equal(still.headers['x-cache'], 'HIT')
    assert.equal(still.body, first.body)

    const purged = await varnish.purge(['b'])
    assert.equal(purged.status, 200)
    assert.equal(purged.purged, 2, 'the HTML and the RSC object carry the key')
    assert.match(purged.body, /^Invalidated 2 objects/)
    const after = await get('/page')
    assert.equal(after.headers['x-cache'], 'MISS')
    assert.notEqual(after.body, first.body)
    assert.equal((await get('/page', { RSC: '1' })).headers['x-cache'], 'MISS')
    assert.equal(hits['/page'], 4)
  })

  it('answers PURGE without an xkey header with 400, from outside the ACL with 403', async () => {
    const res = await request(`${varnish.url}/`, { method: 'PURGE' })
    assert.equal(res.status, 400)
    // 127.0.0.2 is loopback on Linux but not in the `purgers` ACL (127.0.0.1, ::1).
    const outside = await new Promise((resolve, reject) => {
      const req = http.request(
        `${varnish.url}/`,
        { method: 'PURGE', headers: { xkey: 'a' }, localAddress: '127.0.0.2', agent: false },
        (r) => {
          r.resume()
          r.on('end', () => resolve(r.statusCode))
        },
      )
      req.on('error', reject)
      req.end()
    })
    assert.equal(outside, 403)
  })

  it('keeps RSC and HTML apart without a Vary header, and honours Next\u2019s Vary', async () => {
    // No Vary: only the VCL's hash on the RSC header separates them.
    const html = await get('/no-vary')
    const rsc = await get('/no-vary', { RSC: '1' })
    assert.equal(rsc.headers['x-cache'], 'MISS')
    assert.match(rsc.body, /rsc=1/)
    assert.equal((await get('/no-vary')).body, html.body)

    // Next's Vary: one object per Next-Router-State-Tree value.
    const treeA = await get('/vary', { RSC: '1', 'Next-Router-State-Tree': 'tree-a' })
    assert.equal(treeA.headers['x-cache'], 'MISS')
    const treeB = await get('/vary', { RSC: '1', 'Next-Router-State-Tree': 'tree-b' })
    assert.equal(treeB.headers['x-cache'], 'MISS')
    assert.notEqual(treeB.body, treeA.body)
    const againA = await get('/vary', { RSC: '1', 'Next-Router-State-Tree': 'tree-a' })
    assert.equal(againA.headers['x-cache'], 'HIT')
    assert.equal(againA.body, treeA.body)
  })

  it('soft purge: the old copy once more while Varnish refetches, then the new one', async () => {
    const first = await get('/soft')
    assert.equal((await get('/soft')).headers['x-cache'], 'HIT')
    const res = await varnish.purge(['soft'], { soft: true })
    assert.equal(res.status, 200)
    assert.equal(res.purged, 1)
    const stale = await get('/soft')
    assert.equal(stale.body, first.body, 'served from grace')
    let fresh = stale
    const deadline = Date.now() + 10_000
    while (fresh.body === first.body && Date.now() < deadline) {
      await sleep(50)
      fresh = await get('/soft')
    }
    assert.notEqual(fresh.body, first.body, 'the background fetch replaced it')
    assert.equal(hits['/soft'], 2)
  })

  it(`caps grace at ${GRACE_CAP_S}s: an expired page is not served stale for Next's stale-while-revalidate`, async () => {
    const first = await get('/short')
    assert.equal(first.headers['x-cache'], 'MISS')
    // s-maxage=1, then the grace cap, then a margin: past the grace the copy is gone.
    await sleep((1 + GRACE_CAP_S) * 1000 + 1500)
    const later = await get('/short')
    assert.equal(later.headers['x-cache'], 'MISS', `stale-while-revalidate=31535999 must not become ${later.headers.age}s+ of grace`)
    assert.notEqual(later.body, first.body)
  })

  it('points the shipped VCL at the backend, or says why it cannot', () => {
    const vcl = vclWithBackend('vcl 4.1;\nbackend default {\n    .host = "127.0.0.1";\n    .port = "3000";\n}\n', 'app.internal:8080')
    assert.match(vcl, /\.host = "app\.internal";\s*\.port = "8080";/)
    assert.throws(() => vclWithBackend('vcl 4.1;\n', '127.0.0.1:80'), /backend default/)
    assert.throws(() => vclWithBackend('backend default { .host = "x"; .port = "1"; }', 'no-port'), /host:port/)
  })
})
