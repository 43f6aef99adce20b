'use strict'
// TLS (CA file, mutual TLS, server-name checks, #insecure only when asked), ACL users limited to
// a prefix, and errors that never carry secrets. Certificates are made by openssl per run.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const certs = require('./helpers/certs')
const { startRedis, freePort } = require('./helpers/redis')
const { aclLine, uniquePrefix, captureConsole } = require('./helpers/common')
const { loadLib } = require('./helpers/suite')

const api = loadLib()

const SECRET = 'p4ss-DO-NOT-LEAK'
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-tls-'))
const f = (name) => path.join(dir, name)
const makeCa = (name) => certs.makeCa(dir, name)
const makeCert = (name, ca, san) => certs.makeCert(dir, name, ca, san)

let tls // TLS port with optional client certs, plus a plain port for the test's own admin commands
let mtls // TLS port that requires a client certificate
let tlsPort
let mtlsPort
before(async () => {
  makeCa('ca')
  makeCa('other-ca')
  makeCert('server', 'ca', 'DNS:localhost') // deliberately not 127.0.0.1: server-name checks
  makeCert('client', 'ca', 'DNS:client')
  const common = ['--tls-cert-file', f('server.crt'), '--tls-key-file', f('server.key'), '--tls-ca-cert-file', f('ca.crt')]
  tlsPort = await freePort()
  tls = await startRedis(['--tls-port', String(tlsPort), '--tls-auth-clients', 'optional', ...common])
  mtlsPort = await freePort()
  mtls = await startRedis(['--tls-port', String(mtlsPort), '--tls-auth-clients', 'yes', ...common])
})
after(async () => {
  await api.close()
  await tls?.stop()
  await mtls?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

const route = (s, tags = 't') => ({ kind: 'APP_ROUTE', body: Buffer.from(s), status: 200, headers: { 'x-next-cache-tags': tags } })
const CTX = { kind: 'APP_ROUTE' }
const SET = { cacheControl: { revalidate: 60, expire: 600 } }
const base = (extra) => ({ prefix: uniquePrefix('sec'), buildId: 's', timeoutMs: 2000, connectTimeoutMs: 2000, ...extra })

async function roundTrip(options) {
  const H = api.createHandler(options)
  await new H({}).set('/tls', route('over tls'), SET)
  assert.equal((await new H({}).get('/tls', CTX))?.value?.body?.toString(), 'over tls')
  await new H({}).revalidateTag('t')
  assert.equal(await new H({}).get('/tls', CTX), null, 'revalidated')
  const s = api.stats(options)
  assert.deepEqual([s.setErrors, s.getErrors, s.revalidationErrors], [0, 0, 0], 'no command was refused')
  return H
}

async function refused(options, pattern) {
  const H = api.createHandler(options)
  const cap = captureConsole()
  try {
    assert.equal(await new H({}).get('/x', CTX), null, 'a miss, not a throw')
    const err = await new H({}).revalidateTag('t').then(
      () => assert.fail('the revalidation must not be reported as recorded'),
      (e) => e,
    )
    assert.ok(err.code?.startsWith('ERR_SHARED_ISR_'), err.code)
    assert.match(err.message, pattern)
    assert.ok(!err.message.includes(SECRET), 'no secret in the error')
    for (const line of cap.all()) assert.ok(!line.includes(SECRET), `no secret in logs: ${line}`)
    return err
  } finally {
    cap.restore()
  }
}

test('rediss:// with a CA file: entries, revalidations and the L1 work over TLS; two processes agree', async () => {
  const options = base({ redisUrl: `rediss://localhost:${tlsPort}`, tlsCaFile: f('ca.crt') })
  await roundTrip(options)
  // A second store (another process, in effect) sees the first one's revalidation at once.
  const A = api.createHandler({ ...options, strict: true })
  const B = api.createHandler({ ...options, timeoutMs: 2001 })
  await new A({}).set('/agree', route('a', 'agree'), SET)
  assert.ok(await new A({}).get('/agree', CTX))
  await new B({}).revalidateTag('agree')
  assert.equal(await new A({}).get('/agree', CTX), null)
})

test('the server name is checked: a certificate for localhost does not pass for 127.0.0.1', async () => {
  await refused(base({ redisUrl: `rediss://127.0.0.1:${tlsPort}`, tlsCaFile: f('ca.crt') }), /certificate|NotValidForName|name/i)
})

test('a server signed by another CA is refused; #insecure accepts it only when asked', async () => {
  await refused(base({ redisUrl: `rediss://localhost:${tlsPort}`, tlsCaFile: f('other-ca.crt') }), /certificate|UnknownIssuer|issuer/i)
  await refused(base({ redisUrl: `rediss://localhost:${tlsPort}` }), /certificate|UnknownIssuer|issuer/i) // public roots only
  await roundTrip(base({ redisUrl: `rediss://localhost:${tlsPort}/#insecure` }))
})

test('mutual TLS: refused without a client certificate, works with one', async () => {
  await refused(base({ redisUrl: `rediss://localhost:${mtlsPort}`, tlsCaFile: f('ca.crt') }), /./)
  await roundTrip(
    base({ redisUrl: `rediss://localhost:${mtlsPort}`, tlsCaFile: f('ca.crt'), tlsCertFile: f('client.crt'), tlsKeyFile: f('client.key') }),
  )
})

test('TLS settings are checked up front, naming the setting and never the contents', () => {
  const bad = (options, pattern) =>
    assert.throws(
      () => api.stats(base(options)),
      (e) => e.code === 'ERR_SHARED_ISR_CONFIG' && pattern.test(e.message),
    )
  bad({ redisUrl: `redis://localhost:${tlsPort}`, tlsCaFile: f('ca.crt') }, /rediss/)
  bad({ redisUrl: `rediss://localhost:${tlsPort}`, tlsCertFile: f('client.crt') }, /tlsKeyFile/)
  bad({ redisUrl: `rediss://localhost:${tlsPort}`, tlsCaFile: f('missing.crt') }, /tlsCaFile.*missing\.crt/)
})

const aclFor = (user, prefix) => aclLine(user, SECRET, prefix)

test('an ACL user limited to its prefix is enough; another app with its own user is untouched', async () => {
  const p1 = uniquePrefix('app1')
  const p2 = uniquePrefix('app2')
  await tls.cmd(...aclFor('app1', p1))
  await tls.cmd(...aclFor('app2', p2))
  const url = (u) => `redis://${u}:${SECRET}@127.0.0.1:${tls.port}`
  const one = base({ redisUrl: url('app1'), prefix: p1 })
  const two = base({ redisUrl: url('app2'), prefix: p2 })
  await roundTrip(one)
  const U = api.createUseCacheHandler(one)
  await U.updateTags(['x'])
  await U.refreshTags()
  // Isolation: app1 revalidating a tag both apps use leaves app2's entry alone.
  const H1 = api.createHandler(one)
  const H2 = api.createHandler(two)
  await new H2({}).set('/shared-tag', route('two', 'news'), SET)
  await new H1({}).set('/shared-tag', route('one', 'news'), SET)
  await new H1({}).revalidateTag('news')
  assert.equal(await new H1({}).get('/shared-tag', CTX), null)
  assert.equal((await new H2({}).get('/shared-tag', CTX))?.value?.body?.toString(), 'two')
})

test('a forbidden key pattern and a wrong password give clear, secret-free errors', async () => {
  const p = uniquePrefix('fenced')
  await tls.cmd(...aclFor('fenced', 'somewhere-else:'))
  const err = await refused(base({ redisUrl: `redis://fenced:${SECRET}@127.0.0.1:${tls.port}`, prefix: p }), /NOPERM|permission/i)
  assert.equal(err.code, 'ERR_SHARED_ISR_REDIS')
  await refused(base({ redisUrl: `redis://fenced:wrong-${SECRET}@127.0.0.1:${tls.port}`, prefix: p }), /WRONGPASS|auth|password/i)
})
