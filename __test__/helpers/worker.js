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
  async close() {
    await api.close()
    return null
  },
}

process.on('message', async (msg) => {
  try {
    const fn = ops[msg.op]
    if (!fn) throw new Error(`unknown op ${msg.op}`)
    const result = await fn(msg)
    process.send({ id: msg.id, ok: true, result })
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: { code: err?.code, message: String(err?.message ?? err) } })
  }
})

process.on('disconnect', () => process.exit(0))
process.send({ ready: true })
