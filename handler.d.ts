import type { SharedIsrCacheHandlerClass } from './index'
/** `cacheHandler: require.resolve('shared-isr/handler')`: configured from the environment. */
declare const SharedIsrCacheHandler: SharedIsrCacheHandlerClass
export = SharedIsrCacheHandler
