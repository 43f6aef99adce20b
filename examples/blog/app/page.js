import Link from 'next/link'
import RenderInfo from '../components/RenderInfo'
import { getPosts } from '../lib/cms'
import { instanceName } from '../lib/cms-file'

// ISR: long enough that only on-demand revalidation (the CMS webhook) refreshes it in tests.
export const revalidate = 3600

export default async function Home() {
  const { rev, site, posts } = await getPosts()
  return (
    <main>
      <h1 data-testid="content">{site.name}</h1>
      <ul data-testid="post-list">
        {posts.map((p) => (
          <li key={p.slug}>
            <Link href={`/posts/${p.slug}`} prefetch={false}>
              {p.title}
            </Link>
          </li>
        ))}
      </ul>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
