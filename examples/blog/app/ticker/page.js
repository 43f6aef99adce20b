import RenderInfo from '../../components/RenderInfo'
import { instanceName, readCms } from '../../lib/cms-file'

// Time-based ISR with a short period, so the e2e tests (and the demo) can show
// stale-while-revalidate without waiting long: stale 3 s after it was rendered, then the next
// request gets the stale page once and regenerates it in the background. The CMS is read
// directly (no data cache in between), so one regeneration is enough to show new content.
export const revalidate = 3

export default async function TickerPage() {
  const { rev, live } = readCms()
  return (
    <main>
      <h1 data-testid="content">{live.message}</h1>
      <p>{'Time-based revalidation every 3 seconds (App Router).'}</p>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
