'use strict'
// lib/codec.js: a Next cache value <-> one Buffer, losslessly, binary kept binary.

const test = require('node:test')
const assert = require('node:assert/strict')
const { encodeValue, decodeValue, CodecError } = require('../lib/codec')
const { assertLossless } = require('./helpers/common')
const { versions, bytes, multiByteText } = require('./helpers/values')

const all = versions()

for (const [version, { values }] of Object.entries(all)) {
  for (const [name, { value }] of Object.entries(values)) {
    test(`round-trips ${version} ${name}`, () => {
      const buf = encodeValue(value)
      assert.ok(Buffer.isBuffer(buf))
      const back = decodeValue(buf)
      assertLossless(back, value)
      if (value && 'rscData' in value && value.rscData === undefined) assert.equal(typeof back.rscData, 'undefined')
      if (value && 'postponed' in value && value.postponed === undefined) assert.equal(typeof back.postponed, 'undefined')
      // Decoding twice gives the same thing (decode does not consume or mutate its input).
      assertLossless(decodeValue(buf), value)
    })
  }
}

test('binary fields are stored as raw bytes, never base64 or JSON arrays', () => {
  const rsc = bytes(20_000, 42)
  const seg = bytes(10_000, 43)
  const body = bytes(30_000, 44)
  const page = encodeValue({ kind: 'APP_PAGE', html: 'x', rscData: rsc, headers: {}, status: 200, segmentData: new Map([['/_tree', seg]]) })
  assert.ok(page.indexOf(rsc) > 0, 'rscData bytes appear verbatim')
  assert.ok(page.indexOf(seg) > 0, 'segment bytes appear verbatim')
  assert.ok(page.length < rsc.length + seg.length + 1024, `encoded size ${page.length} is close to the raw size`)
  assert.equal(page.indexOf(Buffer.from(rsc.subarray(0, 64).toString('base64'))), -1, 'no base64 copy')

  const route = encodeValue({ kind: 'APP_ROUTE', body, status: 200, headers: {} })
  assert.ok(route.indexOf(body) > 0)
  assert.ok(route.length < body.length + 512)
})

test('large strings are stored as UTF-8 bytes, not JSON-escaped', () => {
  const html = multiByteText(10_000).replace(/"/g, '"\\"')
  const fetchBody = JSON.stringify({ text: multiByteText(5000) })
  const page = encodeValue({ kind: 'PAGES', html, pageData: {}, headers: undefined, status: undefined })
  assert.ok(page.indexOf(Buffer.from(html, 'utf8')) > 0, 'html bytes appear verbatim')
  const fetch = encodeValue({ kind: 'FETCH', data: { headers: {}, body: fetchBody, url: '' }, revalidate: 60 })
  assert.ok(fetch.indexOf(Buffer.from(fetchBody, 'utf8')) > 0, 'fetch body appears verbatim')
  assert.equal(decodeValue(fetch).data.body, fetchBody)
  assert.equal(decodeValue(page).html, html)
})

test('subarray views: only the view is stored, and it comes back exactly', () => {
  const arena = bytes(100_000, 5)
  const view = arena.subarray(50_000, 50_010)
  const u8 = new Uint8Array(arena.buffer, arena.byteOffset + 10, 5) // a plain Uint8Array view
  const value = {
    kind: 'APP_PAGE',
    html: '',
    rscData: view,
    headers: {},
    status: 200,
    segmentData: new Map([
      ['/a', u8],
      ['/b', arena.subarray(7, 7)],
    ]),
  }
  const buf = encodeValue(value)
  assert.ok(buf.length < 1000, `encoded ${buf.length} bytes for 15 bytes of views`)
  const back = decodeValue(buf)
  assertLossless(back, value)
  assert.ok(Buffer.isBuffer(back.segmentData.get('/a')), 'Uint8Array comes back as a Buffer')
  assert.equal(back.segmentData.get('/b').length, 0)
})

test('undefined fields never come back as null; null fields stay null', () => {
  const back = decodeValue(
    encodeValue({
      kind: 'APP_PAGE',
      html: 'h',
      rscData: undefined,
      headers: undefined,
      postponed: undefined,
      status: undefined,
      segmentData: undefined,
    }),
  )
  for (const f of ['rscData', 'headers', 'postponed', 'status', 'segmentData']) {
    assert.equal(back[f], undefined, f)
    assert.notEqual(back[f], null, f)
  }
  const withNull = decodeValue(encodeValue({ kind: 'PAGES', html: '', pageData: { a: null }, headers: null, status: undefined }))
  assert.equal(withNull.headers, null)
  assert.equal(withNull.pageData.a, null)
})

test('null (cached 404) round-trips; non-object values are refused', () => {
  assert.equal(decodeValue(encodeValue(null)), null)
  assert.throws(() => encodeValue('html'), TypeError)
  assert.throws(() => encodeValue(42), TypeError)
})

test('the input is copied: mutating it after encoding changes nothing', () => {
  const body = bytes(2000, 8)
  const value = { kind: 'APP_ROUTE', body, status: 200, headers: { a: ['1'] } }
  const buf = encodeValue(value)
  const copy = Buffer.from(body)
  body.fill(0)
  value.headers.a.push('2')
  const back = decodeValue(buf)
  assert.ok(back.body.equals(copy))
  assert.deepEqual(back.headers, { a: ['1'] })
})

function expectCorrupt(buf, what) {
  assert.throws(
    () => decodeValue(buf),
    (err) => err instanceof CodecError && err.code === 'ERR_SHARED_ISR_CORRUPT',
    what,
  )
}

function rewriteMeta(buf, edit) {
  const metaLen = buf.readUInt32LE(0)
  const meta = JSON.parse(buf.toString('utf8', 4, 4 + metaLen))
  const newMeta = Buffer.from(JSON.stringify(edit(meta)))
  const head = Buffer.alloc(4)
  head.writeUInt32LE(newMeta.length)
  return Buffer.concat([head, newMeta, buf.subarray(4 + metaLen)])
}

test('malformed payloads throw CodecError (ERR_SHARED_ISR_CORRUPT)', () => {
  const good = encodeValue({ kind: 'APP_ROUTE', body: bytes(100, 1), status: 200, headers: {} })
  expectCorrupt(Buffer.alloc(0), 'empty')
  expectCorrupt(Buffer.from([1, 0]), 'shorter than the length prefix')
  expectCorrupt(good.subarray(0, 10), 'truncated meta')
  expectCorrupt(good.subarray(0, good.length - 1), 'truncated blob')
  expectCorrupt(Buffer.concat([good, Buffer.from([0])]), 'trailing byte')
  expectCorrupt(Buffer.from('\x05\x00\x00\x00{not json'), 'meta not JSON')
  expectCorrupt(
    rewriteMeta(good, (m) => ({ ...m, f: 2 })),
    'another codec format version',
  )
  expectCorrupt(
    rewriteMeta(good, (m) => ({ ...m, b: [-1] })),
    'negative blob length',
  )
  expectCorrupt(
    rewriteMeta(good, (m) => ({ ...m, r: [['body', 'b', 7]] })),
    'blob index out of range',
  )
  expectCorrupt(
    rewriteMeta(good, (m) => ({ ...m, r: [['body', 'z', 0]] })),
    'unknown ref type',
  )
  assert.throws(() => decodeValue('not a buffer'), CodecError)
})
