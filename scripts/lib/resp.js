'use strict'
// The one hand-written Redis client of the tests, the e2e harness and the bench: RESP2 over a
// plain TCP socket, binary-safe. Arguments may be Buffers; `raw` answers bulk strings as
// Buffers, `cmd` decodes them as UTF-8. No npm client on purpose: the tests plant and read
// exact bytes, and scripts/ and bench/ must run with nothing installed. Shared by
// __test__/helpers (which re-exports it), scripts/e2e and bench/: needs nothing but Node.

const net = require('node:net')

/** An error reply (`-ERR ...`) from Redis. */
class RespError extends Error {}

/** A command as a RESP array of bulk strings; Buffers are sent as they are, the rest as UTF-8 text. */
function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8')
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/**
 * Parses one reply at `at`: [value, next offset], or null when more bytes are needed. Simple
 * strings are strings, integers numbers, bulk strings Buffers (views of `buf`), nil null, error
 * replies RespError values (returned, not thrown). Throws on a byte that starts no RESP2 reply.
 */
function parseReply(buf, at = 0) {
  if (at >= buf.length) return null
  const eol = buf.indexOf('\r\n', at)
  if (eol === -1) return null
  const type = String.fromCharCode(buf[at])
  const line = buf.toString('utf8', at + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+':
      return [line, next]
    case '-':
      return [new RespError(line), next]
    case ':':
      return [Number(line), next]
    case '$': {
      const len = Number(line)
      if (len === -1) return [null, next]
      if (buf.length < next + len + 2) return null
      return [buf.subarray(next, next + len), next + len + 2]
    }
    case '*': {
      const n = Number(line)
      if (n === -1) return [null, next]
      const out = []
      let p = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p)
        if (!r) return null
        out.push(r[0])
        p = r[1]
      }
      return [out, p]
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`)
  }
}

/** A reply with every Buffer in it decoded as UTF-8. */
const toStrings = (v) => (Buffer.isBuffer(v) ? v.toString('utf8') : Array.isArray(v) ? v.map(toStrings) : v)

/** One connection; commands may be pipelined (replies come back in order). */
class RespClient {
  constructor(port, host = '127.0.0.1') {
    this.port = port
    this.host = host
    this.pending = []
    this.buf = Buffer.alloc(0)
    this.socket = null
  }

  /** Resolves with this client once connected; `connectTimeoutMs` bounds the connect. */
  connect({ connectTimeoutMs } = {}) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port: this.port, host: this.host, noDelay: true })
      const timer = connectTimeoutMs ? setTimeout(() => s.destroy(new Error('connect timeout')), connectTimeoutMs) : null
      s.once('connect', () => {
        clearTimeout(timer)
        s.off('error', onConnectError)
        s.on('error', (err) => this._failAll(err))
        resolve(this)
      })
      const onConnectError = (err) => {
        clearTimeout(timer)
        reject(err)
      }
      s.once('error', onConnectError)
      s.on('data', (d) => this._onData(d))
      s.on('close', () => this._failAll(new Error('connection closed')))
      this.socket = s
    })
  }

  _onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d
    let at = 0
    for (;;) {
      let r
      try {
        r = parseReply(this.buf, at)
      } catch (err) {
        this.close(err)
        return
      }
      if (!r) break
      at = r[1]
      const p = this.pending.shift()
      if (!p) continue
      if (r[0] instanceof RespError) p.reject(r[0])
      else p.resolve(r[0])
    }
    // Copy the unparsed tail so returned Buffers never alias later data.
    this.buf = Buffer.from(this.buf.subarray(at))
  }

  _failAll(err) {
    const p = this.pending
    this.pending = []
    for (const x of p) x.reject(err)
  }

  /** Raw reply: bulk strings as Buffers. An error reply rejects with a RespError. */
  raw(...args) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject })
      this.socket.write(encodeCommand(args))
    })
  }

  /** Reply with bulk strings decoded as UTF-8. */
  async cmd(...args) {
    return toStrings(await this.raw(...args))
  }

  /** Closes the connection; commands still waiting reject (with `err` when given). */
  close(err) {
    if (this.socket) this.socket.destroy(err)
    this.socket = null
  }
}

/** A connected RespClient. */
function connect(port, host = '127.0.0.1', options = {}) {
  return new RespClient(port, host).connect(options)
}

/**
 * One command on a connection of its own, closed after the reply: `target` is a `redis://`
 * URL or a port on 127.0.0.1. Bulk strings as strings, or as Buffers with `raw: true`. Rejects
 * with the error reply, or when connecting and answering take longer than `timeoutMs`.
 */
async function command(target, args, { raw = false, timeoutMs = 5000 } = {}) {
  const url = typeof target === 'number' ? null : new URL(target)
  const c = url ? new RespClient(Number(url.port), url.hostname) : new RespClient(target)
  const timer = setTimeout(() => c.close(new Error(`redis ${args[0]}: timeout`)), timeoutMs)
  try {
    await c.connect()
    return await (raw ? c.raw(...args) : c.cmd(...args))
  } finally {
    clearTimeout(timer)
    c.close()
  }
}

module.exports = { RespClient, RespError, connect, command, encodeCommand, parseReply, toStrings }
