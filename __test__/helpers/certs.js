'use strict'
// Throwaway certificates made by openssl for the TLS tests: a CA, and certificates it signs.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const ossl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' })

/** `<dir>/<name>.crt` and `.key`: a self-signed CA. */
function makeCa(dir, name) {
  const f = (x) => path.join(dir, x)
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f(`${name}.key`),
    '-out',
    f(`${name}.crt`),
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  )
}

/** `<dir>/<name>.crt` and `.key`, signed by `ca`, valid for `san` (e.g. `DNS:localhost,IP:127.0.0.1`). */
function makeCert(dir, name, ca, san) {
  const f = (x) => path.join(dir, x)
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`)
  fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\n`)
  ossl(
    'x509',
    '-req',
    '-in',
    f(`${name}.csr`),
    '-CA',
    f(`${ca}.crt`),
    '-CAkey',
    f(`${ca}.key`),
    '-CAcreateserial',
    '-out',
    f(`${name}.crt`),
    '-days',
    '2',
    '-extfile',
    f(`${name}.ext`),
  )
}

module.exports = { makeCa, makeCert }
