// Every read of the CMS goes through a 'use cache' function. Each result carries a stamp taken
// INSIDE the cached function (instance, time, random id): a cache hit shows the stamp of the
// render that filled the entry, wherever it ran; a re-render shows a new one.
import { readCms, instanceName } from './cms-file'
import { cacheTag, cacheLife } from './next-cache'

export function stamp() {
  return { by: instanceName(), at: Date.now(), id: Math.random().toString(36).slice(2, 10) }
}

function article(cms, slug) {
  return cms.articles.find((a) => a.slug === slug) ?? null
}

/** Tags `articles`, `article:<slug>`; built-in profile `hours` (revalidate 1 h, expire 1 day). */
export async function getArticle(slug) {
  'use cache'
  cacheLife('hours')
  cacheTag('articles', `article:${slug}`)
  const cms = readCms()
  return { rev: cms.rev, title: article(cms, slug)?.title ?? null, ...stamp() }
}

/** 'use cache: remote': the handler registered as `remote`. Tag `notice`. */
export async function getNotice() {
  'use cache: remote'
  cacheLife('hours')
  cacheTag('notice')
  const cms = readCms()
  return { rev: cms.rev, title: cms.notice.message, ...stamp() }
}

/**
 * No tag anyone revalidates: only the implicit ("soft") tags of the page that reads it, which
 * Next passes to the handler's get() and getExpiration(), can reach it (revalidatePath).
 */
export async function getSoft(slug) {
  'use cache'
  cacheLife('hours')
  cacheTag('never-revalidated')
  const cms = readCms()
  return { rev: cms.rev, title: article(cms, slug)?.title ?? null, ...stamp() }
}

/** Custom profile `blink` (next.config.js): revalidate after 3 s, expire after 1 h. */
export async function getTicker() {
  'use cache'
  cacheLife('blink')
  cacheTag('ticker')
  const cms = readCms()
  return { rev: cms.rev, title: cms.ticker.message, ...stamp() }
}
