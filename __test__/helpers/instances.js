'use strict'
// Parent side of helpers/worker.js: a forked Node process acting as another Next instance.

const path = require('node:path')
const { fork } = require('node:child_process')
const { describeValue, reviveValue } = require('./common')

const WORKER = path.join(__dirname, 'worker.js')

class Instance {
  constructor(child) {
    this.child = child
    this.nextId = 1
    this.waiting = new Map()
    child.on('message', (m) => {
      const w = this.waiting.get(m.id)
      if (!w) return
      if (m.watching) return w.onWatching?.()
      this.waiting.delete(m.id)
      if (m.ok) w.resolve(w.timed ? { result: m.result, at: m.at } : m.result)
      else w.reject(Object.assign(new Error(m.error.message), { code: m.error.code }))
    })
    child.on('exit', (code, signal) => {
      for (const w of this.waiting.values()) w.reject(new Error(`worker exited (${code ?? signal})`))
      this.waiting.clear()
    })
  }

  call(op, args = {}, extra = {}) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, ...extra })
      this.child.send({ id, op, ...args })
    })
  }

  /** Like `call`, resolving `{ result, at }`: `at` is when the worker finished (ms, sub-ms). */
  callTimed(op, args = {}) {
    return this.call(op, args, { timed: true })
  }

  /** Starts helpers/worker.js `watch`; `watching` resolves once its first read is done. */
  watch(key, ctx, from, timeoutMs) {
    let onWatching
    const watching = new Promise((r) => (onWatching = r))
    const done = this.call('watch', { key, ctx: describeValue(ctx), from, timeoutMs }, { onWatching })
    return { watching: Promise.race([watching, done]), done }
  }

  set(key, value, ctx) {
    return this.call('set', { key, value: describeValue(value), ctx: describeValue(ctx) })
  }

  async get(key, ctx) {
    const r = await this.call('get', { key, ctx: describeValue(ctx) })
    return reviveValue(r.hit)
  }

  revalidateTag(tags, durations) {
    return this.call('revalidateTag', { tags, durations })
  }

  stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve())
      this.child.kill('SIGKILL')
    })
  }
}

/** Forks a worker process with its own copy of the addon and a handler class for `options`. */
async function startInstance(options, handlerCtx = {}) {
  const child = fork(WORKER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env } })
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('worker did not start')), 15000)
    child.once('message', (m) => {
      if (m?.ready) {
        clearTimeout(t)
        resolve()
      }
    })
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)))
  })
  const inst = new Instance(child)
  await inst.call('init', { options, handlerCtx })
  return inst
}

module.exports = { startInstance }
