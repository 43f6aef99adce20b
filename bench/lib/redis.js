'use strict'
// The bench's own redis-server (never the one on 6379) and an admin client for INFO,
// MEMORY USAGE and FLUSHDB.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const { BENCH } = require('./contenders')
const { freePort } = require('../../scripts/lib/net')

const REDIS_SERVER = process.env.REDIS_SERVER || (fs.existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server')

/** A free port for the bench's redis-server, never 6379 (a Redis someone may run there). */
async function benchPort() {
  const port = await freePort()
  return port === 6379 ? freePort() : port
}

function redisVersion() {
  try {
    return /v=([\d.]+)/.exec(execFileSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }))[1]
  } catch {
    return null
  }
}

async function startRedis() {
  const port = await benchPort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-bench-redis-'))
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    // @trieb.work requires keyspace events for expired/evicted keys (its README: `Exe`).
    '--notify-keyspace-events',
    'Exe',
  ]
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const url = `redis://127.0.0.1:${port}`
  const { createClient } = require(require.resolve('@redis/client', { paths: [BENCH] }))
  const deadline = Date.now() + 10_000
  let admin = null
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${stderr}`)
    try {
      admin = createClient({ url, socket: { reconnectStrategy: false } })
      admin.on('error', () => {})
      await admin.connect()
      break
    } catch {
      admin = null
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  if (!admin) throw new Error(`redis-server did not come up on ${port}`)
  const kill = () => {
    try {
      child.kill('SIGKILL')
    } catch {}
  }
  process.on('exit', kill)
  return {
    url,
    port,
    pid: child.pid,
    version: redisVersion(),
    admin,
    /** An admin client bound to one database. */
    async db(n) {
      const c = createClient({ url: `${url}/${n}` })
      c.on('error', () => {})
      await c.connect()
      return c
    },
    async stop() {
      await admin.quit().catch(() => {})
      kill()
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** INFO <section> as an object of strings. */
async function info(client, section) {
  const text = await client.info(section)
  const out = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/** Sum of MEMORY USAGE (exact, SAMPLES 0) of every key of the client's database, and their names. */
async function dbMemory(client) {
  let total = 0
  const keys = []
  for await (const batch of client.scanIterator({ COUNT: 1000 })) {
    for (const k of Array.isArray(batch) ? batch : [batch]) {
      const m = await client.sendCommand(['MEMORY', 'USAGE', k, 'SAMPLES', '0'])
      total += Number(m || 0)
      keys.push(k)
    }
  }
  return { total, keys }
}

module.exports = { startRedis, info, dbMemory, benchPort, redisVersion }
