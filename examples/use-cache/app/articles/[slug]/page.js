import { Suspense } from 'react'
import { connection } from 'next/server'
import { getArticle } from '../../../lib/data'
import ArticleCard from '../../../components/ArticleCard'
import Marks from '../../../components/Marks'
import Served from '../../../components/Served'

// Dynamic page (connection()), so every request calls the cached function and component:
// what it shows comes from the 'use cache' handler, not from a cached page. Inside Suspense:
// with cacheComponents (16) the shell around it is prerendered.
export default function ArticlePage({ params }) {
  return (
    <main>
      <Suspense fallback={<p>Loading…</p>}>
        <Article params={params} />
      </Suspense>
    </main>
  )
}

async function Article({ params }) {
  await connection()
  const { slug } = await params
  const data = await getArticle(slug)
  return (
    <article>
      <h1>{String(data.title)}</h1>
      <Served />
      <h2>getArticle() (cached function)</h2>
      <Marks prefix="fn" data={data} />
      <h2>&lt;ArticleCard&gt; (cached component)</h2>
      <ArticleCard slug={slug} />
    </article>
  )
}
