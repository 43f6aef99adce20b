import crypto from 'node:crypto'
import { instanceName } from '../../lib/cms-file'

// Pages Router on-demand ISR: POST { paths: string[] } with `x-revalidate-secret`.
// res.revalidate() regenerates each page on this instance and stores it in the cache.
function secretMatches(given) {
  const expected = process.env.REVALIDATE_SECRET
  if (!expected || typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

export default async function handler(req, res) {
  if (req.method !== 'POST') {
    res.setHeader('Allow', 'POST')
    return res.status(405).json({ error: 'method not allowed' })
  }
  if (!secretMatches(req.headers['x-revalidate-secret'] ?? req.query.secret)) {
    return res.status(401).json({ error: 'invalid secret' })
  }
  const paths = req.body?.paths
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string' && p.startsWith('/'))) {
    return res.status(400).json({ error: 'expected { paths: string[] }' })
  }
  try {
    for (const p of paths) await res.revalidate(p)
  } catch (err) {
    return res.status(500).json({ error: `revalidation failed: ${err.message}` })
  }
  return res.json({ revalidated: true, paths, instance: instanceName(), now: Date.now() })
}
