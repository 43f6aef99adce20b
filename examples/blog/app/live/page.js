import RenderInfo from '../../components/RenderInfo'
import { getLive } from '../../lib/cms'
import { instanceName } from '../../lib/cms-file'

// Time-based ISR: stale after 10 s, regenerated in the background on the next request.
export const revalidate = 10

export default async function LivePage() {
  const { rev, live } = await getLive()
  return (
    <main>
      <h1 data-testid="content">{live.message}</h1>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
