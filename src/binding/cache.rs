//! `NativeCache`: one per configuration per process (lib/store.js keeps the registry).

use super::bridge::{self, Borrowed};
use super::convert::{NativeDurations, NativeEntryMeta, NativeOptions, freshness_str, hit_to_js, to_napi};
use crate::core::stats::Stat;
use crate::core::tags::Durations;
use crate::core::{Cache, Hit};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

#[napi]
pub struct NativeCache {
    pub(super) inner: Arc<Cache>,
}

/// A write as stored: its id, and when the store drops it at its TTL (ms).
#[napi(object)]
pub struct NativeWrite {
    pub write_id: f64,
    pub deadline: f64,
}

/// Revalidations a store gave up on without recording them.
#[napi(object)]
pub struct NativeUnrecorded {
    pub revalidations: f64,
    pub tags: f64,
    /// The oldest tags, as many as asked for.
    pub first: Vec<String>,
}

/// A tag verdict, and when the clock alone could change it (ms; `Infinity` when never).
/// `"unknown"` (from `judge` only): a tag's stamps must be looked up (`judgeTags`).
#[napi(object)]
pub struct NativeJudgement {
    #[napi(ts_type = "'fresh' | 'stale' | 'expired' | 'unknown'")]
    pub freshness: String,
    pub until: f64,
}

#[napi]
impl NativeCache {
    /// Validates options; opens no connection (that happens on first use).
    #[napi(catch_unwind, constructor)]
    pub fn new(options: Option<NativeOptions>) -> Result<Self> {
        let cache = Cache::new(options.unwrap_or_default().into()).map_err(to_napi)?;
        Ok(NativeCache { inner: Arc::new(cache) })
    }

