//! `Cache`: the one object the binding talks to. It picks a backend (memory or Redis, behind
//! the `Backend` trait), enforces limits, judges entries against the tag manifest and keeps
//! the counters.

mod backend;
mod breaker;
pub mod cdn;
pub mod fleet;
mod lag;
pub mod manifest;
mod memory;
pub mod outbox;
mod redis;
mod tls;
mod topology;

use super::clock::now_ms;
use super::config::Config;
use super::envelope::{self, EntryMeta};
use super::error::{Error, Result};
use super::stats::{Stats, StatsSnapshot, bump};
use super::tags::{Durations, Freshness, Horizon};
use backend::Backend;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `url` names a Redis topology we can connect to (parsed, nothing contacted).
pub fn check_url(url: &str) -> crate::core::error::Result<()> {
    topology::parse(url, None).map(|_| ())
}

pub use self::redis::{Capabilities, Lease, RedisStore, ScanPage};
pub use cdn::Batch as CdnBatch;
pub use memory::MemoryStore;

/// A decoded entry: the raw envelope plus where its payload sits, so the payload is copied
/// only once (into the JS Buffer).
#[derive(Debug)]
pub struct Hit {
    pub bytes: Vec<u8>,
    pub payload: Range<usize>,
    pub meta: EntryMeta,
    pub freshness: Freshness,
    /// When the verdict can next change by the clock alone (ms, infinite when never).
    pub until: f64,
    /// When the store drops the entry at its TTL (ms), counted from `last_modified`.
    pub deadline: f64,
}

impl Hit {
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload.clone()]
    }
}

pub struct Cache {
    backend: Box<dyn Backend>,
    config: Config,
    stats: Stats,
    closed: AtomicBool,
}

impl Cache {
    /// Validates the config; does no I/O (Next constructs handlers per request).
    pub fn new(config: Config) -> Result<Cache> {
        config.validate()?;
        let backend: Box<dyn Backend> = match &config.redis_url {
            Some(_) => Box::new(RedisStore::new(&config)?),
            None => Box::new(MemoryStore::new(config.memory_max_bytes, config.retention_ms())),
        };
        Ok(Cache { backend, config, stats: Stats::default(), closed: AtomicBool::new(false) })
    }

    /// The Redis store, for what operators do (fleet, admin commands); `None` in memory.
    pub fn redis(&self) -> Option<&RedisStore> {
        self.backend.redis()
    }

    pub fn is_redis(&self) -> bool {
        self.kind() == "redis"
    }

    /// `"redis"` or `"memory"`.
    pub fn kind(&self) -> &'static str {
        self.backend.kind()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where an entry lives in the store: `<prefix>e:<key>` (the part after `e:` is JS's: lib/keys.js).
    pub fn entry_key(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.config.prefix.len() + 2 + key.len());
        k.push_str(&self.config.prefix);
        k.push_str("e:");
        k.push_str(key);
        k
    }

    /// The regeneration lease of an entry: `<prefix>l:<key>`.
    pub fn lease_key(&self, key: &str) -> String {
        format!("{}l:{key}", self.config.prefix)
    }

    /// Takes the regeneration lease of `key` (see `redis::lease`). The memory store is one
    /// process, where Next already renders once: always granted. With `read` (the write id
    /// the caller judged), `Newer` when the entry was replaced since.
    pub async fn lease(&self, key: &str, token: &str, owner: &str, ttl_ms: u64, force: bool, read: Option<u64>) -> Result<Lease> {
        self.check_open()?;
        let entry = read.map(|id| (self.entry_key(key), id));
        let read = entry.as_ref().map(|(k, id)| (k.as_str(), *id));
        self.backend.lease(&self.lease_key(key), token, owner, ttl_ms, force, read).await
    }

