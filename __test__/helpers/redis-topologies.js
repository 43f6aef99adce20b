'use strict'
// Real Redis Cluster and Sentinel setups for the tests, on free ports, in temp dirs: every
// process dies with the test process (helpers/redis.js tracks them).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { freePort, startRedis, connectClient, sleep } = require('./redis')
const { waitFor } = require('./common')

const REDIS_CLI = process.env.SHARED_ISR_TEST_REDIS_CLI || '/usr/bin/redis-cli'

async function cmdOn(port, ...args) {
  const c = await connectClient(port)
  try {
    return await c.cmd(...args)
  } finally {
    c.close()
  }
}

// Topology changes take seconds: poll less often and wait longer than common.waitFor's defaults.
const waitUntil = (what, fn, timeoutMs = 20_000) => waitFor(fn, { timeoutMs, intervalMs: 100, what })

/** redis-server flags for a TLS port (server cert, CA, TLS replication, no client certs). */
const tlsServerArgs = (tls, port) => [
  '--tls-port',
  String(port),
  '--tls-cert-file',
  tls.cert,
  '--tls-key-file',
  tls.key,
  '--tls-ca-cert-file',
  tls.ca,
  '--tls-replication',
  'yes',
  '--tls-auth-clients',
  'no',
]

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (out += d))
    p.on('error', reject)
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`))))
  })
}

const info = (text, field) => new RegExp(`^${field}:(.*)$`, 'm').exec(String(text))?.[1]?.trim()

/**
 * A Redis Cluster of `primaries` primaries with `replicasPerPrimary` replicas each.
 * `tls: { cert, key, ca }` (PEM files) adds a TLS port to every node, TLS on the cluster bus and
 * replication, and makes `url` a `rediss+cluster://` URL of the TLS ports (`ports` stay plain,
 * for the test's own commands).
 * → { url, ports, tlsPorts, primaries (ports, as created), cmd(port, ...args), primaryFor(key),
 *     failover(primaryPort) → { from, to }, migrateSlot(key, toPort, during), stop() }
 */
