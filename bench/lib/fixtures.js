'use strict'
// Payloads taken from a real build of the e2e app (examples/blog), saved under bench/fixtures/
// so every run (and every machine) measures the same bytes.
//
//   page-real/   one prerendered App Router page as Next wrote it (html, rsc, segments, meta)
//   page-100k/   the same page padded to ~100 KB by concatenating the same parts of the other
//                real pages of the build (html with html, rsc with rsc, each segment with the
//                same segment of the other pages), keeping the real page's proportions
//   fetch-2k.json  a real FETCH entry of the app (its CMS response), body extended to ~2 KB
//   source.json  where it all came from, sizes
// The 1 MB page is generated at run time: ten copies of each part of the 100 KB page.

const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')

const ROOT = path.resolve(__dirname, '..', '..')
const FIXTURES = path.join(__dirname, '..', 'fixtures')
const TARGET_PAGE = 100 * 1024
const TARGET_FETCH = 2 * 1024

// The page used as "the" page, and the builds searched (first with .segments wins).
const PAGE = 'posts/hello-world'
const BUILDS = ['next16/.next-shared', 'next16/.next-default', 'next15/.next-shared', 'next15/.next-default']

function findBuild() {
  const work = path.join(ROOT, 'examples', '.work')
  const found = BUILDS.map((b) => path.join(work, b, 'server', 'app')).filter((d) => fs.existsSync(path.join(d, `${PAGE}.html`)))
  return found.find((d) => fs.existsSync(path.join(d, `${PAGE}.segments`))) || found[0] || null
}

