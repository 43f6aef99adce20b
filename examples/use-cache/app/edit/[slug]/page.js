import { Suspense } from 'react'
import { connection } from 'next/server'
import { getArticle } from '../../../lib/data'
import { saveTitle, saveTitleAndRedirect } from '../../actions'
import Marks from '../../../components/Marks'
import Served from '../../../components/Served'

// The editor: shows the cached article and saves a new title through a server action. The
// forms work without JavaScript (a multipart POST carrying $ACTION_ID_<id>), which is how the
// e2e tests submit them.
export default function EditPage({ params }) {
  return (
    <main>
      <Suspense fallback={<p>Loading…</p>}>
        <Editor params={params} />
      </Suspense>
    </main>
  )
}

async function Editor({ params }) {
  await connection()
  const { slug } = await params
  const data = await getArticle(slug)
  return (
    <section>
      <h1>Edit {String(data.title)}</h1>
      <Served />
      <Marks prefix="fn" data={data} />
      <form action={saveTitle} data-testid="form-save">
        <input type="hidden" name="slug" value={slug} />
        <input name="title" defaultValue={data.title ?? ''} />
        <input name="rev" defaultValue="" />
        <button type="submit">Save</button>
      </form>
      <form action={saveTitleAndRedirect} data-testid="form-save-redirect">
        <input type="hidden" name="slug" value={slug} />
        <input name="title" defaultValue={data.title ?? ''} />
        <input name="rev" defaultValue="" />
        <button type="submit">Save and view</button>
      </form>
    </section>
  )
}
