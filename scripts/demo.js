#!/usr/bin/env node
'use strict'
// `npm run demo`: three Next.js instances behind a round-robin load balancer, sharing one ISR
// cache in Redis through shared-isr. Change the CMS content, send the webhook once, watch every
// instance update.
//
//   npm run demo                    Next 16, balancer on :3000, instances on :3001-3003
//   npm run demo -- --compare       also Next's default cache on :4000-4003, same CMS
//   npm run demo -- --cdn           a Varnish CDN in front that shared-isr purges (:3100), and
//                                   one nobody purges (:3200), to see the difference
//   DEMO_NEXT_VERSION=15 npm run demo        14, 15 or 16
//   DEMO_PORT=5000 npm run demo              other ports (compare: DEMO_PORT + 1000)
//
// It installs what it needs on the first run: the addon (`npm run build`, needs Rust) when
// shared-isr.<platform>.node is missing, and the pinned Next.js into examples/.work/. It builds
// the example app once (cached) and starts redis-server on a free port if one is installed;
// without it the instances fall back to the in-memory store and do NOT share.
// Ctrl-C stops everything it started.

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const CMS_SOURCE = path.join(ROOT, 'examples', 'blog', 'data', 'cms.json')
const SECRET = 'demo-secret'

function usage() {
  return `Usage: npm run demo [-- --compare] [-- --cdn]

  --compare          also run the same app with Next's default cache (ports DEMO_PORT+1000...)
  --cdn              put a Varnish CDN in front of the balancer, purged by shared-isr (DEMO_PORT+100),
                     and a second one nobody purges (DEMO_PORT+200); installs Varnish with apt as root
  DEMO_NEXT_VERSION  14, 15 or 16 (default 16)
  DEMO_PORT          balancer port, instances on the next three (default 3000)
  REDIS_SERVER       redis-server binary (default: redis-server on PATH)`
}

/**
 * The webhook's headers: the secret goes in `x-revalidate-secret`, as the README's webhook
 * route and the example apps check it (__test__/docs.test.js sends this to the README's route).
 */
const webhookHeaders = (secret) => ({ 'x-revalidate-secret': secret, 'content-type': 'application/json' })

/** The curl line the demo prints for a webhook call. */
function webhookCurl(url, body, secret) {
  const headers = Object.entries(webhookHeaders(secret)).map(([k, v]) => ` -H '${k}: ${v}'`)
  return `curl -s -X POST ${url}${headers.join('')} -d '${JSON.stringify(body)}'`
}

const say = (...lines) => console.log(lines.join('\n'))
const step = (msg) => console.log(`\n==> ${msg}`)

function fail(msg) {
  console.error(`\ndemo: ${msg}`)
  process.exit(1)
}

function run(cmd, args, opts = {}) {
  say(`    $ ${[cmd, ...args].join(' ')}`)
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts })
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`)
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status})`)
}

function hasCommand(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' })
  return !r.error && r.status === 0
}

/** The addon is built by the package's own `npm run build` (napi-rs, needs cargo). */
function ensureAddon() {
  const built = fs.readdirSync(ROOT).some((f) => /^shared-isr\.[\w-]+\.node$/.test(f))
  if (built) return
  step('Building the native addon (first run only)')
  if (!hasCommand('cargo'))
    fail('the native addon is not built and cargo (Rust) was not found: install Rust from https://rustup.rs and run again')
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '@napi-rs', 'cli'))) {
    run('npm', [fs.existsSync(path.join(ROOT, 'package-lock.json')) ? 'ci' : 'install', '--no-audit', '--no-fund'])
  }
  run('npm', ['run', 'build'])
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

async function checkPorts(ports) {
  for (const p of ports) {
    if (!(await portFree(p))) fail(`port ${p} is in use. Pick other ports, e.g. DEMO_PORT=5000 npm run demo`)
  }
}

function editCommand(cmsFile) {
  // Node is there for sure; `fs` is a global in `node -e`.
  return (
    `node -e 'const f=process.argv[1],c=JSON.parse(fs.readFileSync(f));` +
    `c.rev="edit-"+Date.now().toString(36);c.posts[0].title="Hello world, edited at "+new Date().toLocaleTimeString();` +
    `fs.writeFileSync(f,JSON.stringify(c,null,2))' ${JSON.stringify(cmsFile)}`
  )
}

