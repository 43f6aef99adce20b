// A cached component: 'use cache' on the component itself, its props are part of the key.
import { readCms } from '../lib/cms-file'
import { stamp } from '../lib/data'
import { cacheTag, cacheLife } from '../lib/next-cache'
import Marks from './Marks'

export default async function ArticleCard({ slug }) {
  'use cache'
  cacheLife('hours')
  cacheTag('articles', `article:${slug}`, `card:${slug}`)
  const cms = readCms()
  const a = cms.articles.find((x) => x.slug === slug)
  return (
    <section className="card">
      <h2>{a ? a.title : 'not found'}</h2>
      <Marks prefix="cmp" data={{ rev: cms.rev, title: a?.title ?? null, ...stamp() }} />
    </section>
  )
}