function listPages(appDir) {
  const out = []
  const walk = (rel) => {
    for (const ent of fs.readdirSync(path.join(appDir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${ent.name}` : ent.name
      if (ent.isDirectory() && !ent.name.endsWith('.segments') && !ent.name.startsWith('[')) walk(r)
      else if (ent.isFile() && ent.name.endsWith('.html') && !ent.name.startsWith('_')) {
        const base = r.slice(0, -5)
        if (fs.existsSync(path.join(appDir, `${base}.rsc`)) && fs.existsSync(path.join(appDir, `${base}.meta`))) out.push(base)
      }
    }
  }
  walk('')
  // The page itself first, then the others in a stable order.
  return [PAGE, ...out.filter((p) => p !== PAGE).sort()]
}

/** Segment files of a page: [{ key: '/_tree', file: abs path, cls: '_tree' }] */
function segmentsOf(appDir, page) {
  let meta
  try {
    meta = JSON.parse(fs.readFileSync(path.join(appDir, `${page}.meta`), 'utf8'))
  } catch {
    return []
  }
  const dir = path.join(appDir, `${page}.segments`)
  return (meta.segmentPaths || [])
    .map((key) => ({ key, file: path.join(dir, `${key}.segment.rsc`), cls: key.endsWith('__PAGE__') ? '__PAGE__' : key }))
    .filter((s) => fs.existsSync(s.file))
}

function readPage(appDir, page) {
  return {
    html: fs.readFileSync(path.join(appDir, `${page}.html`)),
    rsc: fs.readFileSync(path.join(appDir, `${page}.rsc`)),
    meta: JSON.parse(fs.readFileSync(path.join(appDir, `${page}.meta`), 'utf8')),
    segments: segmentsOf(appDir, page).map((s) => ({ ...s, data: fs.readFileSync(s.file) })),
  }
}

/**
 * Concatenates pieces (first = the page's own) until `target` bytes; the last piece is cut at
 * a UTF-8 character boundary so the result is `target` bytes or a few less.
 */
function pad(pieces, target) {
  const parts = []
  let len = 0
  let used = 0
  for (let i = 0; len < target; i++) {
    let p = pieces[i % pieces.length]
    if (len + p.length > target) {
      let cut = target - len
      while (cut > 0 && (p[cut] & 0xc0) === 0x80) cut-- // not inside a multi-byte character
      p = p.subarray(0, cut)
      if (cut === 0) break
    }
    parts.push(p)
    len += p.length
    used++
  }
  return { buf: Buffer.concat(parts), used, distinct: Math.min(used, pieces.length) }
}

function writePage(dir, page) {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'page.html'), page.html)
  fs.writeFileSync(path.join(dir, 'page.rsc'), page.rsc)
  const segs = page.segments.map((s, i) => {
    fs.writeFileSync(path.join(dir, `segment-${i}.rsc`), s.data)
    return { key: s.key, file: `segment-${i}.rsc` }
  })
  fs.writeFileSync(
    path.join(dir, 'meta.json'),
    JSON.stringify(
      { headers: page.meta.headers, status: page.meta.status ?? 200, segments: segs, routeCacheKey: page.meta.routeCache?.key },
      null,
      2,
    ) + '\n',
  )
}

function findFetchEntry(appDir) {
  // <dist>/server/app -> <dist>/cache/fetch-cache (left there by `next build`)
  const dirs = [path.join(appDir, '..', '..', 'cache', 'fetch-cache')]
  for (const b of BUILDS) dirs.push(path.join(ROOT, 'examples', '.work', b, 'cache', 'fetch-cache'))
  let best = null
  for (const d of dirs) {
    if (!fs.existsSync(d)) continue
    for (const f of fs.readdirSync(d)) {
      const file = path.join(d, f)
      const size = fs.statSync(file).size
      try {
        const v = JSON.parse(fs.readFileSync(file, 'utf8'))
        if (v.kind === 'FETCH' && (!best || size > best.size)) best = { file, size, value: v }
      } catch {}
    }
    if (best) break
  }
  return best
}

/** Builds bench/fixtures/ from the e2e build. Returns the source description. */
function generateFixtures(log = console.error) {
  const appDir = findBuild()
  if (!appDir) throw new Error('no build of examples/blog found under examples/.work (run the e2e harness build first)')
  const pages = listPages(appDir)
  const real = readPage(appDir, PAGE)
  const others = pages.map((p) => readPage(appDir, p))
  fs.mkdirSync(FIXTURES, { recursive: true })
  writePage(path.join(FIXTURES, 'page-real'), real)

  const realTotal = real.html.length + real.rsc.length + real.segments.reduce((a, s) => a + s.data.length, 0)
  const scale = TARGET_PAGE / realTotal
  const html = pad(
    others.map((p) => p.html),
    Math.round(real.html.length * scale),
  )
  const rsc = pad(
    others.map((p) => p.rsc),
    Math.round(real.rsc.length * scale),
  )
  const segments = real.segments.map((s) => {
    const same = others.map((p) => p.segments.find((o) => o.cls === s.cls)?.data).filter(Boolean)
    const r = pad(same, Math.round(s.data.length * scale))
    return { key: s.key, data: r.buf, used: r.used, distinct: r.distinct }
  })
  writePage(path.join(FIXTURES, 'page-100k'), { html: html.buf, rsc: rsc.buf, meta: real.meta, segments })

  const fetchEntry = findFetchEntry(appDir)
  if (!fetchEntry) throw new Error('no fetch-cache entry found in the build')
  const v = fetchEntry.value
  const body = JSON.parse(Buffer.from(v.data.body, 'base64').toString('utf8'))
  const grown = { ...body, archive: [] }
  const withBody = () => ({ ...v, data: { ...v.data, body: Buffer.from(JSON.stringify(grown, null, 2) + '\n').toString('base64') } })
  let value = v
  for (let i = 0; ; i++) {
    grown.archive.push(body.posts[i % body.posts.length])
    const next = withBody()
    if (Math.abs(JSON.stringify(next).length - TARGET_FETCH) > Math.abs(JSON.stringify(value).length - TARGET_FETCH)) {
      grown.archive.pop()
      break
    }
    value = next
  }
  fs.writeFileSync(path.join(FIXTURES, 'fetch-2k.json'), JSON.stringify(value, null, 2) + '\n')

  const source = {
    build: path.relative(ROOT, appDir),
    nextVersion: readNextVersion(appDir),
    page: PAGE,
    realBytes: { html: real.html.length, rsc: real.rsc.length, segments: real.segments.map((s) => [s.key, s.data.length]) },
    padded: {
      html: { bytes: html.buf.length, pieces: html.used, distinctPages: html.distinct },
      rsc: { bytes: rsc.buf.length, pieces: rsc.used, distinctPages: rsc.distinct },
      segments: segments.map((s) => ({ key: s.key, bytes: s.data.length, pieces: s.used, distinctPages: s.distinct })),
      pagesAvailable: pages.length,
    },
    fetch: {
      from: path.relative(ROOT, fetchEntry.file),
      realBytes: fetchEntry.size,
      bytes: JSON.stringify(value).length,
      archiveCopies: grown.archive.length,
    },
    generated: new Date().toISOString(),
  }
  fs.writeFileSync(path.join(FIXTURES, 'source.json'), JSON.stringify(source, null, 2) + '\n')
  log(`[bench] fixtures written from ${source.build} (${pages.length} real pages)`)
  return source
}

function readNextVersion(appDir) {
  // <work>/nextNN/.next-x/server/app -> <work>/nextNN/node_modules/next/package.json
  try {
    return JSON.parse(fs.readFileSync(path.join(appDir, '..', '..', '..', 'node_modules', 'next', 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

function loadPage(dir) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'))
  return {
    html: fs.readFileSync(path.join(dir, 'page.html'), 'utf8'),
    rsc: fs.readFileSync(path.join(dir, 'page.rsc')),
    segments: meta.segments.map((s) => [s.key, fs.readFileSync(path.join(dir, s.file))]),
    headers: meta.headers,
    status: meta.status,
    routeCacheKey: meta.routeCacheKey,
  }
}

function times(page, n) {
  return {
    ...page,
    html: page.html.repeat(n),
    rsc: Buffer.concat(Array(n).fill(page.rsc)),
    segments: page.segments.map(([k, b]) => [k, Buffer.concat(Array(n).fill(b))]),
  }
}

function fixturesPresent() {
  return ['page-real/meta.json', 'page-100k/meta.json', 'fetch-2k.json', 'source.json'].every((f) => fs.existsSync(path.join(FIXTURES, f)))
}

/** { real, page100k, page1m, fetch2k, small, source } */
function loadFixtures() {
  const real = loadPage(path.join(FIXTURES, 'page-real'))
  const page100k = loadPage(path.join(FIXTURES, 'page-100k'))
  const fetch2k = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'fetch-2k.json'), 'utf8'))
  const source = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'source.json'), 'utf8'))
  // A small page for the revalidateTag populations (1M entries): the head of the real page.
  const small = {
    ...real,
    html: real.html.slice(0, 400),
    rsc: real.rsc.subarray(0, 200),
    segments: [],
  }
  return { real, page100k, page1m: times(page100k, 10), fetch2k, small, source }
}

function pageBytes(p) {
  return Buffer.byteLength(p.html) + p.rsc.length + p.segments.reduce((a, [, b]) => a + b.length, 0)
}

/** Raw bytes of a page (html + rsc + segments), what the raw-Redis floor stores. */
function pageRaw(p) {
  return Buffer.concat([Buffer.from(p.html), p.rsc, ...p.segments.map(([, b]) => b)])
}

function compressionRatios(buf) {
  return {
    gzip6: buf.length / zlib.gzipSync(buf, { level: 6 }).length,
    brotli5: buf.length / zlib.brotliCompressSync(buf, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }).length,
  }
}

module.exports = { FIXTURES, generateFixtures, fixturesPresent, loadFixtures, pageBytes, pageRaw, compressionRatios }
