// App Router data access. Every read goes through Next's data cache with tags, so a CMS
// webhook can invalidate exactly what changed (revalidateTag) and the pages built from it.
import { unstable_cache } from 'next/cache'
import { readCms } from './cms-file'

const REVALIDATE = 3600

export const getPosts = unstable_cache(
  async () => {
    const cms = readCms()
    return { rev: cms.rev, site: cms.site, posts: cms.posts }
  },
  ['posts'],
  { tags: ['posts'], revalidate: REVALIDATE },
)

export async function getPost(slug) {
  return unstable_cache(
    async () => {
      const cms = readCms()
      return { rev: cms.rev, post: cms.posts.find((p) => p.slug === slug) || null }
    },
    ['post', slug],
    { tags: ['posts', `post:${slug}`], revalidate: REVALIDATE },
  )()
}

export const getProducts = unstable_cache(
  async () => {
    const cms = readCms()
    return { rev: cms.rev, products: cms.products }
  },
  ['products'],
  { tags: ['products'], revalidate: REVALIDATE },
)

export async function getProduct(id) {
  return unstable_cache(
    async () => {
      const cms = readCms()
      return { rev: cms.rev, product: cms.products.find((p) => p.id === id) || null }
    },
    ['product', id],
    { tags: ['products', `product:${id}`], revalidate: REVALIDATE },
  )()
}

// News comes over HTTP, as from a real headless CMS: a tagged fetch() that lands in Next's
// fetch cache. CMS_URL points at a small server that serves the CMS file (the e2e harness
// and the demo start one). Without it, the same data is read from the file, same tag.
export async function getNews() {
  const base = process.env.CMS_URL
  if (base) {
    const res = await fetch(`${base.replace(/\/$/, '')}/cms.json`, { next: { tags: ['news'], revalidate: REVALIDATE } })
    if (!res.ok) throw new Error(`CMS answered ${res.status}`)
    const cms = await res.json()
    return { rev: cms.rev, news: cms.news, source: 'fetch' }
  }
  return getNewsFromFile()
}

const getNewsFromFile = unstable_cache(
  async () => {
    const cms = readCms()
    return { rev: cms.rev, news: cms.news, source: 'file' }
  },
  ['news'],
  { tags: ['news'], revalidate: REVALIDATE },
)

export async function getLive() {
  return unstable_cache(
    async () => {
      const cms = readCms()
      return { rev: cms.rev, live: cms.live }
    },
    ['live'],
    { tags: ['live'], revalidate: 10 },
  )()
}
