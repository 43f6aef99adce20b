'use strict'
// Loads the addon and gives its errors their stable `code` (async rejections from napi-rs
// cannot carry a custom status, so Rust puts the code in front of the message).

const { NativeCache } = require('../index.js')

const CODE = /^(ERR_SHARED_ISR_[A-Z_]+): /

function retype(err) {
  if (err && typeof err.message === 'string') {
    const m = CODE.exec(err.message)
    if (m) {
      err.code = m[1]
      err.message = err.message.slice(m[0].length)
    }
  }
  return err
}

module.exports = { NativeCache, retype }
