/* Hand-written types for the JS entry points (lib/). The native types below are generated. */

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
  /** Namespace for page entries; default: the build's BUILD_ID. Env: SHARED_ISR_BUILD_ID. */
  buildId?: string
}

/** Next 16's second `revalidateTag` argument: `'max'` or `{ expire: seconds }`. */
export type RevalidateProfile = 'max' | { expire?: number }

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
/** Counters of this process's store for `options`. */
export interface SharedIsrError extends Error {
  code: SharedIsrErrorCode
}

/** Narrows a caught `unknown` (e.g. in a webhook's `catch (err)`) to a shared-isr error. */
export declare function isSharedIsrError(err: unknown): err is SharedIsrError

/** `stats()`: the store's counters plus reads as the handler sees them and the L1's size. */
export interface SharedIsrStats extends NativeStats {
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
}

export declare function stats(options?: SharedIsrOptions): SharedIsrStats
/** Closes every connection this process opened; later calls reconnect. */
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

/**
 * Which binding artifact the generated loader actually loaded: `'native'` for
 * a native addon, otherwise the `platformArchABI` of the WASI flavor. Every
 * flavor napi-rs can build is listed, because `NAPI_RS_NATIVE_LIBRARY_PATH`
 * can point the loader at a WASI artifact this package does not build itself.
 */
export declare const __napiBindingTarget: 'native' | 'wasm32-wasi' | 'wasm32-wasip1'

export declare class NativeCache {
  /** Validates options; opens no connection (that happens on first use). */
  constructor(options?: NativeOptions | undefined | null)
  /** `"redis"` or `"memory"`. */
  get store(): string
  /**
   * Reads and judges an entry. `tags` are checked in addition to the stored ones (soft
   * tags and fetch tags known only at read time). Rejects on Redis errors and corrupt
   * bytes; callers treat a rejection as a miss.
   */
  get(key: string, tags?: Array<string> | undefined | null): Promise<NativeHit | null>
  /**
   * Stores `payload` (copied once, synchronously) with its meta. TTL comes from `expire`.
   * Resolves with the write id.
   */
  set(key: string, payload: Uint8Array, meta: NativeEntryMeta): Promise<number>
  /**
   * Records a revalidation of `tags`. Without `durations` they expire now; with
   * `{ expire }` they are stale now and expire `expire` seconds later (Next 16 profiles).
   * Resolves only once the revalidation is durable; rejects otherwise.
   */
  revalidateTags(tags: Array<string>, durations?: NativeDurations | undefined | null): Promise<void>
  /**
   * Catches up on revalidations made by other processes. Rejects when the store is
   * unreachable (callers decide whether that matters).
   */
  refreshTags(): Promise<void>
  /** Latest past expiry (ms) among `tags`, 0 when none; looks up tags not known here. */
  tagExpiration(tags: Array<string>): Promise<number>
  /**
   * The generation L1 copies are validated against: positive when local copies may be
   * trusted now, negated when not (feed down or behind; a read may still store its result
   * under it), 0 without an L1 (memory store, L1 off). One call on the hot path.
   */
  coherence(): number
  /** Whether a local copy of `key` validated at generation `since` is still the latest. */
  isValid(key: string, since: number): boolean
  /**
   * Judges tags against this process's view of the manifest (no I/O); `"unknown"` when a
   * tag's stamps are not known here.
   */
  judge(tags: Array<string>, lastModified: number): NativeJudgement
  /**
   * Judges tags, looking up the stamps not known here (never rejects: with the store down,
   * unknown tags count as never revalidated).
   */
  judgeTags(tags: Array<string>, lastModified: number): Promise<NativeJudgement>
  /**
   * Strict mode: one round trip that reads 8 bytes of the entry (never the payload) and
   * the manifest epoch. True when the store still holds the write `writeId`.
   */
  check(key: string, writeId: number): Promise<boolean>
  /** Counts a hit whose payload the caller could not decode as corrupt. */
  noteCorrupt(): void
  stats(): NativeStats
  /**
   * Blocks (at most `timeoutMs`) until revalidations kept during a Redis failure are
   * recorded; for process exit. True when none is left.
   */
  flushPending(timeoutMs: number): boolean
  /** Refuses further calls and drops this URL's shared connection. */
  close(): void
}

export interface NativeDurations {
  expire?: number
}

/** What Rust needs to know about an entry; the payload itself stays opaque. */
export interface NativeEntryMeta {
  lastModified: number
  /** Seconds, or `false` for "never"; absent when Next did not say. */
  revalidate?: number | false
  expire?: number
  tags?: Array<string>
  /** Store only when no entry exists (seeding from the build output). */
  ifAbsent?: boolean
}

/** An entry as read: the payload copied into a JS buffer, plus what Rust judged. */
export interface NativeHit {
  payload: Buffer
  lastModified: number
  revalidate?: number | false
  expire?: number
  tags: Array<string>
  /** `"fresh"`, `"stale"` (serve once, regenerate) or `"expired"` (a tag expired it). */
  freshness: 'fresh' | 'stale' | 'expired'
  /** Unique id of the write that produced this entry (strict-mode checks compare it). */
  writeId: number
}

/**
 * A tag verdict, and when the clock alone could change it (ms; `Infinity` when never).
 * `"unknown"` (from `judge` only): a tag's stamps must be looked up (`judgeTags`).
 */
export interface NativeJudgement {
  freshness: 'fresh' | 'stale' | 'expired' | 'unknown'
  until: number
}

export interface NativeOptions {
  /** `redis://` / `rediss://` URL; absent selects the in-memory store. */
  redisUrl?: string
  prefix?: string
  timeoutMs?: number
  connectTimeoutMs?: number
  memoryMaxBytes?: number
  maxValueBytes?: number
  defaultTtlSeconds?: number
  tagCacheMaxBytes?: number
  /** Byte budget of the local L1; 0 turns it (and client tracking) off. */
  l1MaxBytes?: number
  /** Longest time an L1 copy is served without hearing from Redis. */
  maxStalenessMs?: number
  /** `rediss://`: CA certificate (PEM file) to trust instead of the public roots. */
  tlsCaFile?: string
  /** `rediss://`: client certificate and key (PEM files) for mutual TLS. */
  tlsCertFile?: string
  tlsKeyFile?: string
}

export interface NativeStats {
  /** `"redis"` or `"memory"`. */
  store: string
  gets: number
  hits: number
  misses: number
  staleHits: number
  expiredHits: number
  getErrors: number
  corrupt: number
  sets: number
  setErrors: number
  revalidations: number
  revalidationErrors: number
  manifestSyncs: number
  manifestTags: number
  tagCacheBytes: number
  revalidationsPending: number
  revalidationsLate: number
  revalidationsDropped: number
  memoryEntries: number
  memoryBytes: number
  redisFailures: number
  circuitOpen: boolean
}

/** `text` without passwords (URL userinfo, `...password=` parameters): for anything printable. */
export declare function redactSecrets(text: string): string
