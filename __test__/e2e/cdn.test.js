'use strict'
// Every layer: a real Varnish (docs/varnish.vcl, the xkey vmod) in front of the balancer and
// three `next start` instances sharing one Redis, with SHARED_ISR_CDN_URL=varnish://... Varnish
// caches each page for its s-maxage (an hour here), so without purging it would serve the old
// page for that hour after every webhook. For each kind of revalidation: a HIT before the
// change, the new page after it (polled; the time it took is reported), a HIT again after.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
const { describe, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { e2eVersions, request, cmsWithRev } = require('../../scripts/e2e/harness')
const { startVarnish } = require('../../scripts/e2e/varnish')
const { freePort } = require('../../scripts/lib/net')
const { useCluster, newRev } = require('./helpers')

// The purge is sent within milliseconds of the webhook's answer on the instance that took it;
// the bound only keeps a loaded 2-core machine from failing the run (times are reported).
const CDN_DEADLINE_MS = 10_000

const revOf = (res) => {
  if (res.headers['content-type']?.includes('json')) return JSON.parse(res.body).rev
  // HTML, else the RSC payload: ["$","dd",null,{"data-testid":"rev","children":"..."}]
  return /data-testid="rev"[^>]*>([^<]*)</.exec(res.body)?.[1] ?? /"data-testid":"rev","children":"([^"]*)"/.exec(res.body)?.[1]
}

async function viaCdn(varnish, path, headers = {}) {
  const res = await request(`${varnish.url}${path}`, { headers })
  return { status: res.status, xcache: res.headers['x-cache'], rev: revOf(res), res }
}

/**
 * The URL Next's router fetches an RSC payload from: Next 16 answers a `_rsc` value that does
 * not match the request's router headers with a redirect to the one that does.
 */
async function rscPath(cluster, path, headers) {
  const res = await request(`${cluster.instances[0].url}${path}?_rsc=e2e`, { headers })
  if (res.status !== 307 && res.status !== 308) return `${path}?_rsc=e2e`
  const to = new URL(res.headers.location, cluster.instances[0].url)
  return to.pathname + to.search
}

/** Until the CDN serves a fresh HIT (two reads: the second must come from Varnish's cache). */
async function assertCachedAtCdn(varnish, path, headers, rev) {
  let last
  for (let i = 0; i < 20; i++) {
    last = await viaCdn(varnish, path, headers)
    if (last.status === 200 && last.xcache === 'HIT' && (rev === undefined || last.rev === rev)) return last
  }
  assert.fail(`${path}: no HIT${rev ? ` of rev ${rev}` : ''} at the CDN (last: ${last.status} ${last.xcache} rev=${last.rev})`)
}

/** Polls the CDN until it serves `rev`; returns how long that took after `t0`. */
async function untilCdnServes(varnish, path, headers, rev, t0) {
  let last
  while (Date.now() - t0 < CDN_DEADLINE_MS) {
    last = await viaCdn(varnish, path, headers)
    if (last.status === 200 && last.rev === rev) return Date.now() - t0
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.fail(`${path}: the CDN still served rev=${last?.rev} (${last?.xcache}) ${CDN_DEADLINE_MS} ms after the webhook, want ${rev}`)
}

for (const version of e2eVersions()) {
  describe(`Next ${version}: a Varnish CDN in front is purged by every kind of revalidation`, () => {
    let varnishPort
    let varnish
    before(async () => {
      varnishPort = await freePort()
    })
    const step = useCluster(() => ({
      version,
      instances: 3,
      useSharedIsr: true,
      redis: true,
      env: { SHARED_ISR_CDN_URL: `varnish://127.0.0.1:${varnishPort}` },
    }))
    after(async () => {
      await varnish?.stop()
    })

    // Varnish's backend is the balancer, known once the cluster is up.
    const start = async (cluster) => {
      if (!varnish) varnish = await startVarnish({ backend: new URL(cluster.lbUrl).host, port: varnishPort })
      return varnish
    }

    const cases = [
      {
        name: 'revalidateTag (App Router page)',
        path: '/posts/redis-notes',
        headers: {},
        hook: (c) => c.revalidate({ tags: ['post:redis-notes'] }),
      },
      {
        name: 'revalidateTag (the same page as an RSC request)',
        path: '/posts/redis-notes',
        // As Next's router asks: the RSC header and a cache-busting `_rsc` parameter.
        rscQuery: true,
        headers: { RSC: '1' },
        hook: (c) => c.revalidate({ tags: ['post:redis-notes'] }),
      },
      {
        name: 'revalidatePath (App Router page)',
        path: '/posts/redis-notes',
        headers: {},
        hook: (c) => c.revalidate({ paths: ['/posts/redis-notes'] }),
      },
      { name: 'revalidateTag (route handler)', path: '/api/products', headers: {}, hook: (c) => c.revalidate({ tags: ['products'] }) },
      ...(version === '16'
        ? [
            {
              // Stale-while-revalidate: the purge lets the CDN fetch the stale page Next serves
              // while it regenerates; the regenerated entry's write purges it again.
              name: "revalidateTag(tag, 'max') (stale while it regenerates)",
              path: '/posts/redis-notes',
              headers: {},
              hook: (c) => c.revalidate({ tags: ['post:redis-notes'], profile: 'max' }),
            },
          ]
        : []),
      { name: 'res.revalidate (Pages Router page)', path: '/shop/sticker', headers: {}, hook: (c) => c.revalidatePages(['/shop/sticker']) },
    ]

    for (const c of cases) {
      step(c.name, async (cluster, t) => {
        const cdn = await start(cluster)
        const path = c.rscQuery ? await rscPath(cluster, c.path, c.headers) : c.path
        const before = await assertCachedAtCdn(cdn, path, c.headers)
        const rev = newRev('cdn')
        cluster.setCms(cmsWithRev(rev))
        // Without a purge the CDN keeps its copy for the page's s-maxage: still the old one.
        const still = await viaCdn(cdn, path, c.headers)
        assert.equal(still.xcache, 'HIT')
        assert.equal(still.rev, before.rev)
        const hook = await c.hook(cluster)
        assert.equal(hook.status, 200, hook.body)
        const ms = await untilCdnServes(cdn, path, c.headers, rev, Date.now())
        t.diagnostic(`${c.name}: the CDN served the new page ${ms} ms after the webhook answered`)
        await assertCachedAtCdn(cdn, path, c.headers, rev)
      })
    }
  })
}
