import { notFound } from 'next/navigation'
import RenderInfo from '../../../components/RenderInfo'
import { getPost, getPosts } from '../../../lib/cms'
import { instanceName } from '../../../lib/cms-file'

export const revalidate = 3600
// Open route: posts published after the build are rendered on first request.
export const dynamicParams = true

export async function generateStaticParams() {
  const { posts } = await getPosts()
  return posts.map((p) => ({ slug: p.slug }))
}

export default async function PostPage({ params }) {
  // `await` works on 14 (plain object) as well as 15/16 (Promise).
  const { slug } = await params
  const { rev, post } = await getPost(slug)
  if (!post) notFound()
  return (
    <main>
      <article>
        <h1 data-testid="content">{post.title}</h1>
        <p>{post.body}</p>
      </article>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