async function startCluster({ primaries = 3, replicasPerPrimary = 1, tls = null } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-cluster-'))
  const servers = []
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const n = primaries * (1 + replicasPerPrimary)
    const tlsPorts = []
    for (let i = 0; i < n; i++) {
      const tlsArgs = []
      if (tls) {
        tlsPorts.push(await freePort())
        tlsArgs.push(...tlsServerArgs(tls, tlsPorts[i]), '--tls-cluster', 'yes')
      }
      servers.push(
        await startRedis([
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(dir, `nodes-${i}.conf`),
          '--cluster-node-timeout',
          '2000',
          // The bus port defaults to port + 10000: taken, or past 65535 for a high free port.
          '--cluster-port',
          String(await freePort()),
          // A new replica (and a demoted primary) syncs at once, not after 5 s.
          '--repl-diskless-sync-delay',
          '0',
          '--dir',
          dir,
          ...tlsArgs,
        ]),
      )
    }
    const ports = servers.map((s) => s.port)
    await run(REDIS_CLI, [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicasPerPrimary),
      '--cluster-yes',
    ])
    await waitUntil('cluster state ok on every node, replicas attached', async () => {
      for (const p of ports) if (info(await cmdOn(p, 'CLUSTER', 'INFO'), 'cluster_state') !== 'ok') return false
      const nodes = String(await cmdOn(ports[0], 'CLUSTER', 'NODES'))
        .trim()
        .split('\n')
      return nodes.filter((l) => / (slave|replica) [0-9a-f]{40} /.test(l)).length === primaries * replicasPerPrimary
    })
    const cluster = {
      url: tls
        ? `rediss+cluster://${tlsPorts.map((p) => `127.0.0.1:${p}`).join(',')}`
        : `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
      ports,
      tlsPorts,
      servers,
      primaries: ports.slice(0, primaries), // redis-cli makes the first nodes primaries
      cmd: cmdOn,
      /** The port of the primary serving `key`'s slot now. */
      async primaryFor(key) {
        const slot = Number(await cmdOn(ports[0], 'CLUSTER', 'KEYSLOT', key))
        for (const [from, to, [, port]] of await cmdOn(ports[0], 'CLUSTER', 'SLOTS')) {
          if (slot >= Number(from) && slot <= Number(to)) return Number(port)
        }
        throw new Error(`no node serves slot ${slot}`)
      },
      /** Promotes a replica of `primaryPort` (CLUSTER FAILOVER on it) and waits until it serves. */
      async failover(primaryPort) {
        const id = String(await cmdOn(primaryPort, 'CLUSTER', 'MYID'))
        // A replica that re-attached after an earlier failover shows in CLUSTER NODES a moment later.
        let replica
        await waitUntil(`a replica of ${primaryPort} in CLUSTER NODES`, async () => {
          const nodes = String(await cmdOn(primaryPort, 'CLUSTER', 'NODES'))
            .trim()
            .split('\n')
          replica = nodes.map((l) => l.split(' ')).find((f) => f[3] === id)
          return !!replica
        })
        const to = Number(replica[1].split('@')[0].split(':')[1])
        await cmdOn(to, 'CLUSTER', 'FAILOVER')
        await waitUntil(`replica ${to} takes over from ${primaryPort}`, async () => {
          if (info(await cmdOn(to, 'INFO', 'replication'), 'role') !== 'master') return false
          for (const p of ports) if (info(await cmdOn(p, 'CLUSTER', 'INFO'), 'cluster_state') !== 'ok') return false
          return info(await cmdOn(primaryPort, 'INFO', 'replication'), 'role') === 'slave'
        })
        cluster.primaries = cluster.primaries.map((p) => (p === primaryPort ? to : p))
        return { from: primaryPort, to }
      },
      /**
       * Moves `key`'s slot (and every key in it) to the primary on `toPort`, the way
       * `redis-cli --cluster reshard` does: IMPORTING/MIGRATING, MIGRATE, then SETSLOT NODE on
       * every primary. `during` runs while the slot is half-moved (ASK redirections).
       */
      async migrateSlot(key, toPort, during = async () => {}) {
        const slot = Number(await cmdOn(ports[0], 'CLUSTER', 'KEYSLOT', key))
        const fromPort = await cluster.primaryFor(key)
        if (fromPort === toPort) throw new Error(`slot ${slot} is already on ${toPort}`)
        const [fromId, toId] = await Promise.all([fromPort, toPort].map(async (p) => String(await cmdOn(p, 'CLUSTER', 'MYID'))))
        await cmdOn(toPort, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId)
        await cmdOn(fromPort, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId)
        const keys = await cmdOn(fromPort, 'CLUSTER', 'GETKEYSINSLOT', slot, 1000)
        const [first, ...rest] = keys
        if (first !== undefined) await cmdOn(fromPort, 'MIGRATE', '127.0.0.1', toPort, first, 0, 5000)
        await during()
        if (rest.length) await cmdOn(fromPort, 'MIGRATE', '127.0.0.1', toPort, '', 0, 5000, 'KEYS', ...rest)
        for (const p of cluster.primaries) await cmdOn(p, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId)
        await waitUntil(`slot ${slot} served by ${toPort} everywhere`, async () => {
          for (const p of ports) {
            const slots = await cmdOn(p, 'CLUSTER', 'SLOTS')
            const owner = slots.find(([a, b]) => slot >= Number(a) && slot <= Number(b))
            if (!owner || Number(owner[2][1]) !== toPort) return false
          }
          return true
        })
        return { slot, from: fromPort, to: toPort, keys: keys.length }
      },
      stop,
    }
    return cluster
  } catch (err) {
    await stop()
    throw err
  }
}

/**
 * One primary, one replica and `sentinels` sentinels watching them as `serviceName`.
 * `tls: { cert, key, ca }` (PEM files) adds a TLS port to every process; replication, the
 * sentinels' links and the client go over TLS, and `url` is a `rediss+sentinel://` URL of the
 * sentinels' TLS ports (plain ports stay open for the test's own commands; `primaryPort()` and
 * `failover()` answer plain ports).
 * → { url, serviceName, primaryPort(), cmd(port, ...args), failover() → { from, to }, stop() }
 */
