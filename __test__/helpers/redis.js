'use strict'
// Real redis-server processes for the tests, plus a tiny RESP2 client for raw commands
// (assertions and fault injection). No npm redis client on purpose.

const net = require('node:net')
const os = require('node:os')
const { spawn } = require('node:child_process')

const REDIS_SERVER = process.env.SHARED_ISR_TEST_REDIS_SERVER || '/usr/bin/redis-server'

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Every redis-server we start dies with this process, even if a test crashes.
const live = new Set()
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL')
    } catch {}
  }
})

// ---------------------------------------------------------------------------------------
// RESP2 client

function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8')
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

class RedisReplyError extends Error {}

/** Parses one reply at `at`; returns [value, next] or null when more bytes are needed. */
function parseReply(buf, at) {
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
      return [new RedisReplyError(line), next]
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

const toStrings = (v) => (Buffer.isBuffer(v) ? v.toString('utf8') : Array.isArray(v) ? v.map(toStrings) : v)

class RespClient {
  constructor(port, host = '127.0.0.1') {
    this.port = port
    this.host = host
    this.pending = []
    this.buf = Buffer.alloc(0)
    this.socket = null
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.port, this.host)
      s.once('connect', () => {
        s.off('error', reject)
        s.on('error', (err) => this._failAll(err))
        resolve(this)
      })
      s.once('error', reject)
      s.on('data', (d) => this._onData(d))
      s.on('close', () => this._failAll(new Error('connection closed')))
      this.socket = s
    })
  }

  _onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d
    let at = 0
    for (;;) {
      const r = parseReply(this.buf, at)
      if (!r) break
      at = r[1]
      const p = this.pending.shift()
      if (!p) continue
      if (r[0] instanceof RedisReplyError) p.reject(r[0])
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

  /** Raw reply: bulk strings as Buffers. */
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

  close() {
    if (this.socket) this.socket.destroy()
    this.socket = null
  }
}

async function connectClient(port) {
  return new RespClient(port).connect()
}

// ---------------------------------------------------------------------------------------
// redis-server

class RedisServer {
  /** `extraArgs` may use `{port}` for a second free port (e.g. `--tls-port`). */
  constructor(port, extraArgs = []) {
    this.port = port
    this.extraArgs = extraArgs
    this.proc = null
    this.output = ''
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  async start() {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      os.tmpdir(),
      '--dbfilename',
      `shared-isr-test-${this.port}.rdb`,
      '--enable-debug-command',
      'yes',
      '--loglevel',
      'warning',
      ...this.extraArgs,
    ]
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(proc)
    this.proc = proc
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        live.delete(proc)
        resolve({ code, signal })
      }),
    )
    const keep = (d) => {
      this.output = (this.output + d).slice(-4000)
    }
    proc.stdout.on('data', keep)
    proc.stderr.on('data', keep)
    proc.once('error', (err) => {
      this.output += String(err)
    })
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break
      try {
        const c = await connectClient(this.port)
        const pong = await c.cmd('PING')
        c.close()
        if (pong === 'PONG') return this
      } catch {}
      await sleep(25)
    }
    await this.kill()
    throw new Error(`redis-server on port ${this.port} did not start:\n${this.output}`)
  }

  /** SIGKILL: the abrupt death the tests simulate. Resolves once the process is gone. */
  async kill() {
    const p = this.proc
    if (!p) return
    this.proc = null
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    await this.exited
  }

  async stop() {
    await this.kill()
  }

  /** Kills it and starts a fresh, empty one on the same port. */
  async restart() {
    await this.kill()
    let lastErr
    for (let i = 0; i < 5; i++) {
      try {
        return await this.start()
      } catch (err) {
        lastErr = err
        await sleep(200)
      }
    }
    throw lastErr
  }

  client() {
    return connectClient(this.port)
  }

  /** One raw command on a short-lived connection. */
  async cmd(...args) {
    const c = await this.client()
    try {
      return await c.cmd(...args)
    } finally {
      c.close()
    }
  }

  async raw(...args) {
    const c = await this.client()
    try {
      return await c.raw(...args)
    } finally {
      c.close()
    }
  }

  /** Number of client connections the server has right now. */
  async clientCount() {
    const list = await this.cmd('CLIENT', 'LIST')
    return list.split('\n').filter((l) => l.trim() !== '').length
  }
}

/** Starts a redis-server on a free port (retries if someone grabbed the port meanwhile). */
async function startRedis(extraArgs = []) {
  let lastErr
  for (let i = 0; i < 3; i++) {
    const srv = new RedisServer(await freePort(), extraArgs)
    try {
      return await srv.start()
    } catch (err) {
      lastErr = err
    }
  }
  throw lastErr
}

/** A TCP server that accepts connections and never answers a byte. */
async function startBlackHole() {
  const sockets = new Set()
  const srv = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', resolve)
  })
  return {
    port: srv.address().port,
    get url() {
      return `redis://127.0.0.1:${this.port}`
    },
    connections: () => sockets.size,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        srv.close(() => resolve())
      }),
  }
}

module.exports = { freePort, startRedis, startBlackHole, RedisServer, RespClient, connectClient, sleep }
