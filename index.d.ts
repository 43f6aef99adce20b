/* The public types of `shared-isr`, written by hand; the addon's own (binding.d.ts) are generated and internal. */

/** Options accepted everywhere; each falls back to its environment variable. */
export interface SharedIsrOptions {
  /**
   * `redis://` or `rediss://` URL (user/password allowed); `redis+cluster://h1:7000,h2:7000` for a Cluster;
   * `redis+sentinel://s1:26379,s2:26379/<service>` for Sentinel (`rediss+` for TLS). Env: SHARED_ISR_REDIS_URL,
   * then REDIS_URL. Absent: in-memory store.
   */
  redisUrl?: string | null
  /** Key prefix; lets several apps share one Redis. Env: SHARED_ISR_PREFIX. Default `shared-isr:`. */
  prefix?: string
  /** Upper bound of one Redis operation, ms. Env: SHARED_ISR_TIMEOUT_MS. Default 1000. */
  timeoutMs?: number
  /** Upper bound of connecting, ms. Env: SHARED_ISR_CONNECT_TIMEOUT_MS. Default 1000. */
  connectTimeoutMs?: number
  /** Byte budget of the in-memory store. Env: SHARED_ISR_MEMORY_MAX_MB. Default 256 MiB. */
  memoryMaxBytes?: number
  /** Largest value stored; larger ones are skipped and counted. Env: SHARED_ISR_MAX_VALUE_MB. Default 32 MiB. */
  maxValueBytes?: number
  /**
   * Redis TTL when Next gives no `expire`, and the longest any entry is served (the retention):
   * revalidation stamps are kept as long. Env: SHARED_ISR_DEFAULT_TTL_SECONDS. Default one year.
   */
  defaultTtlSeconds?: number
  /** Byte budget of this process's cache of tag stamps (Redis). Env: SHARED_ISR_TAG_CACHE_MB. Default 16 MiB. */
  tagCacheMaxBytes?: number
  /** Byte budget of the local L1; 0 turns it off. Env: SHARED_ISR_L1_MAX_MB. Default 64 MiB. */
  l1MaxBytes?: number
  /** Longest time an L1 copy is served without hearing from Redis. Env: SHARED_ISR_MAX_STALENESS_MS. Default 1000. */
  maxStalenessMs?: number
  /** Check every L1 hit against Redis (8 bytes, one round trip): read-your-writes across instances. Env: SHARED_ISR_STRICT. */
  strict?: boolean
  /** `rediss://`: PEM file of the CA to trust instead of the public roots. Env: SHARED_ISR_TLS_CA_FILE. */
  tlsCaFile?: string
  /** `rediss://`: client certificate (PEM) for mutual TLS. Env: SHARED_ISR_TLS_CERT_FILE. */
  tlsCertFile?: string
  /** `rediss://`: client key (PEM) for mutual TLS. Env: SHARED_ISR_TLS_KEY_FILE. */
  tlsKeyFile?: string
  /**
   * Namespace of page and route entries; default: Next's deployment id (`deploymentId` in next
   * config, or NEXT_DEPLOYMENT_ID) when set, else the build's BUILD_ID. Env: SHARED_ISR_BUILD_ID.
   */
  buildId?: string
  /**
   * Where log lines go (pino, winston, or anything with `info`, `warn`, `error`): each line is
   * `logger.<level>({ name: 'shared-isr', event, ...fields }, message)`. Default: the console.
   * The first call for a configuration decides its logger.
   */
  logger?: SharedIsrLogger
  /** Regeneration lease (ms): one instance regenerates an entry per change; 0 turns it off. Env: SHARED_ISR_LEASE_MS. Default 15000. */
  leaseMs?: number
  /** How long, from when the holder took the lease, others wait for its new entry of an expired page before rendering it (ms). Env: SHARED_ISR_LEASE_WAIT_MS. Default 1000. */
  leaseWaitMs?: number
  /** How often this process registers itself in the fleet view (`npx shared-isr status`); 0 turns it off. Env: SHARED_ISR_HEARTBEAT_SECONDS. Default 5. */
  heartbeatSeconds?: number
  /**
   * The CDN or caching proxy in front of the balancer, tagged and purged on every revalidation
   * (README, *Behind a CDN*): `varnish://host:port[,host:port...]`, `fastly://<service id>`,
   * `cloudflare://<zone id>`, or an object. Env: SHARED_ISR_CDN_URL.
   */
  cdn?: string | SharedIsrCdnOptions | null
}

/** The `cdn` option as an object: a URL, or your own purge for any other CDN. */
export interface SharedIsrCdnOptions {
  /** `varnish://host:port[,host:port...]`, `fastly://<service id>[?soft=1]`, `cloudflare://<zone id>[?rate=60]`. */
  url?: string
  /** Fastly/Cloudflare API token; default FASTLY_API_TOKEN / CLOUDFLARE_API_TOKEN. In code only. */
  token?: string
  /** The response header the CDN reads tags from (Varnish: `xkey`); required with `onPurge`. */
  header?: string
  /** Upper bound of one purge request, ms. Default 5000. */
  timeoutMs?: number
  /**
   * Purges at any CDN: `keys` as they appear in the header (`all`: everything shared-isr tagged,
   * the key `sisr-all`). A rejection is retried with backoff; nothing is dropped. In code only
   * (not through withSharedIsr).
   */
  onPurge?: (purge: { tags: string[]; keys: string[]; all: boolean }) => Promise<void> | void
}