async function startSentinel({ serviceName = 'shared-isr', sentinels = 3, tls = null } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-isr-sentinel-'))
  const servers = []
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    const fast = ['--repl-diskless-sync-delay', '0']
    // TLS port -> plain port, for what the sentinels report.
    const plain = new Map()
    // Disk-based sync under TLS: with diskless sync over TLS, Redis 7.0.15 here left the replica
    // "online" at offset 0 while the primary moved on, in about 1 run in 5 (a failover then
    // lost everything); 0 in 12 with disk-based sync.
    const tlsArgs = async () => {
      if (!tls) return { args: [], port: null }
      const port = await freePort()
      return { args: [...tlsServerArgs(tls, port), '--repl-diskless-sync', 'no'], port }
    }
    const pt = await tlsArgs()
    const primary = await startRedis([...fast, ...pt.args])
    servers.push(primary)
    const rt = await tlsArgs()
    const replica = await startRedis([...fast, ...rt.args, '--replicaof', '127.0.0.1', String(pt.port ?? primary.port)])
    servers.push(replica)
    if (tls) {
      plain.set(pt.port, primary.port)
      plain.set(rt.port, replica.port)
    }
    await waitUntil('replica linked', async () => info(await replica.cmd('INFO', 'replication'), 'master_link_status') === 'up')
    const sentinelPorts = []
    const sentinelTlsPorts = []
    for (let i = 0; i < sentinels; i++) {
      const port = await freePort()
      const tlsPort = tls ? await freePort() : null
      const conf = path.join(dir, `sentinel-${port}.conf`)
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          ...(tls
            ? [
                `tls-port ${tlsPort}`,
                `tls-cert-file ${tls.cert}`,
                `tls-key-file ${tls.key}`,
                `tls-ca-cert-file ${tls.ca}`,
                'tls-replication yes',
                'tls-auth-clients no',
              ]
            : []),
          `sentinel monitor ${serviceName} 127.0.0.1 ${pt.port ?? primary.port} 2`,
          `sentinel down-after-milliseconds ${serviceName} 1000`,
          `sentinel failover-timeout ${serviceName} 5000`,
          `sentinel parallel-syncs ${serviceName} 1`,
          '',
        ].join('\n'),
      )
      const s = new SentinelProcess(port, conf)
      servers.push(s)
      await s.start()
      // Sentinel's INFO period (10 s) sets how long a demoted primary keeps its role after a
      // failover; 1 s keeps the tests short without changing what a client sees.
      await cmdOn(port, 'SENTINEL', 'DEBUG', 'info-period', '1000', 'publish-period', '500')
      sentinelPorts.push(port)
      sentinelTlsPorts.push(tlsPort)
    }
    const ports = [primary.port, replica.port]
    await waitUntil(
      'sentinels see the replica and each other',
      async () => {
        for (const p of sentinelPorts) {
          if ((await cmdOn(p, 'SENTINEL', 'REPLICAS', serviceName)).length < 1) return false
          if ((await cmdOn(p, 'SENTINEL', 'SENTINELS', serviceName)).length < sentinels - 1) return false
        }
        return true
      },
      30_000,
    )
    const masterOn = async (p) => {
      const port = Number((await cmdOn(p, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', serviceName))[1])
      return plain.get(port) ?? port
    }
    const primaryPort = () => masterOn(sentinelPorts[0])
    return {
      url: tls
        ? `rediss+sentinel://${sentinelTlsPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${serviceName}`
        : `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${serviceName}`,
      serviceName,
      ports,
      sentinelPorts,
      cmd: cmdOn,
      primaryPort,
      /** SENTINEL FAILOVER; waits until every sentinel names the new primary and roles flipped. */
      async failover() {
        const from = await primaryPort()
        const to = ports.find((p) => p !== from)
        await cmdOn(sentinelPorts[0], 'SENTINEL', 'FAILOVER', serviceName)
        await waitUntil(`sentinels move ${serviceName} from ${from} to ${to}`, async () => {
          for (const p of sentinelPorts) {
            if ((await masterOn(p)) !== to) return false
          }
          if (info(await cmdOn(to, 'INFO', 'replication'), 'role') !== 'master') return false
          const old = await cmdOn(from, 'INFO', 'replication')
          return info(old, 'role') === 'slave' && info(old, 'master_link_status') === 'up'
        })
        return { from, to }
      },
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** `redis-server <conf> --sentinel` (Debian ships no separate redis-sentinel binary). */
class SentinelProcess {
  constructor(port, conf) {
    this.port = port
    this.conf = conf
    this.server = null
  }

  async start() {
    // RedisServer handles spawning, tracking and the PING wait; sentinel answers PING too.
    const { RedisServer } = require('./redis')
    const s = new RedisServer(this.port, [])
    s.start = startWith(s, [this.conf, '--sentinel'])
    this.server = s
    await s.start()
  }

  async stop() {
    await this.server?.stop()
  }
}

/** A RedisServer start() that runs `args` instead of the data-node flags. */
function startWith(server, args) {
  const REDIS_SERVER = process.env.SHARED_ISR_TEST_REDIS_SERVER || '/usr/bin/redis-server'
  return async function start() {
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    server.proc = proc
    server.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
    process.once('exit', () => proc.exitCode === null && proc.kill('SIGKILL'))
    let output = ''
    proc.stdout.on('data', (d) => (output = (output + d).slice(-4000)))
    proc.stderr.on('data', (d) => (output = (output + d).slice(-4000)))
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        if ((await cmdOn(server.port, 'PING')) === 'PONG') return server
      } catch {}
      await sleep(25)
    }
    await server.kill()
    throw new Error(`sentinel on port ${server.port} did not start:\n${output}`)
  }
}

module.exports = { startCluster, startSentinel }
