// Which instance answered this request, and when: outside any cache, rendered every time.
import { instanceName } from '../lib/cms-file'

export default function Served() {
  return (
    <p className="served">
      <span data-testid="served-by">{instanceName()}</span> <span data-testid="served-at">{String(Date.now())}</span>
    </p>
  )
}