/** A pino/console-compatible logger. */
export interface SharedIsrLogger {
  info(fields: SharedIsrLogFields, message: string): void
  warn(fields: SharedIsrLogFields, message: string): void
  error(fields: SharedIsrLogFields, message: string): void
}

/** Structured fields of a log line; `event` is stable, to filter on. */
export interface SharedIsrLogFields {
  name: 'shared-isr'
  event:
    | 'store_failing'
    | 'store_recovered'
    | 'entry_ignored'
    | 'write_skipped'
    | 'call_failed'
    | 'copy_dropped'
    | 'config_invalid'
    | 'memory_store'
    | 'redis_store'
    | 'revalidations_dropped'
    | 'revalidations_lost'
    | 'tracking_refused'
    | 'scripting_refused'
  op?: string
  code?: SharedIsrErrorCode | string
  key?: string
  store?: 'redis' | 'memory'
  /** `redis_store`: the Redis URL with its password redacted, and the key prefix. */
  url?: string
  prefix?: string
  /** `revalidations_dropped`, `revalidations_lost`: how many tags (and revalidations) were given up on. */
  tags?: number
  revalidations?: number
}

/** Next's built-in cacheLife profile names. */
export type BuiltInCacheLifeProfile = 'default' | 'seconds' | 'minutes' | 'hours' | 'days' | 'weeks' | 'max'

/**
 * Next 16's second `revalidateTag` argument (`string | { expire?: number }`): a built-in cacheLife
 * profile, the name of one in the app's next.config `cacheLife` (resolved within a Next request;
 * elsewhere a name that is not built in is refused), or `{ expire: seconds }`. Stale now, expired
 * after the profile's `expire`. Without one, the tags expire now (like `updateTag`).
 */
// `string & {}` keeps the built-in names as editor suggestions while any name is accepted.
export type RevalidateProfile = BuiltInCacheLifeProfile | (string & {}) | { expire?: number }

/** Stable codes carried by `err.code`. */
export type SharedIsrErrorCode =
  | 'ERR_SHARED_ISR_CONFIG'
  | 'ERR_SHARED_ISR_UNAVAILABLE'
  | 'ERR_SHARED_ISR_TIMEOUT'
  | 'ERR_SHARED_ISR_REDIS'
  | 'ERR_SHARED_ISR_TOO_LARGE'
  | 'ERR_SHARED_ISR_CORRUPT'
  | 'ERR_SHARED_ISR_CLOSED'

/** The class Next instantiates (`cacheHandler`). */
export interface SharedIsrCacheHandlerClass {
  new (
    ctx?: Record<string, unknown>,
  ): {
    get(
      key: string,
      ctx?: Record<string, unknown>,
    ): Promise<{ value: unknown; lastModified: number; cacheControl?: { revalidate: number | false; expire?: number } } | null>
    set(key: string, data: unknown, ctx?: Record<string, unknown>): Promise<void>
    revalidateTag(tags: string | string[], durations?: { expire?: number }): Promise<void>
    resetRequestCache(): void
  }
}

/** A handler class bound to `options` (for a custom handler file). */
export declare function createHandler(options?: SharedIsrOptions): SharedIsrCacheHandlerClass
/**
 * Revalidates tags on every instance, like Next's `revalidateTag(tags, profile?)`. Resolves once
 * recorded in the shared store; rejects with `err.code` otherwise (let the webhook answer 5xx).
 */
export declare function revalidateTags(tags: string | string[], profile?: RevalidateProfile, options?: SharedIsrOptions): Promise<void>
/** Like Next's `revalidatePath(path, type?)`, for every instance. */
export declare function revalidatePath(path: string, type?: 'page' | 'layout', options?: SharedIsrOptions): Promise<void>
/** An error shared-isr threw or rejected with: `code` is one of the stable codes. */
export interface SharedIsrError extends Error {
  code: SharedIsrErrorCode
}

/** Narrows a caught `unknown` (e.g. in a webhook's `catch (err)`) to a shared-isr error. */
export declare function isSharedIsrError(err: unknown): err is SharedIsrError

