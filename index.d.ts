

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
  /** Stores `payload` (copied once, synchronously) with its meta. TTL comes from `expire`. */
  set(key: string, payload: Uint8Array, meta: NativeEntryMeta): Promise<void>
  /**
   * Records a revalidation of `tags`. Without `durations` they expire now; with
   * `{ expire }` they are stale now and expire `expire` seconds later (Next 16 profiles).
   * Resolves only once the revalidation is durable; rejects otherwise.
   */
  revalidateTags(tags: Array<string>, durations?: NativeDurations | undefined | null): Promise<void>
  stats(): NativeStats
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
  memoryEntries: number
  memoryBytes: number
  redisFailures: number
  circuitOpen: boolean
}
