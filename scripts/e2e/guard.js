'use strict'
// Runs one command and takes its whole process group down when the harness goes away.
// The harness spawns this detached (so it leads a new process group) with a stdin pipe:
// if the harness dies in any way, even SIGKILL, the pipe closes and we kill the group,
// so no next-server or redis-server outlives a crashed test run.
//
// Usage: node guard.js <command> [args...]
const { spawn } = require('node:child_process')

const [cmd, ...args] = process.argv.slice(2)
if (!cmd) {
  console.error('usage: node guard.js <command> [args...]')
  process.exit(2)
}

const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] })

function killGroup(signal) {
  try {
    process.kill(-process.pid, signal)
  } catch {
    try {
      child.kill(signal)
    } catch {}
  }
}

let stopping = false
function stop() {
  if (stopping) return
  stopping = true
  killGroup('SIGTERM')
  setTimeout(() => killGroup('SIGKILL'), 3000).unref()
}

process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.on('error', stop)
process.stdin.resume()

// The group-wide SIGTERM reaches us too: pass it on and wait for the child to go.
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

child.on('error', (err) => {
  console.error(`[guard] cannot start ${cmd}: ${err.message}`)
  process.exit(127)
})
child.on('exit', (code, signal) => {
  console.error(`[guard] ${cmd} exited (${signal || code})`)
  // Take down whatever the child left in the group (e.g. workers it forked). We handle
  // SIGTERM ourselves, so this does not kill us before we report the child's exit code.
  stopping = true
  try {
    process.kill(-process.pid, 'SIGTERM')
  } catch {}
  process.exit(code ?? (signal ? 128 + (require('node:os').constants.signals[signal] || 1) : 1))
})
