import type { SharedIsrUseCacheHandler } from './index'
/** `cacheHandlers: { default: require.resolve('shared-isr/use-cache'), remote: ... }`. */
declare const handler: SharedIsrUseCacheHandler
export = handler
