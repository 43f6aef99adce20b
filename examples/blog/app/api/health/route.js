import { NextResponse } from 'next/server'
import { instanceName } from '../../../lib/cms-file'

// Readiness probe for load balancers and the e2e harness; never cached, touches no cache entry.
export const dynamic = 'force-dynamic'

export async function GET() {
  return NextResponse.json({ ok: true, instance: instanceName() })
}
