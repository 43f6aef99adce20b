'use strict';
// The product on real Next.js: three instances behind a load balancer share one Redis through
// the shared-isr cache handler. A CMS webhook that reaches ONE instance must be seen by EVERY
// instance on its very next request, and closed routes must keep answering 200.
//
// E2E_NEXT_VERSIONS=14,15,16 (default) selects the Next.js majors.
// The handler is the package's `shared-isr/handler` export (SHARED_ISR_E2E_HANDLER overrides).
const fs = require('node:fs');
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { e2eVersions, getPage, cmsWithRev, redisCommand, sleep, DEFAULT_HANDLER } = require('../../scripts/e2e/harness');
const { useCluster, warm, newRev, describeSeen } = require('./helpers');

const HANDLER = DEFAULT_HANDLER;

/** Changes the CMS, fires `revalidate()` through the balancer, then asks every instance once. */
async function changeAndRevalidate(cluster, t, { label, paths, revalidate }) {
  for (const inst of cluster.instances) for (const p of paths) await warm(inst, p);
  const rev = newRev(label);
  cluster.setCms(cmsWithRev(rev));
  const hook = await revalidate(cluster);
  assert.equal(hook.status, 200, `webhook answered ${hook.status}: ${hook.body}`);
  const receiver = hook.headers['x-e2e-upstream'];
  const seen = {};
  for (const p of paths) {
    seen[p] = [];
    for (const inst of cluster.instances) seen[p].push({ inst, page: await getPage(inst.url + p) });
    t.diagnostic(`${p}: webhook reached ${receiver}; next request: ${describeSeen(seen[p])}`);
  }
  return { rev, receiver, seen };
}

function assertAllNew(seen, rev, content) {
  for (const { inst, page } of seen) {
    assert.equal(page.status, 200, `${inst.name} answered ${page.status}`);
    assert.equal(page.markers.rev, rev, `${inst.name} still serves rev ${page.markers.rev} (rendered by ${page.markers.instance}) instead of ${rev}`);
    if (content) assert.equal(page.markers.content, content(rev), `${inst.name}`);
  }
}

for (const version of e2eVersions()) {
  describe(`next ${version}, shared-isr handler + redis, 3 instances`, () => {
    const step = useCluster({ version, instances: 3, useSharedIsr: true, redis: true, handler: HANDLER });

    step('the instances use the handler: entries land in the cluster\'s redis', async (cluster) => {
      assert.ok(fs.existsSync(HANDLER), `cache handler not found at ${HANDLER}`);
      const before = await redisCommand(cluster.redisUrl, 'DBSIZE');
      for (const inst of cluster.instances) await getPage(`${inst.url}/about`);
      await getPage(`${cluster.instances[0].url}/reviews/caching-101`); // rendered at runtime (blocking fallback)
      let after = await redisCommand(cluster.redisUrl, 'DBSIZE');
      for (let i = 0; i < 20 && after <= before; i++) {
        await sleep(100); // a set() may complete just after its response
        after = await redisCommand(cluster.redisUrl, 'DBSIZE');
      }
      assert.ok(after > before && after > 0, `redis holds ${after} keys (before: ${before})`);
    });

    step('closed routes (dynamicParams=false, fallback:false) answer 200 on every instance', async (cluster) => {
      for (const inst of cluster.instances) {
        for (const p of ['/products/mug', '/shop/mug']) {
          const page = await getPage(inst.url + p);
          assert.equal(page.status, 200, `${inst.name} ${p} answered ${page.status}`);
          assert.match(page.markers.content, /^Coffee mug/);
        }
      }
    });

    step('revalidateTag: every instance serves the new content on its next request', async (cluster, t) => {
      const p = '/posts/hello-world';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'tag',
        paths: [p],
        revalidate: (c) => c.revalidate({ tags: ['posts'] }),
      });
      assertAllNew(seen[p], rev, (r) => `Hello world [${r}]`);
    });

    step('revalidatePath: every instance serves the new content on its next request', async (cluster, t) => {
      const p = '/posts/caching-101';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'path',
        paths: [p],
        revalidate: (c) => c.revalidate({ paths: [p] }),
      });
      assertAllNew(seen[p], rev, (r) => `Caching 101 [${r}]`);
    });

    step('tagged fetch() in a page: every instance serves the new content', async (cluster, t) => {
      const p = '/news';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'fetch',
        paths: [p],
        revalidate: (c) => c.revalidate({ tags: ['news'] }),
      });
      assertAllNew(seen[p], rev, (r) => `The shop is open [${r}]`);
      for (const { page } of seen[p]) assert.equal(page.markers.source, 'fetch');
    });

    step('revalidateTag on a cached route handler: every instance serves the new content', async (cluster, t) => {
      const api = '/api/products';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'route',
        paths: [api],
        revalidate: (c) => c.revalidate({ tags: ['products'] }),
      });
      for (const { inst, page } of seen[api]) {
        assert.equal(page.status, 200, `${inst.name} ${api} answered ${page.status}`);
        const body = JSON.parse(page.body);
        assert.equal(body.rev, rev, `${inst.name} ${api} still serves rev ${body.rev} (rendered by ${body.instance})`);
        assert.equal(body.products[0].name, `Coffee mug [${rev}]`);
      }
    });

    // Before 16.4 Next has no way to regenerate a dynamicParams=false page in the foreground:
    // a cache miss is a 404 (NoFallbackError), and the "expired" answer (lastModified -1) makes
    // it serve the old page once while it regenerates. So on 14/15 the contract is: always 200,
    // new content as soon as that one regeneration has landed. On 16 it is the next request.
    step('revalidateTag on a closed route (dynamicParams=false): always 200, new content', async (cluster, t) => {
      const closed = '/products/mug';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'closed',
        paths: [closed],
        revalidate: (c) => c.revalidate({ tags: ['products'] }),
      });
      for (const { inst, page } of seen[closed]) assert.equal(page.status, 200, `${inst.name} ${closed} answered ${page.status}`);
      if (Number(version) >= 16) {
        assertAllNew(seen[closed], rev, (r) => `Coffee mug [${r}]`);
        return;
      }
      const deadline = Date.now() + 10_000;
      for (const inst of cluster.instances) {
        let page;
        do {
          page = await getPage(inst.url + closed);
          assert.equal(page.status, 200, `${inst.name} ${closed} answered ${page.status}`);
          if (page.markers.rev === rev) break;
          await sleep(100);
        } while (Date.now() < deadline);
        assert.equal(page.markers.rev, rev, `${inst.name} ${closed} still serves rev ${page.markers.rev} after 10 s`);
        assert.equal(page.markers.content, `Coffee mug [${rev}]`);
      }
    });

    step('res.revalidate on a Pages fallback:false page: every instance serves it, 200', async (cluster, t) => {
      const p = '/shop/mug';
      const { rev, seen } = await changeAndRevalidate(cluster, t, {
        label: 'pages',
        paths: [p],
        revalidate: (c) => c.revalidatePages([p]),
      });
      assertAllNew(seen[p], rev, (r) => `Coffee mug [${r}]`);
    });

    step('closed routes still answer 200 on every instance after all revalidations', async (cluster) => {
      for (const inst of cluster.instances) {
        for (const p of ['/products/mug', '/products/tshirt', '/shop/mug', '/shop/tshirt']) {
          const page = await getPage(inst.url + p);
          assert.equal(page.status, 200, `${inst.name} ${p} answered ${page.status}`);
        }
      }
    });
  });
}
