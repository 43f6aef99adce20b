'use strict'
// A second (third...) "Next.js instance": forked by multiprocess tests, driven over IPC.
// Messages: { id, op, ...args } -> { id, ok, result } | { id, ok: false, error: { code, message } }

const path = require('node:path')
const { clearEnv, describeValue, reviveValue } = require('./common')

clearEnv()
const api = require(path.join(__dirname, '..', '..', 'lib', 'index.js'))

let Handler = null
let options = null
let handlerCtx = {}

const ops = {
  init(msg) {
    options = msg.options
    handlerCtx = msg.handlerCtx ?? {}
    Handler = api.createHandler(options)
    return { pid: process.pid }
  },
  async set(msg) {
    await new Handler(handlerCtx).set(msg.key, reviveValue(msg.value), reviveValue(msg.ctx))
    return null
  },
  async get(msg) {
    const hit = await new Handler(handlerCtx).get(msg.key, reviveValue(msg.ctx))
    return { hit: describeValue(hit), now: Date.now() }
  },
  async revalidateTag(msg) {
    await new Handler(handlerCtx).revalidateTag(msg.tags, msg.durations)
    return null
  },
  async revalidateTags(msg) {
    await api.revalidateTags(msg.tags, msg.profile, options)
    return null
  },
  async revalidatePath(msg) {
    await api.revalidatePath(msg.path, msg.type, options)
    return null
  },
  stats() {
    return api.stats(options)
  },
  /**
   * Reads `key` back to back until the answer changes from what it is now (served with the
   * body `from` → anything else), or `timeoutMs`. Reports wall-clock times (ms, sub-ms
   * precision) of the last read that still returned the old answer and of the first that
   * did not, so a test can compare them with when another process's write returned.
   */
  async watch(msg) {
    const clock = () => performance.timeOrigin + performance.now()
    const body = (hit) => (hit && hit.lastModified !== -1 ? hit.value?.body?.toString() : null)
    const started = clock()
    let lastOld = null
    let reads = 0
    while (clock() - started < msg.timeoutMs) {
      const before = clock()
      const hit = await new Handler(handlerCtx).get(msg.key, reviveValue(msg.ctx))
      reads++
      if (body(hit) !== msg.from) return { lastOld, firstNew: before, reads, l1Hits: api.stats(options).l1Hits }
      lastOld = before // when the last read that still answered old *started*
      if (reads === 1) process.send({ id: msg.id, watching: true })
      await new Promise((r) => setImmediate(r))
    }
    return { lastOld, firstNew: null, reads, l1Hits: api.stats(options).l1Hits }
  },
  async close() {
    await api.close()
    return null
  },
  /** Exits as Next's server does on SIGTERM (`process.exit`), right after answering. */
  exit() {
    setImmediate(() => process.exit(0))
    return null
  },
}

process.on('message', async (msg) => {
  try {
    const fn = ops[msg.op]
    if (!fn) throw new Error(`unknown op ${msg.op}`)
    const result = await fn(msg)
    process.send({ id: msg.id, ok: true, result, at: performance.timeOrigin + performance.now() })
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: { code: err?.code, message: String(err?.message ?? err) } })
  }
})

process.on('disconnect', () => process.exit(0))
process.send({ ready: true })
