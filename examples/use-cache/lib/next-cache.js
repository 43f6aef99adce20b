// The same app on Next 16 and 15.5: 16 exports the stable names (and updateTag); 15.5 only
// `unstable_cacheTag` / `unstable_cacheLife` and has no updateTag.
import * as nextCache from 'next/cache'

export const cacheTag = nextCache.cacheTag ?? nextCache.unstable_cacheTag
export const cacheLife = nextCache.cacheLife ?? nextCache.unstable_cacheLife
export const { revalidateTag, revalidatePath } = nextCache
/** 16: `updateTag` (immediate expiry, Server Actions only). 15.5: `revalidateTag`, which expires now too. */
export const updateTag = nextCache.updateTag ?? ((tag) => nextCache.revalidateTag(tag))
export const HAS_UPDATE_TAG = typeof nextCache.updateTag === 'function'