/** `stats()`: this process's counters for one store (see the README for each). */
export interface SharedIsrStats {
  store: 'redis' | 'memory'
  /** Reads as the handler sees them (L1 or store). */
  gets: number
  hits: number
  staleHits: number
  expiredHits: number
  misses: number
  /** Reads answered from this process's L1. */
  l1Hits: number
  l1Entries: number
  /** What the L1's copies cost decoded (the budget counts this), and the budget. */
  l1Bytes: number
  l1MaxBytes: number
  /** Reads from the store that failed, and entries that could not be decoded. */
  getErrors: number
  corrupt: number
  sets: number
  setErrors: number
  revalidations: number
  revalidationErrors: number
  /**
   * Tags of the revalidations kept while Redis fails, recorded after a failure, and dropped
   * from a full outbox (over 100k tags or 16 MiB per process; the oldest first).
   */
  revalidationsPending: number
  revalidationsLate: number
  revalidationsDropped: number
  /** Catch-ups with the change log, tags whose stamps this process caches, and their bytes. */
  manifestSyncs: number
  manifestTags: number
  tagCacheBytes: number
  /** The in-memory store's entries and bytes (0 with Redis). */
  memoryEntries: number
  memoryBytes: number
  /** Consecutive Redis connectivity failures (0 when healthy), and whether calls fail fast. */
  redisFailures: number
  circuitOpen: boolean
  /** Redis refuses `CLIENT TRACKING` to this user (no L1 copies), or scripting (nothing cached). */
  trackingRefused: boolean
  scriptingRefused: boolean
}

/** Counters of this process's store for `options`. */
export declare function stats(options?: SharedIsrOptions): SharedIsrStats
/** `health()`: how the store is doing, from what its calls saw (never a call of its own). */
export interface SharedIsrHealth {
  /**
   * `degraded` while Redis fails (the site still serves: misses or local copies) or CDN purges
   * fail; `misconfigured` (healthHandler only, 503) while the settings are refused: caching is off.
   */
  status: 'ok' | 'degraded' | 'closed' | 'misconfigured'
  store: 'redis' | 'memory'
  /** null until a call has reached Redis (the store connects on first use). */
  reachable: boolean | null
  circuitOpen: boolean
  redisFailures: number
  /** ISO times. */
  failingSince: string | null
  lastOkAt: string | null
  lastError: { op: string; code: string; message: string; at: string } | null
  revalidationsPending: number
  /**
   * Redis only; null until connected. `tracking: false`: the server refuses CLIENT TRACKING,
   * so no L1 copy is kept (`mode: 'untracked'`, every hit reads Redis). `scripting: false`:
   * nothing can be cached (`status: 'degraded'`). `problems`: what each refusal means, and the
   * ACL change that fixes it.
   */
  tracking?: boolean | null
  scripting?: boolean | null
  mode?: 'tracked' | 'untracked' | null
  problems?: string[]
  /** With a CDN set: whether its purges are delivered (`failing` makes the status `degraded`). */
  cdn?: {
    provider: string
    status: 'ok' | 'failing'
    failingSince: string | null
    lastError: { code: string; message: string; at: string } | null
  }
}

export declare function health(options?: SharedIsrOptions): SharedIsrHealth
/**
 * A route handler for probes (`export const GET = healthHandler()`): 200 with `health()` as JSON,
 * also while degraded unless `failWhenDegraded`; 503 once closed.
 */
export declare function healthHandler(options?: SharedIsrOptions & { failWhenDegraded?: boolean }): () => Promise<Response>
/** The Prometheus text exposition of this process's metrics. */
export declare function metricsText(): string
/** A route handler serving `metricsText()` (`export const GET = metricsHandler()`). */
export declare function metricsHandler(): () => Promise<Response>
/** Registers the metrics as collectors on a prom-client Registry; returns their names. */
export declare function registerMetrics(register: {
  registerMetric(metric: unknown): void
  getSingleMetric(name: string): unknown
}): string[]
/** Registers observable instruments on an OpenTelemetry meter (default: `metrics.getMeter('shared-isr')`). */
export declare function registerOpenTelemetry(meter?: unknown): void

/**
 * Closes every connection this process opened; later calls reconnect. Revalidations kept while
 * Redis failed get 2 s to be recorded first; those that are not are logged (`revalidations_lost`).
 */
export declare function close(): Promise<void>

/** A `'use cache'` entry as Next passes it to `set` and expects from `get`. */
export interface UseCacheEntry {
  value: ReadableStream<Uint8Array>
  tags: string[]
  stale: number
  timestamp: number
  expire: number
  revalidate: number
}

/** The `cacheHandlers` object (Next 15.3+ and 16 interfaces in one). */
export interface SharedIsrUseCacheHandler {
  get(cacheKey: string, softTags: string[]): Promise<UseCacheEntry | undefined>
  set(cacheKey: string, pendingEntry: Promise<UseCacheEntry>): Promise<void>
  refreshTags(): Promise<void>
  getExpiration(...tags: string[] | [string[]]): Promise<number>
  updateTags(tags: string[], durations?: { expire?: number }): Promise<void>
  expireTags(...tags: string[]): Promise<void>
  receiveExpiredTags(...tags: string[]): Promise<void>
}

/** A `'use cache'` handler object bound to `options`. */
export declare function createUseCacheHandler(options?: SharedIsrOptions): SharedIsrUseCacheHandler
