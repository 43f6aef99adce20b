import crypto from 'node:crypto'
import { NextResponse } from 'next/server'
import nextPackage from 'next/package.json'
import { revalidatePath, revalidateTag } from '../../../lib/next-cache'
import { instanceName } from '../../../lib/cms-file'

// The CMS webhook: POST { tags?: string[], profile?: string | { expire }, paths?: (string | { path, type })[] }
// with header `x-revalidate-secret: $REVALIDATE_SECRET`.
// 16: revalidateTag(tag, profile), profile 'max' unless given: stale now, regenerated on the
// next read (stale-while-revalidate). 15.5: revalidateTag(tag), which expires the tag now.
const NEXT_MAJOR = parseInt(nextPackage.version, 10)

function secretMatches(given) {
  const expected = process.env.REVALIDATE_SECRET
  if (!expected || typeof given !== 'string') return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

export async function POST(request) {
  if (!secretMatches(request.headers.get('x-revalidate-secret'))) {
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
  const profile = body?.profile ?? 'max'
  const validPath = (p) => typeof p === 'string' || (p && typeof p.path === 'string')
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string') || !Array.isArray(paths) || !paths.every(validPath)) {
    return NextResponse.json({ error: 'expected { tags?: string[], profile?, paths?: (string | { path, type })[] }' }, { status: 400 })
  }
  for (const tag of tags) {
    if (NEXT_MAJOR >= 16) revalidateTag(tag, profile)
    else revalidateTag(tag)
  }
  for (const p of paths) {
    if (typeof p === 'string') revalidatePath(p)
    else revalidatePath(p.path, p.type)
  }
  return NextResponse.json({
    revalidated: true,
    tags,
    paths,
    profile: NEXT_MAJOR >= 16 ? profile : null,
    next: nextPackage.version,
    instance: instanceName(),
    now: Date.now(),
  })
}
