'use server'
// The editor's server actions: write the CMS, then expire the article's tag so the writer
// reads its own write. 16: updateTag (immediate expiry; Server Actions only). 15.5: there is
// no updateTag, and revalidateTag(tag) already means "expired now".
import { redirect } from 'next/navigation'
import { readCms, writeCms } from '../lib/cms-file'
import { updateTag } from '../lib/next-cache'

function save(formData) {
  const slug = String(formData.get('slug') ?? '')
  const cms = readCms()
  const a = cms.articles.find((x) => x.slug === slug)
  if (!a) throw new Error(`no article ${slug}`)
  a.title = String(formData.get('title') ?? a.title)
  const rev = formData.get('rev')
  if (rev) cms.rev = String(rev)
  writeCms(cms)
  updateTag(`article:${slug}`)
  return slug
}

export async function saveTitle(formData) {
  save(formData)
}

export async function saveTitleAndRedirect(formData) {
  const slug = save(formData)
  redirect(`/articles/${slug}`)
}
