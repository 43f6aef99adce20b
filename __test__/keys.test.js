'use strict'
// lib/keys.js, the one home of the entry-key layout: what it builds, it parses back, whatever
// the build id holds.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { pageKey, fetchKey, useCacheKey, parseKey, escapeBuildId, pageKeyGlob, keyPathOf, nextKeyPath } = require('../lib/keys')

const ODD_IDS = [
  'rel-2024-06-01T12:30',
  'a:b',
  'a',
  ':',
  '::a::',
  '%',
  'a%3Ab', // an id that looks escaped is not confused with 'a:b'
  '100%:done',
  '%25',
  'team:prod:日本語:ü',
  '🚀:x',
  '*?[]\\',
  '',
]

test('a page key names its build: build → key → parse gives the same id and Next key', () => {
  for (const id of ODD_IDS) {
    for (const nextKey of ['/home', '/a:b/c', '/route-cache/APP_PAGE/0123abcd/$/x', '']) {
      const key = pageKey(id, nextKey)
      assert.deepEqual(parseKey(key), { kind: 'page', build: id, nextKey }, `${JSON.stringify(id)} ${JSON.stringify(nextKey)} → ${key}`)
    }
  }
})

test('distinct build ids never share a namespace', () => {
  const namespaces = new Set(ODD_IDS.map((id) => pageKey(id, '/x')))
  assert.equal(namespaces.size, ODD_IDS.length)
  // No id's keys start with another id's page prefix (what `purge --build` narrows its scan to).
  for (const a of ODD_IDS) for (const b of ODD_IDS) if (a !== b) assert.ok(!pageKey(a, '/x').startsWith(pageKey(b, '')), `${a} inside ${b}`)
})

test("ids without ':' or '%' keep their exact bytes (existing keys stay where they are)", () => {
  assert.equal(pageKey('dpl_42', '/d'), 'p:dpl_42:/d')
  assert.equal(pageKey('Xy_9-zzTop', '/k'), 'p:Xy_9-zzTop:/k')
  // The deployment id's escaping as it was: ':' as %3A, '%' as %25.
  assert.equal(pageKey('team:prod', '/c'), 'p:team%3Aprod:/c')
  assert.equal(escapeBuildId('50%:off'), '50%25%3Aoff')
  // Alternating ids (the one-id memo) still gives each its own key.
  assert.equal(pageKey('a:b', '/x'), 'p:a%3Ab:/x')
  assert.equal(pageKey('a', '/x'), 'p:a:/x')
  assert.equal(pageKey('a:b', '/x'), 'p:a%3Ab:/x')
})

test('fetch, use-cache and other keys parse as such, with no build', () => {
  assert.deepEqual(parseKey(fetchKey('abc:def')), { kind: 'fetch', build: null, nextKey: 'abc:def' })
  assert.deepEqual(parseKey(useCacheKey('["x",1]')), { kind: 'use-cache', build: null, nextKey: null })
  for (const other of ['', 'p:', 'p:no-second-colon', 'x:y', 'P:a:/b', 'shared-isr-doctor'])
    assert.deepEqual(parseKey(other), { kind: 'other', build: null, nextKey: null }, other)
})

test('scan globs: a build id is escaped as in its keys, glob characters matched literally', () => {
  assert.equal(pageKeyGlob(), 'p:*')
  assert.equal(pageKeyGlob({ build: 'a' }), 'p:a:*')
  assert.equal(pageKeyGlob({ build: 'a:b' }), 'p:a%3Ab:*')
  assert.equal(pageKeyGlob({ build: 'x*?[]\\' }), 'p:x\\*\\?\\[\\]\\\\:*')
  assert.equal(pageKeyGlob({ nextKeyEnd: '/p/[id]' }), 'p:*/p/\\[id\\]')
})

test("a path as Next keys it: '/' is '/index', paths under /index gain one more, and both key forms give it back", () => {
  for (const [path, keyed] of [
    ['/', '/index'],
    ['/index', '/index/index'],
    ['/index/a', '/index/index/a'],
    ['/index/[slug]', '/index/[slug]'], // a dynamic route is not normalized (Next's rule)
    ['/indexes', '/indexes'],
    ['/posts/a', '/posts/a'],
    ['/posts/index', '/posts/index'],
  ]) {
    assert.equal(keyPathOf(path), keyed, path)
    assert.equal(nextKeyPath(keyed), keyed, `${path}: the plain key`)
    assert.equal(nextKeyPath(`/route-cache/APP_PAGE/0123abcd/$${keyed}`), keyed, `${path}: the 16.4+ key`)
  }
})
