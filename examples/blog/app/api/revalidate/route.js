import crypto from 'node:crypto'
import { NextResponse } from 'next/server'
import { revalidatePath, revalidateTag } from 'next/cache'
import nextPackage from 'next/package.json'
import { instanceName } from '../../../lib/cms-file'

// The CMS webhook: POST { tags?: string[], paths?: (string | { path, type })[] }
// with header `x-revalidate-secret: $REVALIDATE_SECRET` (or ?secret=).
// It reaches ONE instance through the load balancer; the shared cache makes it count for all.
export const dynamic = 'force-dynamic'

const NEXT_MAJOR = parseInt(nextPackage.version, 10)

function secretMatches(given) {
  const expected = process.env.REVALIDATE_SECRET
  if (!expected || typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

export async function POST(request) {
  const given = request.headers.get('x-revalidate-secret') ?? new URL(request.url).searchParams.get('secret')
  if (!secretMatches(given)) {
    return NextResponse.json({ error: 'invalid secret' }, { status: 401 })
  }
  let body
  try {
    body = await request.json()
  } catch {
    return NextResponse.json({ error: 'body must be JSON' }, { status: 400 })
  }
  const tags = body?.tags ?? []
  const paths = body?.paths ?? []
  const validPath = (p) => typeof p === 'string' || (p && typeof p.path === 'string')
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string') || !Array.isArray(paths) || !paths.every(validPath)) {
    return NextResponse.json({ error: 'expected { tags?: string[], paths?: (string | { path, type })[] }' }, { status: 400 })
  }

  const profile = body?.profile
  if (profile !== undefined && (NEXT_MAJOR < 16 || typeof profile !== 'string')) {
    return NextResponse.json({ error: 'profile: a cacheLife profile name, Next 16 only' }, { status: 400 })
  }
  for (const tag of tags) {
    if (NEXT_MAJOR >= 16) {
      // 16 deprecates the one-argument form; { expire: 0 } expires the tag now, as 14/15 do;
      // a profile ('max') marks it stale: served while it regenerates.
      revalidateTag(tag, profile ?? { expire: 0 })
    } else {
      revalidateTag(tag)
    }
  }
  for (const p of paths) {
    if (typeof p === 'string') revalidatePath(p)
    else revalidatePath(p.path, p.type)
  }

  return NextResponse.json({
    revalidated: true,
    tags,
    paths,
    next: nextPackage.version,
    instance: instanceName(),
    now: Date.now(),
  })
}