    /// Releases, blocking at most `timeout`, the leases of `keys` that `owner` holds: at
    /// process exit, so nobody waits on a holder that is gone. True when all were answered.
    pub fn release_blocking(&self, keys: &[String], owner: &str, timeout: std::time::Duration) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let leases: Vec<String> = keys.iter().map(|k| self.lease_key(k)).collect();
        self.backend.release_blocking(&leases, owner, timeout)
    }

    /// Releases the lease of `key` if `token` holds it.
    pub async fn release(&self, key: &str, token: &str) -> Result<bool> {
        self.check_open()?;
        self.backend.release(&self.lease_key(key), token).await
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) { Err(Error::Closed) } else { Ok(()) }
    }

    /// Reads an entry and judges it against its own tags plus `extra_tags` (soft tags,
    /// fetch tags given at read time). Corrupt bytes are reported as `Error::Corrupt`;
    /// callers treat every error as a miss.
    pub async fn get(&self, key: &str, extra_tags: &[String]) -> Result<Option<Hit>> {
        self.check_open()?;
        let key = self.entry_key(key);
        let raw = match self.backend.get(&key).await {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(None),
            Err(e) => {
                bump(&self.stats.get_errors);
                return Err(e);
            }
        };
        let decoded = envelope::decode(&raw).and_then(|(meta, p)| {
            if p.compressed {
                // Off the JS thread: this runs in the store's async task.
                let bytes = envelope::decompress(&raw[p.range], self.config.max_value_bytes)?;
                let len = bytes.len();
                Ok((meta, bytes, 0..len))
            } else {
                Ok((meta, raw, p.range))
            }
        });
        let (meta, raw, payload) = match decoded {
            Ok(d) => d,
            Err(e) => {
                bump(&self.stats.corrupt);
                return Err(e);
            }
        };
        let tags: Vec<&str> = meta.tags.iter().chain(extra_tags).map(String::as_str).collect();
        let (freshness, until) = self.judge_fetching(&tags, meta.last_modified).await;
        let deadline = meta.last_modified + self.ttl_ms(meta.expire) as f64;
        Ok(Some(Hit { bytes: raw, payload, meta, freshness, until, deadline }))
    }

    /// Checks limits and builds the envelope. Synchronous so the binding can copy the JS
    /// buffer exactly once, before anything crosses to another thread.
    /// Returns the envelope and its fresh write id.
    pub fn encode(&self, meta: &EntryMeta, payload: &[u8]) -> Result<(Vec<u8>, u64)> {
        if payload.len() > self.config.max_value_bytes {
            bump(&self.stats.set_errors);
            return Err(Error::TooLarge { what: "value", size: payload.len(), max: self.config.max_value_bytes });
        }
        let write_id = envelope::new_write_id();
        let meta = EntryMeta { write_id, ..meta.clone() };
        let env = envelope::encode(&meta, payload).inspect_err(|_| bump(&self.stats.set_errors))?;
        Ok((env, write_id))
    }

    /// An entry's TTL in the store (ms): its `expire`, else the default, never past the
    /// retention (past it an entry is expired whatever it says: no use keeping it).
    pub fn ttl_ms(&self, expire_secs: Option<f64>) -> u64 {
        let secs =
            expire_secs.filter(|e| e.is_finite() && *e > 0.0).unwrap_or(self.config.default_ttl_secs).min(self.config.default_ttl_secs);
        (secs * 1000.0).clamp(1000.0, u64::MAX as f64 / 2.0) as u64
    }

    /// Stores an envelope made by [`Cache::encode`]. The TTL comes from `expire`, never from
    /// `revalidate`: stale-while-revalidate needs the entry after `revalidate` has passed.
    /// With `if_absent`, an existing entry wins (seeding must never replace a regeneration).
    pub async fn put(&self, key: &str, envelope: Vec<u8>, expire_secs: Option<f64>, if_absent: bool) -> Result<()> {
        self.check_open()?;
        bump(&self.stats.sets);
        let ttl_ms = self.ttl_ms(expire_secs);
        let key = self.entry_key(key);
        self.backend.put(key, envelope, ttl_ms, if_absent).await.inspect_err(|_| bump(&self.stats.set_errors))
    }

    pub async fn set(&self, key: &str, meta: &EntryMeta, payload: &[u8]) -> Result<()> {
        let (env, _) = self.encode(meta, payload)?;
        self.put(key, env, meta.expire, false).await
    }

    /// Records a revalidation; resolves only once it is durable in the store.
    pub async fn revalidate_tags(&self, tags: &[String], durations: Option<Durations>) -> Result<()> {
        self.check_open()?;
        if tags.is_empty() {
            return Ok(());
        }
        bump(&self.stats.revalidations);
        self.backend.revalidate(tags, now_ms(), durations).await.inspect_err(|_| bump(&self.stats.revalidation_errors))
    }

    /// Brings this process's view of the tag manifest up to date (one round trip when
    /// nothing changed). The memory store is always current.
    pub async fn refresh_tags(&self) -> Result<()> {
        self.check_open()?;
        self.backend.refresh().await
    }

    /// The latest expiry among `tags` that has already passed (ms), 0 when none: what
    /// `'use cache'` calls `getExpiration`. Looks up tags this process does not know yet.
    pub async fn tag_expiration(&self, tags: &[String]) -> f64 {
        self.backend.expiration(tags, now_ms()).await
    }

    /// L1 support: the generation to validate local copies against, and whether they can
    /// be trusted right now (feed connected, synced, recently heard from).
    /// `(generation, trusted)`; `None` without client tracking (memory store, L1 off).
    pub fn coherence(&self) -> Option<(u64, bool)> {
        self.backend.coherence().map(|c| {
            let trusted = c.trusted();
            (c.generation(), trusted)
        })
    }

    /// Whether a local copy of `key` validated at generation `since` is still the latest.
    pub fn is_valid(&self, key: &str, since: u64) -> bool {
        self.backend.coherence().is_some_and(|c| c.is_valid(&self.entry_key(key), since))
    }

    /// What expires entries whatever their tags say (see [`Horizon`]).
    fn horizon(&self) -> Horizon {
        Horizon { retention_ms: self.config.retention_ms(), lost_at: self.backend.lost_at() }
    }

    /// The tags' verdict combined with the horizon's; `until`: when it can next change by the
    /// clock alone (ms, infinite when never).
    fn with_horizon(&self, (freshness, until): (Freshness, f64), last_modified: f64, now: f64) -> (Freshness, f64) {
        let h = self.horizon();
        (freshness.max(h.judge(last_modified, now)), until.min(h.deadline(last_modified)))
    }

    /// Judges `tags` for an entry written at `last_modified` from what this process knows (no
    /// I/O); `None` when a tag's stamps must be looked up first ([`Cache::judge_fetching`]).
    pub fn judge(&self, tags: &[String], last_modified: f64) -> Option<(Freshness, f64)> {
        let now = now_ms();
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        let j = self.backend.judge_known(&tags, last_modified, now)?;
        Some(self.with_horizon(j, last_modified, now))
    }

    /// Judges `tags`, looking up the stamps this process does not know yet. With the store
    /// unreachable, tags it knows nothing of count as never revalidated.
    pub async fn judge_fetching(&self, tags: &[&str], last_modified: f64) -> (Freshness, f64) {
        let now = now_ms();
        let j = self.backend.judge(tags, last_modified, now).await;
        self.with_horizon(j, last_modified, now)
    }

    /// Strict mode: is the local copy with `write_id` still what the store holds?
    pub async fn check(&self, key: &str, write_id: u64) -> Result<bool> {
        self.check_open()?;
        self.backend.check(&self.entry_key(key), write_id).await
    }

    /// The payload of a hit could not be decoded by the caller: count it as corrupt. (Read
    /// outcomes as the handler sees them are counted in JS, where the L1 lives.)
    pub fn note_corrupt(&self) {
        bump(&self.stats.corrupt);
    }

    /// Invalidation lag samples (ms) since the last call.
    pub fn take_lags(&self) -> Vec<f64> {
        self.backend.take_lags()
    }

    pub fn stats(&self) -> StatsSnapshot {
        let mut s = self.stats.snapshot();
        self.backend.fill_stats(&mut s);
        s
    }

    /// Records revalidations kept during a Redis failure, trying for at most `timeout`. True
    /// when none is left.
    pub async fn flush_pending(&self, timeout: std::time::Duration) -> bool {
        self.backend.flush(timeout).await
    }

    /// [`Cache::flush_pending`], blocking this thread (at process exit).
    pub fn flush_pending_blocking(&self, timeout: std::time::Duration) -> bool {
        self.backend.flush_blocking(timeout)
    }

    /// Refuses further calls and releases the connection; in-flight calls finish. Returns the
    /// revalidations given up on (not recorded: flush them first), `first` of their tags named.
    pub fn close(&self, first: usize) -> outbox::Unrecorded {
        if self.closed.swap(true, Ordering::AcqRel) {
            return outbox::Unrecorded::default();
        }
        self.backend.close(first)
    }
}
