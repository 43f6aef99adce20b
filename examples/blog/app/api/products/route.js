import { NextResponse } from 'next/server'
import { getProducts } from '../../../lib/cms'
import { instanceName } from '../../../lib/cms-file'

// A cached GET route handler (APP_ROUTE entry): static, refreshed by ISR or by the 'products' tag.
export const dynamic = 'force-static'
export const revalidate = 3600

export async function GET() {
  const { rev, products } = await getProducts()
  return NextResponse.json({ rev, products, instance: instanceName(), renderedAt: Date.now() })
}
