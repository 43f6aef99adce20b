'use strict'
// The addon, through napi's generated loader (binding.js): it tries shared-isr.<platform>.node
// next to itself (a built checkout), then the @shared-isr/binding-<platform> package (an
// install). When neither loads, its error blames an npm bug and names no package; this one
// names the package this machine needs, says why it is usually missing, and carries the code
// ERR_SHARED_ISR_BINARY (the loader's own error stays as `cause`).

try {
  module.exports = require('../binding.js')
} catch (err) {
  throw require('./platform').binaryError(err)
}
