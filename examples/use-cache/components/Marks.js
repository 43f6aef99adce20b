// Machine-readable markers of one cached result, parsed by the e2e tests (data-testid).
// `<prefix>-render` is "<instance>@<ms>#<id>", taken inside the cached function or component.
// Each value is a single string child so React emits no <!-- --> separators inside.
export default function Marks({ prefix, data }) {
  return (
    <dl className={`marks marks-${prefix}`}>
      <dt>CMS revision</dt>
      <dd data-testid={`${prefix}-rev`}>{String(data.rev)}</dd>
      <dt>Title</dt>
      <dd data-testid={`${prefix}-title`}>{String(data.title)}</dd>
      <dt>Cached render</dt>
      <dd data-testid={`${prefix}-render`}>{`${data.by}@${data.at}#${data.id}`}</dd>
    </dl>
  )
}
