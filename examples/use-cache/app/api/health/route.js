import { NextResponse, connection } from 'next/server'
import { instanceName } from '../../../lib/cms-file'

// Readiness probe for load balancers and the e2e harness; dynamic, touches no cache entry.
// (No `dynamic = 'force-dynamic'`: cacheComponents rejects route segment config; connection() does it.)
export async function GET() {
  await connection()
  return NextResponse.json({ ok: true, instance: instanceName() })
}
