'use strict'
// HTTP load in its own process (autocannon), so it never shares an event loop with the
// balancer: node load.js '<json options>' prints one JSON result line.

const autocannon = require(require.resolve('autocannon', { paths: [require('node:path').resolve(__dirname, '..')] }))

const opts = JSON.parse(process.argv[2])
autocannon(
  {
    url: opts.url,
    connections: opts.connections,
    duration: opts.duration,
    requests: opts.paths.map((p) => ({ method: 'GET', path: p })),
    timeout: 30,
  },
  (err, r) => {
    if (err) {
      process.stdout.write(JSON.stringify({ error: String(err) }) + '\n')
      process.exit(1)
    }
    process.stdout.write(
      JSON.stringify({
        requests: r.requests.total,
        durationS: r.duration,
        rps: r.requests.total / r.duration,
        latency: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: r.latency.mean, max: r.latency.max },
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        bytesPerReq: r.throughput.total / Math.max(1, r.requests.total),
      }) + '\n',
    )
  },
)
