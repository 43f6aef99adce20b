import RenderInfo from '../components/RenderInfo'
import { instanceName, readCms } from '../lib/cms-file'

export default function About({ site, rev, instance, renderedAt }) {
  return (
    <main>
      <h1 data-testid="content">{`About ${site.name}`}</h1>
      <p>A Pages Router page with getStaticProps and time-based revalidation.</p>
      <RenderInfo rev={rev} instance={instance} renderedAt={renderedAt} router="pages" />
    </main>
  )
}

export async function getStaticProps() {
  const cms = readCms()
  return {
    props: { site: cms.site, rev: cms.rev, instance: instanceName(), renderedAt: Date.now() },
    revalidate: 3600,
  }
}
