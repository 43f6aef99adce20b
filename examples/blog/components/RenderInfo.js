// Visible, machine-readable markers: which CMS revision a page shows, which instance
// rendered it and when. The e2e tests parse the data-testid elements.
// Each value is a single string child so React emits no <!-- --> separators inside.
export default function RenderInfo({ rev, instance, renderedAt, router }) {
  return (
    <footer className="render-info">
      <dl>
        <dt>CMS revision</dt>
        <dd data-testid="rev">{String(rev)}</dd>
        <dt>Rendered by</dt>
        <dd data-testid="instance">{String(instance)}</dd>
        <dt>Rendered at</dt>
        <dd data-testid="rendered-at">{String(renderedAt)}</dd>
        <dt>Router</dt>
        <dd data-testid="router">{String(router)}</dd>
      </dl>
    </footer>
  )
}