    /// `"redis"` or `"memory"`.
    #[napi(catch_unwind, getter)]
    pub fn store(&self) -> &'static str {
        self.inner.kind()
    }

    /// Reads and judges an entry: `null`, or the hit packed into one buffer (see
    /// `convert::hit_to_js`). `tags` are checked in addition to the stored ones (soft tags and
    /// fetch tags known only at read time). Rejects on Redis errors and corrupt bytes; callers
    /// treat a rejection as a miss.
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer | null>")]
    pub fn get<'env>(&self, env: &'env Env, key: String, tags: Option<Vec<String>>) -> Result<PromiseRaw<'env, Option<BufferSlice<'env>>>> {
        let inner = self.inner.clone();
        bridge::spawn(
            env,
            move || async move { inner.get(&key, tags.as_deref().unwrap_or_default()).await.map_err(to_napi) },
            |env, hit: Option<Hit>| hit.map(|hit| hit_to_js(env, &hit)).transpose(),
        )
    }

    /// Stores `payload` with its meta. TTL comes from `expire`. Resolves with the write id and
    /// the entry's deadline. The payload is read in place, off the JS thread: it must not
    /// change until the promise settles.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeWrite>")]
    pub fn set<'env>(
        &self,
        env: &'env Env,
        key: String,
        payload: BufferSlice<'env>,
        meta: NativeEntryMeta,
    ) -> Result<PromiseRaw<'env, NativeWrite>> {
        let if_absent = meta.if_absent.unwrap_or(false);
        let meta: crate::core::envelope::EntryMeta = meta.into();
        let expire = meta.expire;
        let payload = Borrowed::new(env, &payload)?;
        let inner = self.inner.clone();
        let write = move || async move {
            let encoded =
                payload.with(|p| inner.encode(&meta, p)).ok_or_else(|| to_napi(crate::core::Error::Unavailable("shutting down".into())));
            let out = async {
                let (envelope, write_id) = encoded?.map_err(to_napi)?;
                let deadline = crate::core::clock::now_ms() + inner.ttl_ms(expire) as f64;
                inner.put(&key, envelope, expire, if_absent).await.map_err(to_napi)?;
                Ok(NativeWrite { write_id: write_id as f64, deadline })
            }
            .await;
            Ok((out, payload))
        };
        bridge::spawn(env, write, |env, (out, payload): (Result<NativeWrite>, Borrowed)| {
            payload.release(env);
            out
        })
    }

    /// Records a revalidation of `tags`. Without `durations` they expire now; with
    /// `{ expire }` they are stale now and expire `expire` seconds later (Next 16 profiles).
    /// Resolves only once the revalidation is durable; rejects otherwise.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn revalidate_tags<'env>(
        &self,
        env: &'env Env,
        tags: Vec<String>,
        durations: Option<NativeDurations>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        let durations = durations.map(|d| Durations { expire: d.expire.filter(|e| e.is_finite()) });
        bridge::spawn_value(env, move || async move { inner.revalidate_tags(&tags, durations).await.map_err(to_napi) })
    }

    /// Catches up on revalidations made by other processes. Rejects when the store is
    /// unreachable (callers decide whether that matters).
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn refresh_tags<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { inner.refresh_tags().await.map_err(to_napi) })
    }

    /// Latest past expiry (ms) among `tags`, 0 when none; looks up tags not known here.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn tag_expiration<'env>(&self, env: &'env Env, tags: Vec<String>) -> Result<PromiseRaw<'env, f64>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { Ok(inner.tag_expiration(&tags).await) })
    }

    /// The generation L1 copies are validated against: positive when local copies may be
    /// trusted now, negated when not (feed down or behind; a read may still store its result
    /// under it), 0 without an L1 (memory store, L1 off). One call on the hot path.
    #[napi(catch_unwind)]
    pub fn coherence(&self) -> f64 {
        match self.inner.coherence() {
            Some((g, true)) => g as f64,
            Some((g, false)) => -(g as f64),
            None => 0.0,
        }
    }

    /// Whether a local copy of `key` validated at generation `since` is still the latest.
    #[napi(catch_unwind)]
    pub fn is_valid(&self, key: String, since: f64) -> bool {
        since >= 0.0 && self.inner.is_valid(&key, since as u64)
    }

    /// Judges tags against this process's view of the manifest (no I/O); `"unknown"` when a
    /// tag's stamps are not known here.
    #[napi(catch_unwind)]
    pub fn judge(&self, tags: Vec<String>, last_modified: f64) -> NativeJudgement {
        match self.inner.judge(&tags, last_modified) {
            Some((f, until)) => NativeJudgement { freshness: freshness_str(f).to_owned(), until },
            None => NativeJudgement { freshness: "unknown".to_owned(), until: f64::NEG_INFINITY },
        }
    }

    /// Judges tags, looking up the stamps not known here (never rejects: with the store down,
    /// unknown tags count as never revalidated).
    #[napi(catch_unwind, ts_return_type = "Promise<NativeJudgement>")]
    pub fn judge_tags<'env>(&self, env: &'env Env, tags: Vec<String>, last_modified: f64) -> Result<PromiseRaw<'env, NativeJudgement>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let (f, until) = inner.judge_fetching(&refs, last_modified).await;
            Ok(NativeJudgement { freshness: freshness_str(f).to_owned(), until })
        })
    }

    /// Strict mode: one round trip that reads 8 bytes of the entry (never the payload) and
    /// the manifest epoch. True when the store still holds the write `writeId`.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn check<'env>(&self, env: &'env Env, key: String, write_id: f64) -> Result<PromiseRaw<'env, bool>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { inner.check(&key, write_id as u64).await.map_err(to_napi) })
    }

    /// Counts a hit whose payload the caller could not decode as corrupt.
    #[napi(catch_unwind)]
    pub fn note_corrupt(&self) {
        self.inner.note_corrupt();
    }

    /// The counters and gauges of `crate::core::stats`, under their camelCase names, plus `store`.
    #[napi(catch_unwind, ts_return_type = "{ store: 'redis' | 'memory' } & Record<string, number | boolean>")]
    pub fn stats<'env>(&self, env: &'env Env) -> Result<Object<'env>> {
        let mut o = Object::new(env)?;
        o.set("store", self.inner.kind())?;
        for (name, value) in self.inner.stats().fields() {
            match value {
                Stat::Count(n) => o.set(name, n as f64)?,
                Stat::Flag(b) => o.set(name, b)?,
            }
        }
        Ok(o)
    }

    /// Records revalidations kept during a Redis failure, trying for at most `timeoutMs`.
    /// Resolves true when none is left.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn flush<'env>(&self, env: &'env Env, timeout_ms: u32) -> Result<PromiseRaw<'env, bool>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { Ok(inner.flush_pending(std::time::Duration::from_millis(timeout_ms.into())).await) })
    }

    /// `flush`, blocking (at most `timeoutMs`); for process exit. True when none is left.
    #[napi(catch_unwind)]
    pub fn flush_pending(&self, timeout_ms: u32) -> bool {
        self.inner.flush_pending_blocking(std::time::Duration::from_millis(timeout_ms.into()))
    }

    /// Refuses further calls and drops this URL's shared connection. Revalidations still
    /// pending are given up on: `null` when there were none, else how many, their tags, and
    /// the first `name` tags (oldest first; default none), so the caller can say what is lost.
    #[napi(catch_unwind)]
    pub fn close(&self, name: Option<u32>) -> Option<NativeUnrecorded> {
        let left = self.inner.close(name.unwrap_or(0) as usize);
        (left.revalidations > 0).then_some(NativeUnrecorded {
            revalidations: left.revalidations as f64,
            tags: left.tags as f64,
            first: left.first,
        })
    }
}
