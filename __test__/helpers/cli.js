'use strict'
// `npx shared-isr` as a user runs it: the bin in a child process, with only PATH and `env`
// from the environment (nothing leaks in from the shell).

const path = require('node:path')
const { spawn } = require('node:child_process')

const BIN = path.join(__dirname, '..', '..', 'bin', 'shared-isr.js')

/** Runs the bin with `args`; resolves `{ code, out, err, json }` (`json`: stdout parsed, else undefined). */
function runCli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => {
      let json
      try {
        json = JSON.parse(out)
      } catch {}
      resolve({ code, out, err, json })
    })
  })
}

module.exports = { runCli }
