'use strict'
// Forks a worker (lib/worker.js) and talks to it with request/response messages.

const path = require('node:path')
const { fork } = require('node:child_process')

const WORKER = path.join(__dirname, 'worker.js')
const live = new Set()
process.on('exit', () => {
  for (const w of live) {
    try {
      w.child.kill('SIGKILL')
    } catch {}
  }
})

class Worker {
  constructor(contender, { execArgv = [], env = {}, role = 'main' } = {}) {
    this.contender = contender
    this.role = role
    this.child = fork(WORKER, [contender, role], {
      execArgv: ['--max-old-space-size=8192', ...execArgv],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    })
    this.log = ''
    const keep = (d) => {
      this.log += d
      if (this.log.length > 20000) this.log = this.log.slice(-10000)
      if (process.env.BENCH_DEBUG) process.stderr.write(`[${contender}/${role}] ${d}`)
    }
    this.child.stdout.on('data', keep)
    this.child.stderr.on('data', keep)
    this.pending = new Map()
    this.seq = 0
    this.exited = null
    this.child.on('message', ({ id, ok, result, error }) => {
      const p = this.pending.get(id)
      if (!p) return
      this.pending.delete(id)
      if (ok) p.resolve(result)
      else p.reject(new Error(`${contender}/${role}: ${error}`))
    })
    this.child.on('exit', (code, sig) => {
      this.exited = sig || code
      live.delete(this)
      for (const p of this.pending.values()) p.reject(new Error(`${contender}/${role} exited (${sig || code}):\n${this.log.slice(-2000)}`))
      this.pending.clear()
    })
    live.add(this)
  }

  get pid() {
    return this.child.pid
  }

  call(cmd, args, timeoutMs = 30 * 60 * 1000) {
    if (this.exited !== null) return Promise.reject(new Error(`${this.contender}/${this.role} is not running`))
    const id = ++this.seq
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`${this.contender}/${this.role}: ${cmd} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(t)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(t)
          reject(e)
        },
      })
      this.child.send({ id, cmd, args })
    })
  }

  async stop() {
    if (this.exited !== null) return
    try {
      await this.call('close', {}, 10_000)
    } catch {}
    this.child.disconnect?.()
    await new Promise((resolve) => {
      if (this.exited !== null) return resolve()
      const t = setTimeout(() => {
        try {
          this.child.kill('SIGKILL')
        } catch {}
        resolve()
      }, 3000)
      this.child.once('exit', () => {
        clearTimeout(t)
        resolve()
      })
    })
  }
}

module.exports = { Worker }
