'use strict'
// The app's cacheLife profiles (next.config `cacheLife`, with Next's built-ins), for
// `revalidateTags(tags, name)`. Next 16 resolves `revalidateTag(tag, name)` from the request's
// work store; we read the same store, through Next's `.external` module: the one instance
// Next's bundles share with packages Node loads itself (serverExternalPackages). Outside a
// request, or where Next is not found: undefined (the caller falls back to the built-ins).

const MODULE = 'next/dist/server/app-render/work-async-storage.external'

let storage // undefined: not looked up yet; null: unavailable

function workAsyncStorage() {
  if (storage !== undefined) return storage
  storage = null
  // Next as this package sees it, else the app's (cwd: `next start`, a standalone server.js).
  for (const paths of [undefined, [process.cwd()]]) {
    try {
      storage = require(require.resolve(MODULE, paths && { paths })).workAsyncStorage ?? null
      if (storage) break
    } catch {}
  }
  return storage
}

/** The app's profile `name` as the current request sees it (`{ expire, ... }`), or undefined. */
function appProfile(name) {
  let profiles
  try {
    profiles = workAsyncStorage()?.getStore()?.cacheLifeProfiles
  } catch {
    return undefined
  }
  return profiles && Object.hasOwn(profiles, name) ? profiles[name] : undefined
}

module.exports = { appProfile }
