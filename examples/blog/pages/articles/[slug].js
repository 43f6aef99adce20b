import { useRouter } from 'next/router'
import RenderInfo from '../../components/RenderInfo'
import { instanceName, readCms } from '../../lib/cms-file'

// fallback: true: unknown slugs get the fallback shell at once, then the generated page.
export default function Article({ post, rev, instance, renderedAt }) {
  const router = useRouter()
  if (router.isFallback) {
    return (
      <main>
        <p data-testid="fallback">Loading…</p>
      </main>
    )
  }
  return (
    <main>
      <article>
        <h1 data-testid="content">{post.title}</h1>
        <p>{post.body}</p>
      </article>
      <RenderInfo rev={rev} instance={instance} renderedAt={renderedAt} router="pages" />
    </main>
  )
}

export async function getStaticPaths() {
  // Only the first post is prerendered; the others go through the fallback.
  return {
    paths: readCms()
      .posts.slice(0, 1)
      .map((p) => ({ params: { slug: p.slug } })),
    fallback: true,
  }
}

export async function getStaticProps({ params }) {
  const cms = readCms()
  const post = cms.posts.find((p) => p.slug === params.slug)
  if (!post) return { notFound: true, revalidate: 60 }
  return { props: { post, rev: cms.rev, instance: instanceName(), renderedAt: Date.now() }, revalidate: 3600 }
}
