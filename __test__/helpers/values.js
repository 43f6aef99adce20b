'use strict'
// Cache values as Next 14.2, 15 and 16 hand them to `set` (spec §2.2), with the get/set ctx
// each version passes (spec §1.4, §1.5).

const crypto = require('node:crypto')

/** Deterministic pseudo-random bytes (every byte value appears). */
function bytes(n, seed = 1) {
  const out = Buffer.allocUnsafe(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** A string of ~`n` UTF-16 units mixing ASCII, 2-, 3- and 4-byte UTF-8 characters. */
function multiByteText(n) {
  const unit = '<p>Grüße, 東京 — naïve café 🚀 “quotes” \\ "esc" \n\t</p>'
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n - 2) + '🎉'
}

const TAGS = '_N_T_/layout,_N_T_/blog/layout,_N_T_/blog/[slug]/layout,_N_T_/blog/[slug]/page,_N_T_/blog/hello,posts'

function versions() {
  // A bigger buffer whose slices are handed over, as Next does for segment data.
  const arena = bytes(4096, 7)
  return {
    14.2: {
      getCtx: {
        app: { kindHint: 'app' },
        pages: { kindHint: 'pages' },
        fetch: (tags = [], softTags = []) => ({
          kindHint: 'fetch',
          revalidate: 60,
          fetchUrl: 'https://api.example/x',
          fetchIdx: 0,
          tags,
          softTags,
        }),
      },
      setCtx: {
        page: (revalidate = 60) => ({ revalidate }),
        fetch: (tags = [], revalidate = 60) => ({ fetchCache: true, revalidate, fetchUrl: 'https://api.example/x', fetchIdx: 0, tags }),
      },
      values: {
        'PAGE (app, pageData string)': {
          ctx: 'app',
          value: {
            kind: 'PAGE',
            html: `<!DOCTYPE html><html><body>${multiByteText(3000)}</body></html>`,
            pageData: `0:["$","div",null,{"children":"${multiByteText(1500)}"}]\n1:I{"id":123}\n`,
            postponed: undefined,
            headers: { 'x-next-cache-tags': TAGS, 'x-nextjs-stale-time': '300' },
            status: 200,
          },
        },
        'PAGE (pages, pageData object)': {
          ctx: 'pages',
          value: {
            kind: 'PAGE',
            html: '<html><body>small</body></html>',
            pageData: {
              pageProps: { post: { id: 1, title: 'héllo', tags: ['a', 'b'], draft: false, score: 1.5, none: null } },
              __N_SSG: true,
            },
            postponed: undefined,
            headers: undefined,
            status: undefined,
          },
        },
        ROUTE: {
          ctx: 'app',
          value: {
            kind: 'ROUTE',
            body: bytes(3000, 3),
            status: 201,
            headers: {
              'content-type': 'application/octet-stream',
              'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
              'content-length': 3000,
              'x-next-cache-tags': '_N_T_/layout,_N_T_/api/route,_N_T_/api',
            },
          },
        },
        FETCH: {
          ctx: 'fetch',
          value: {
            kind: 'FETCH',
            data: {
              headers: { 'content-type': 'application/json', etag: '"abc"' },
              body: Buffer.from('{"hello":"wörld"}').toString('base64'),
              url: 'https://api.example/x',
              status: 200,
            },
            revalidate: 60,
          },
        },
        REDIRECT: {
          ctx: 'pages',
          value: { kind: 'REDIRECT', props: { __N_REDIRECT: '/elsewhere', __N_REDIRECT_STATUS: 307, __N_REDIRECT_BASE_PATH: false } },
        },
        'null (cached 404)': { ctx: 'pages', value: null },
      },
    },
    16: {
      getCtx: {
        APP_PAGE: { kind: 'APP_PAGE', isRoutePPREnabled: false, isFallback: false },
        APP_ROUTE: { kind: 'APP_ROUTE', isFallback: false },
        PAGES: { kind: 'PAGES', isFallback: false },
        FETCH: (tags = [], softTags = []) => ({
          kind: 'FETCH',
          revalidate: 60,
          fetchUrl: 'https://api.example/y',
          fetchIdx: 1,
          tags,
          softTags,
        }),
      },
      setCtx: {
        page: (revalidate = 60, expire = 31536000, kind) => ({
          ...(kind ? { kind } : {}),
          cacheControl: { revalidate, expire },
          isRoutePPREnabled: false,
          isFallback: false,
        }),
        fetch: (tags = []) => ({ fetchCache: true, fetchUrl: 'https://api.example/y', fetchIdx: 1, tags, isImplicitBuildTimeCache: false }),
      },
      values: {
        APP_PAGE: {
          ctx: 'APP_PAGE',
          value: {
            kind: 'APP_PAGE',
            html: `<!DOCTYPE html><html><body>${multiByteText(5000)}</body></html>`,
            rscData: bytes(2500, 11),
            headers: { 'x-next-cache-tags': TAGS, 'x-nextjs-stale-time': '300', 'set-cookie': ['s=1', 's=2'], 'x-num': 7 },
            postponed: undefined,
            status: 200,
            segmentData: new Map([
              ['/_tree', bytes(300, 5)],
              ['/_full', arena.subarray(100, 900)],
              ['/blog/__PAGE__', Buffer.alloc(0)],
              ['/blog/[slug]', arena.subarray(4000, 4096)],
              ['/ünï/__PAGE__', Buffer.from('ü')],
            ]),
          },
        },
        'APP_PAGE (PPR shell: postponed, no rscData)': {
          ctx: 'APP_PAGE',
          value: {
            kind: 'APP_PAGE',
            html: '',
            rscData: undefined,
            headers: { 'x-next-cache-tags': '_N_T_/layout,_N_T_/ppr/page' },
            postponed: JSON.stringify({ type: 1, replay: [[1, 'x']], big: 'é'.repeat(1200) }),
            status: undefined,
            segmentData: undefined,
          },
        },
        'APP_PAGE (15.0 segmentData object)': {
          ctx: 'APP_PAGE',
          value: {
            kind: 'APP_PAGE',
            html: '<html>15.0</html>',
            rscData: Buffer.from('0:"rsc"\n'),
            headers: undefined,
            postponed: undefined,
            status: 200,
            segmentData: { '/_tree': '0:{"tree":1}', '/blog/__PAGE__': '' },
          },
        },
        APP_ROUTE: {
          ctx: 'APP_ROUTE',
          value: {
            kind: 'APP_ROUTE',
            body: arena.subarray(1000, 3500),
            status: 200,
            headers: {
              'content-type': 'image/png',
              'x-next-cache-tags': '_N_T_/layout,_N_T_/img/route,_N_T_/img',
              'cache-control': 'x',
              'x-count': 3,
            },
          },
        },
        'APP_ROUTE (empty body)': {
          ctx: 'APP_ROUTE',
          value: { kind: 'APP_ROUTE', body: Buffer.alloc(0), status: 204, headers: {} },
        },
        PAGES: {
          ctx: 'PAGES',
          value: {
            kind: 'PAGES',
            html: `<html>${multiByteText(1100)}</html>`,
            pageData: { pageProps: { list: [1, 'two', { three: 3 }], text: multiByteText(2000) }, __N_SSG: true },
            headers: undefined,
            status: undefined,
          },
        },
        'PAGES (fallback shell)': {
          ctx: 'PAGES',
          value: { kind: 'PAGES', html: '<html>fallback</html>', pageData: {}, headers: { 'x-a': ['1', '2'] }, status: 200 },
        },
        'FETCH (large body)': {
          ctx: 'FETCH',
          value: {
            kind: 'FETCH',
            data: { headers: {}, body: JSON.stringify({ posts: multiByteText(4000), n: 1 }), url: '' },
            tags: ['posts'],
            revalidate: 31536000,
          },
        },
        'FETCH (base64 body, status)': {
          ctx: 'FETCH',
          value: {
            kind: 'FETCH',
            data: {
              headers: { 'content-type': 'image/png' },
              body: bytes(5000, 9).toString('base64'),
              url: 'https://cdn.example/a.png',
              status: 200,
            },
            revalidate: 30,
          },
        },
        REDIRECT: {
          ctx: 'PAGES',
          value: { kind: 'REDIRECT', props: { __N_REDIRECT: '/to', __N_REDIRECT_STATUS: 308 } },
        },
        'null (cached 404)': { ctx: 'PAGES', value: null },
      },
    },
  }
}

/** A SHA-256 hex key like Next's fetch keys. */
const fetchKey = (s) => crypto.createHash('sha256').update(String(s)).digest('hex')

module.exports = { versions, bytes, multiByteText, fetchKey, TAGS }
