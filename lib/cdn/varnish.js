'use strict'
// Varnish (and anything speaking its xkey convention): `PURGE /` with the keys in an `xkey`
// request header, to every node. docs/varnish.vcl is the VCL that answers it.

const http = require('node:http')
const { ALL_KEY } = require('./keys')
const { PurgeError } = require('./errors')

// Varnish's default limit for one header line is 8 KB (http_req_hdr_len, http_resp_hdr_len).
const LIMITS = { separator: ' ', maxKeyBytes: 1024, maxKeys: Number.POSITIVE_INFINITY, maxHeaderBytes: 8000 }

class Varnish {
  constructor(nodes, { timeoutMs }) {
    this.name = 'varnish'
    this.header = 'xkey'
    this.limits = LIMITS
    this.nodes = nodes
    this.timeoutMs = timeoutMs
  }

  /** Purges objects carrying any of `keys` on every node; rejects if a node did not confirm. */
  async purge(keys) {
    for (const chunk of chunks(keys, LIMITS.maxHeaderBytes)) {
      await Promise.all(this.nodes.map((node) => this.send(node, chunk.join(' '))))
    }
  }

  purgeAll() {
    return this.purge([ALL_KEY])
  }

  /** A harmless call that proves every node answers purges (it purges a key nothing carries). */
  probe() {
    return this.purge(['sisr-doctor-probe'])
  }

  send(node, xkey) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: node.host, port: node.port, method: 'PURGE', path: '/', headers: { xkey }, timeout: this.timeoutMs },
        (res) => {
          res.resume()
          res.on('end', () => {
            if (res.statusCode >= 200 && res.statusCode < 300) return resolve()
            reject(
              new PurgeError(
                `varnish ${node.host}:${node.port} answered ${res.statusCode} to PURGE`,
                res.statusCode,
                res.headers['retry-after'],
              ),
            )
          })
        },
      )
      req.on('timeout', () => req.destroy(new PurgeError(`varnish ${node.host}:${node.port}: no answer within ${this.timeoutMs} ms`)))
      req.on('error', (err) =>
        reject(err instanceof PurgeError ? err : new PurgeError(`varnish ${node.host}:${node.port}: ${err.message}`)),
      )
      req.end()
    })
  }

  describe() {
    return `varnish ${this.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`
  }

  /** How a config holding this provider prints: its description, never a secret. */
  toJSON() {
    return this.describe()
  }
}

/** Keys in groups whose space-joined length stays within `max` bytes. */
function* chunks(keys, max) {
  let group = []
  let bytes = 0
  for (const key of keys) {
    if (group.length > 0 && bytes + key.length + 1 > max) {
      yield group
      group = []
      bytes = 0
    }
    group.push(key)
    bytes += key.length + 1
  }
  if (group.length > 0) yield group
}

module.exports = { Varnish, chunks }
