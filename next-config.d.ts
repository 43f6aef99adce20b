import type { SharedIsrOptions } from './index'

/**
 * What `withSharedIsr` passes to the handlers: the options of `createHandler`, except `logger`
 * (a function cannot reach them). They are written into the build output, so `redisUrl` must
 * carry no password, in any host's userinfo or as `sentinelPassword` (set SHARED_ISR_REDIS_URL in
 * the environment instead).
 */
export type SharedIsrNextConfigOptions = Omit<SharedIsrOptions, 'logger'>

/**
 * Sets shared-isr's cache handlers for the installed Next version (14.2, 15, 16): `cacheHandler`,
 * `cacheMaxMemorySize: 0`, the `'use cache'` handlers where supported, and 'shared-isr' in
 * `serverExternalPackages`. Takes a config object or a `(phase, ctx) => config` function
 * (possibly async) and returns the same kind. Throws `ERR_SHARED_ISR_CONFIG` when another
 * handler is already configured.
 */
export declare function withSharedIsr<T extends object>(config: T, options?: SharedIsrNextConfigOptions): T
