import RenderInfo from '../components/RenderInfo'
import { instanceName, readCms } from '../lib/cms-file'

// The Pages Router twin of /ticker: getStaticProps with `revalidate: 3`.
export default function TickerPages({ message, rev, instance, renderedAt }) {
  return (
    <main>
      <h1 data-testid="content">{message}</h1>
      <p>{'Time-based revalidation every 3 seconds (Pages Router).'}</p>
      <RenderInfo rev={rev} instance={instance} renderedAt={renderedAt} router="pages" />
    </main>
  )
}

export async function getStaticProps() {
  const cms = readCms()
  return {
    props: { message: cms.live.message, rev: cms.rev, instance: instanceName(), renderedAt: Date.now() },
    revalidate: 3,
  }
}
