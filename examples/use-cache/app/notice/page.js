import { Suspense } from 'react'
import { connection } from 'next/server'
import { getNotice } from '../../lib/data'
import Marks from '../../components/Marks'
import Served from '../../components/Served'

// 'use cache: remote' (the handler registered as `remote`).
export default function NoticePage() {
  return (
    <main>
      <Suspense fallback={<p>Loading…</p>}>
        <Notice />
      </Suspense>
    </main>
  )
}

async function Notice() {
  await connection()
  const data = await getNotice()
  return (
    <section>
      <h1>{String(data.title)}</h1>
      <Served />
      <Marks prefix="fn" data={data} />
    </section>
  )
}
