import RenderInfo from '../../components/RenderInfo'
import { getNews } from '../../lib/cms'
import { instanceName } from '../../lib/cms-file'

export const revalidate = 3600

export default async function NewsPage() {
  const { rev, news, source } = await getNews()
  return (
    <main>
      <h1 data-testid="content">{news[0]?.headline ?? 'No news'}</h1>
      <ul>
        {news.map((n) => (
          <li key={n.id}>{n.headline}</li>
        ))}
      </ul>
      <p>
        {'Source: '}
        <span data-testid="source">{source}</span>
      </p>
      <RenderInfo rev={rev} instance={instanceName()} renderedAt={Date.now()} router="app" />
    </main>
  )
}
