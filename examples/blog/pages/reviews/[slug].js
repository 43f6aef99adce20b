import RenderInfo from '../../components/RenderInfo'
import { instanceName, readCms } from '../../lib/cms-file'

// fallback: 'blocking': unknown slugs are rendered on the server before the first response.
export default function Review({ post, rev, instance, renderedAt }) {
  return (
    <main>
      <article>
        <h1 data-testid="content">{`Review: ${post.title}`}</h1>
        <p>{post.body}</p>
      </article>
      <RenderInfo rev={rev} instance={instance} renderedAt={renderedAt} router="pages" />
    </main>
  )
}

export async function getStaticPaths() {
  return {
    paths: readCms()
      .posts.slice(0, 1)
      .map((p) => ({ params: { slug: p.slug } })),
    fallback: 'blocking',
  }
}

export async function getStaticProps({ params }) {
  const cms = readCms()
  const post = cms.posts.find((p) => p.slug === params.slug)
  if (!post) return { notFound: true, revalidate: 60 }
  return { props: { post, rev: cms.rev, instance: instanceName(), renderedAt: Date.now() }, revalidate: 3600 }
}
