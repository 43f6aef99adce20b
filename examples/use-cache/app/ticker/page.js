import { Suspense } from 'react'
import { connection } from 'next/server'
import { getTicker } from '../../lib/data'
import Marks from '../../components/Marks'
import Served from '../../components/Served'

// Time-based: getTicker() uses the custom cacheLife profile `blink` (revalidate 3 s).
export default function TickerPage() {
  return (
    <main>
      <Suspense fallback={<p>Loading…</p>}>
        <Ticker />
      </Suspense>
    </main>
  )
}

async function Ticker() {
  await connection()
  const data = await getTicker()
  return (
    <section>
      <h1>{String(data.title)}</h1>
      <Served />
      <Marks prefix="fn" data={data} />
    </section>
  )
}
