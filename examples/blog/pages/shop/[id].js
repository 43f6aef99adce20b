import RenderInfo from '../../components/RenderInfo'
import { instanceName, readCms } from '../../lib/cms-file'

// Pages Router closed route: fallback: false, every other id is a 404.
export default function ShopItem({ product, rev, instance, renderedAt }) {
  return (
    <main>
      <h1 data-testid="content">{product.name}</h1>
      <p data-testid="price">{`$${product.price}`}</p>
      <RenderInfo rev={rev} instance={instance} renderedAt={renderedAt} router="pages" />
    </main>
  )
}

export async function getStaticPaths() {
  return { paths: readCms().products.map((p) => ({ params: { id: p.id } })), fallback: false }
}

export async function getStaticProps({ params }) {
  const cms = readCms()
  const product = cms.products.find((p) => p.id === params.id)
  if (!product) return { notFound: true, revalidate: 60 }
  return { props: { product, rev: cms.rev, instance: instanceName(), renderedAt: Date.now() }, revalidate: 3600 }
}
