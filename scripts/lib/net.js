'use strict'
// Ports for the servers that the tests, the e2e harness (and so the demo) and the bench start.
// Shared by __test__/helpers, scripts/e2e and bench/: needs nothing but Node.

const net = require('node:net')

/** A TCP port nobody listens on right now (the OS picked it, then we let it go). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

module.exports = { freePort }