async function main() {
  const args = process.argv.slice(2)
  if (args.includes('--help') || args.includes('-h')) return say(usage())
  const unknown = args.filter((a) => a !== '--compare' && a !== '--cdn')
  if (unknown.length) fail(`unknown argument(s) ${unknown.join(' ')}\n\n${usage()}`)
  const compare = args.includes('--compare')
  const withCdn = args.includes('--cdn')

  const { VERSIONS, normalizeMajor, ensureInstalled, WORK_ROOT } = require('./e2e/install-next')
  let major
  try {
    major = normalizeMajor(process.env.DEMO_NEXT_VERSION || '16')
  } catch (e) {
    fail(e.message)
  }
  const base = Number(process.env.DEMO_PORT || 3000)
  if (!Number.isInteger(base) || base < 1 || base > 65535 - 1004) fail(`DEMO_PORT must be a port number, got ${process.env.DEMO_PORT}`)
  const sharedPorts = { lb: base, instances: [base + 1, base + 2, base + 3] }
  const defaultPorts = { lb: base + 1000, instances: [base + 1001, base + 1002, base + 1003] }
  const cdnPorts = { purged: base + 100, plain: base + 200 }
  await checkPorts([
    sharedPorts.lb,
    ...sharedPorts.instances,
    ...(compare ? [defaultPorts.lb, ...defaultPorts.instances] : []),
    ...(withCdn ? [cdnPorts.purged, cdnPorts.plain] : []),
  ])

  say(
    `shared-isr demo: Next.js ${VERSIONS[major].next}, 3 instances behind a load balancer${compare ? ", and the same with Next's default cache" : ''}`,
  )
  ensureAddon()

  step(`Installing Next.js ${VERSIONS[major].next} (first run only)`)
  await ensureInstalled(major)

  // Required only now: it loads the addon's package paths and registers cleanup hooks.
  const { startCluster, buildApp, onSignal, redisServerAvailable, request } = require('./e2e/harness')

  const redisVersion = redisServerAvailable()
  const { startVarnish, varnishAvailable } = require('./e2e/varnish')
  if (withCdn && !varnishAvailable()) {
    step('Installing Varnish with the xkey vmod (first run only)')
    if (process.getuid?.() === 0) run('bash', [path.join(ROOT, 'scripts', 'ensure-system.sh')])
    if (!varnishAvailable()) fail('--cdn needs varnishd and the xkey vmod: apt-get install varnish varnish-modules')
  }
  step('Building the example app (examples/blog; cached after the first run)')
  await buildApp({ version: major, mode: 'shared' })
  if (compare) await buildApp({ version: major, mode: 'default' })

  // A fresh copy of the example CMS every run, at a fixed place the instructions can name.
  const demoDir = path.join(WORK_ROOT, 'demo')
  fs.mkdirSync(demoDir, { recursive: true })
  const cmsFile = path.join(demoDir, 'cms.json')
  fs.copyFileSync(CMS_SOURCE, cmsFile)

  const clusters = []
  let stopping = false
  async function stopAll(reason) {
    if (stopping) return
    stopping = true
    say('', `Stopping (${reason}): instances, balancer${redisVersion ? ', redis-server' : ''}${withCdn ? ', Varnish' : ''} ...`)
    const timer = setTimeout(() => {
      console.error('demo: stopping took too long; killing what is left')
      process.exit(1)
    }, 20_000)
    await Promise.all(clusters.map((c) => c.stop().catch((e) => console.error(`demo: ${e.message}`))))
    clearTimeout(timer)
    say('Stopped. Nothing left running.')
    process.exit(0)
  }
  onSignal((sig) => stopAll(sig))

  step(
    redisVersion
      ? `Starting redis-server ${redisVersion}, 3 instances and the balancer`
      : 'Starting 3 instances and the balancer (no redis-server found)',
  )
  const shared = await startCluster({
    version: major,
    instances: 3,
    useSharedIsr: true,
    ...(redisVersion ? { redis: true } : { store: 'memory' }),
    cmsFile,
    secret: SECRET,
    lbPort: sharedPorts.lb,
    instancePorts: sharedPorts.instances,
    removeOnExit: true,
    ...(withCdn ? { env: { SHARED_ISR_CDN_URL: `varnish://127.0.0.1:${cdnPorts.purged}` } } : {}),
  })
  clusters.push(shared)
  let cdns = null
  if (withCdn) {
    step(`Starting Varnish on :${cdnPorts.purged} (purged by shared-isr) and :${cdnPorts.plain} (purged by nobody)`)
    const backend = new URL(shared.lbUrl).host
    cdns = { purged: await startVarnish({ backend, port: cdnPorts.purged }) }
    clusters.push(cdns.purged)
    cdns.plain = await startVarnish({ backend, port: cdnPorts.plain })
    clusters.push(cdns.plain)
  }
  let plain = null
  if (compare) {
    step("Starting the same app with Next's default cache")
    plain = await startCluster({
      version: major,
      instances: 3,
      useSharedIsr: false,
      cmsFile,
      secret: SECRET,
      lbPort: defaultPorts.lb,
      instancePorts: defaultPorts.instances,
      removeOnExit: true,
    })
    clusters.push(plain)
  }
  // Render every page once so the first look shows cached pages.
  for (const c of clusters) for (const i of c.instances ?? []) await request(`${i.url}/posts/hello-world`).catch(() => {})
  // Each CDN fetches the page once and serves it from its cache from then on.
  if (cdns)
    for (const v of [cdns.purged, cdns.plain]) for (let k = 0; k < 2; k++) await request(`${v.url}/posts/hello-world`).catch(() => {})

  const urls = (c) => c.instances.map((i) => i.url).join('  ')
  const page = '/posts/hello-world'
  const ports = (c) => c.instances.map((i) => i.port).join(' ')
  // Prints "<port>: <title> rendered by <instance>" for each instance.
  const peek = (c) =>
    `for p in ${ports(c)}; do echo "$p: $(curl -s http://127.0.0.1:$p${page} | grep -o 'data-testid="\\(content\\|instance\\)">[^<]*' | sed -e 's/.*content">//' -e 's/.*instance">/rendered by /' | paste -sd' ')"; done`
  const webhook = (c, body) => `${webhookCurl(`${c.lbUrl}/api/revalidate`, body, SECRET)}; echo`
  const lines = [
    '',
    '==================================================================================',
    `shared-isr demo is running: Next.js ${shared.nextVersion}, 3 instances, ${
      redisVersion ? `one Redis (${shared.redisUrl})` : 'NO Redis'
    }`,
    '==================================================================================',
  ]
  if (!redisVersion) {
    lines.push(
      '',
      '  !! redis-server was not found, so every instance uses its own in-memory store:',
      '  !! the instances do NOT share a cache, and a webhook refreshes only the instance it',
      '  !! reaches. Install Redis (e.g. `apt install redis-server`, `brew install redis`) and',
      '  !! run the demo again to see them share.',
    )
  }
  lines.push('', `  Load balancer (round robin): ${shared.lbUrl}`, `  Instances:                   ${urls(shared)}`)
  if (cdns) lines.push(`  CDN purged by shared-isr:    ${cdns.purged.url}`, `  CDN purged by nobody:        ${cdns.plain.url}`)
  if (plain) {
    lines.push(
      '',
      "  Same app, Next's default cache (each instance its own cache):",
      `  Load balancer:               ${plain.lbUrl}`,
      `  Instances:                   ${urls(plain)}`,
    )
  }
  lines.push(
    '',
    'Open the same page on each instance, side by side:',
    ...shared.instances.map((i) => `  ${i.url}${page}`),
    '  Each page shows its title, the CMS revision, which instance rendered it and when.',
    '',
    '1. Change the content. The CMS is this JSON file (edit it, or run the line below):',
    `     ${cmsFile}`,
    `     ${editCommand(cmsFile)}`,
    '   Reload: the instances still show the old title (cached, revalidate = 1 hour).',
    '',
    '2. Send the CMS webhook once, through the load balancer (it reaches ONE instance):',
    `     ${webhook(shared, { tags: ['posts'] })}`,
    '   It answers with the instance that got it.',
    '',
    ...(redisVersion
      ? [
          '3. Reload the page on every instance: all of them show the new title, rendered once (by',
          '   the first instance asked for it) and shared through Redis. From a terminal:',
        ]
      : [
          '3. Reload the page on every instance: without Redis only the instance that got the',
          '   webhook shows the new title; the others keep their own copy. From a terminal:',
        ]),
    `     ${peek(shared)}`,
  )
  if (cdns) {
    lines.push(
      '',
      '4. The CDN in front (Varnish; X-Cache HIT means it answered from its own cache): the one',
      '   shared-isr purges shows the new title, the one nobody purges keeps the old page for the',
      "   page's s-maxage (an hour):",
      `     for c in ${cdnPorts.purged} ${cdnPorts.plain}; do echo "$c: $(curl -s -D - http://127.0.0.1:$c${page} | grep -o -i 'x-cache: [A-Z]*\\|data-testid="content">[^<]*' | sed -e 's/.*content">//' | paste -sd' ')"; done`,
    )
  }
  if (plain) {
    lines.push(
      '',
      "   With Next's default cache, the same webhook refreshes one instance only:",
      `     ${webhook(plain, { tags: ['posts'] })}`,
      `     ${peek(plain)}`,
    )
  }
  lines.push(
    '',
    'More to try:',
    `  ${shared.lbUrl}/ticker             time-based ISR every 3 s: one stale answer, then every instance fresh`,
    `  ${shared.lbUrl}/shop/mug           Pages Router (getStaticProps); change products[0].name in the CMS file, then:`,
    `     ${webhookCurl(`${shared.lbUrl}/api/revalidate-page`, { paths: ['/shop/mug'] }, SECRET)}; echo`,
    `  ${shared.lbUrl}/products/mug       App Router closed route (dynamicParams = false), tag "products"`,
    `  Webhook body: {"tags":[...]} (posts, products, news, live) or {"paths":["/posts/hello-world"]}`,
    '',
    `Logs: ${shared.runDir}${plain ? `, ${plain.runDir}` : ''} (removed on exit)`,
    'Press Ctrl-C to stop everything.',
    '',
  )
  say(...lines)

  // Stay up until a signal; the harness's servers do not keep the event loop alive themselves.
  setInterval(() => {}, 1 << 30)
}

module.exports = { usage, webhookHeaders, webhookCurl }

if (require.main === module) {
  main().catch((err) => {
    console.error(`\ndemo failed: ${err.stack || err.message}`)
    process.exit(1)
  })
}
