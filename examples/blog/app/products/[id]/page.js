import { notFound } from 'next/navigation'
import RenderInfo from '../../../components/RenderInfo'
import { getProduct, getProducts } from '../../../lib/cms'
import { instanceName } from '../../../lib/cms-file'

export const revalidate = 3600
// Closed route: only the products known at build time exist; anything else is a 404.
export const dynamicParams = false

export async function generateStaticParams() {
  const { products } = await getProducts()
  return products.map((p) => ({ id: p.id }))
}

export default async function ProductPage({ params }) {
  const { id } = await params
  const { rev, product } = await getProduct(id)
  if (!product) notFound()
  return (
    <main>
      <h1 data-testid="content">{product.name}</h1>
      <p data-testid="price">{`$${product.price}`}</p>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
