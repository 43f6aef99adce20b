'use strict'
// Real redis-server processes for the tests, plus the tiny RESP2 client of scripts/lib/resp.js
// for raw commands (assertions and fault injection). No npm redis client on purpose.

const net = require('node:net')
const os = require('node:os')
const { spawn } = require('node:child_process')
const { freePort } = require('../../scripts/lib/net')
const { RespClient, RespError, connect, encodeCommand, parseReply } = require('../../scripts/lib/resp')

const REDIS_SERVER = process.env.SHARED_ISR_TEST_REDIS_SERVER || '/usr/bin/redis-server'

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

/** A connected RespClient (scripts/lib/resp.js) to 127.0.0.1:`port`. */
function connectClient(port) {
  return connect(port)
}

// ---------------------------------------------------------------------------------------
// redis-server

class RedisServer {
  /**
   * `extraArgs` may use `{port}` for a second free port (e.g. `--tls-port`). `port` may be null
   * until startOnFreePort() picks one.
   */
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

  /** Starts on a free port: a fresh one for each of 3 tries, in case someone grabbed it meanwhile. */
  async startOnFreePort() {
    let lastErr
    for (let i = 0; i < 3; i++) {
      this.port = await freePort()
      this.output = ''
      try {
        return await this.start()
      } catch (err) {
        lastErr = err
      }
    }
    throw lastErr
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
function startRedis(extraArgs = []) {
  return new RedisServer(null, extraArgs).startOnFreePort()
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

let marks = 0

/**
 * The commands the server on `port` ran while `fn` ran, as its `MONITOR` lines
 * (`<time> [<db> <client>] "GET" "<key>"`): fenced by two marker commands seen on the monitor,
 * so nothing from before is counted and nothing from the window is still in flight.
 * → { result (of fn), lines }
 */
async function monitored(port, fn, timeoutMs = 10_000) {
  const lines = []
  const socket = net.connect({ port, host: '127.0.0.1' })
  // After MONITOR's +OK, every command the server runs arrives as one more simple string.
  let buf = Buffer.alloc(0)
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d])
    let at = 0
    for (let r = parseReply(buf, at); r; r = parseReply(buf, at)) {
      lines.push(String(r[0]))
      at = r[1]
    }
    buf = Buffer.from(buf.subarray(at))
  })
  const closed = new Promise((resolve) => socket.once('close', resolve))
  let failure = null
  socket.on('error', (err) => (failure = err))
  const seen = async (what, match) => {
    for (const deadline = Date.now() + timeoutMs; !lines.some(match); await sleep(10)) {
      if (failure) throw failure
      if (Date.now() > deadline) throw new Error(`MONITOR on ${port}: ${what} not seen within ${timeoutMs} ms`)
    }
    return lines.findIndex(match)
  }
  const mark = async () => {
    const text = `shared-isr-test-mark-${process.pid}-${++marks}`
    const c = await connectClient(port)
    try {
      await c.cmd('ECHO', text)
    } finally {
      c.close()
    }
    return seen(text, (l) => l.endsWith(`"ECHO" "${text}"`))
  }
  try {
    socket.write(encodeCommand(['MONITOR']))
    await seen('its OK', (l) => l === 'OK')
    const from = await mark()
    const result = await fn()
    const to = await mark()
    return { result, lines: lines.slice(from + 1, to) }
  } finally {
    socket.destroy()
    await closed
  }
}

module.exports = { freePort, startRedis, startBlackHole, RedisServer, RespClient, RespError, connectClient, monitored, sleep }
