import { Suspense } from 'react'
import { connection } from 'next/server'
import { getSoft } from '../../../lib/data'
import Marks from '../../../components/Marks'
import Served from '../../../components/Served'

// getSoft() carries no tag anyone revalidates: revalidatePath('/soft/<slug>') (or
// '/soft/[slug]', 'page') reaches its entry only through this page's implicit tags.
export default function SoftPage({ params }) {
  return (
    <main>
      <Suspense fallback={<p>Loading…</p>}>
        <Soft params={params} />
      </Suspense>
    </main>
  )
}

async function Soft({ params }) {
  await connection()
  const { slug } = await params
  const data = await getSoft(slug)
  return (
    <section>
      <h1>{String(data.title)}</h1>
      <Served />
      <Marks prefix="fn" data={data} />
    </section>
  )
}
