//! `Backend`: what a store does for [`super::Cache`]. Two stores implement it: the in-memory
//! one (everything answered at once) and Redis. What only Redis has (client tracking, strict
//! checks, a loss horizon, an outbox, a connection to close) gets a default here that is the
//! memory store's answer, so the cache never asks which store it holds.

use super::outbox::Unrecorded;
use super::{Lease, RedisStore};
use crate::core::coherence::Coherence;
use crate::core::error::Result;
use crate::core::stats::StatsSnapshot;
use crate::core::tags::{Durations, Freshness};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future borrowing from the store (object-safe async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An answer known at once, as a future.
pub fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

pub trait Backend: Send + Sync {
    /// `"redis"` or `"memory"`.
    fn kind(&self) -> &'static str;

    /// The envelope stored under `key` (a full key, prefix included).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>>;

    /// Stores an envelope for `ttl_ms`; with `if_absent`, an existing entry wins.
    fn put(&self, key: String, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> BoxFuture<'_, Result<()>>;

    /// Records a revalidation of `tags` made at `now`; resolves once it is durable.
    fn revalidate<'a>(&'a self, tags: &'a [String], now: f64, durations: Option<Durations>) -> BoxFuture<'a, Result<()>>;

    /// Judges `tags` from what this process knows (no I/O); `None` when a tag must be looked up.
    fn judge_known(&self, tags: &[&str], last_modified: f64, now: f64) -> Option<(Freshness, f64)>;

    /// Judges `tags`, looking up what is not known here (never fails: unreachable, a tag
    /// known to no one counts as never revalidated).
    fn judge<'a>(&'a self, tags: &'a [&'a str], last_modified: f64, now: f64) -> BoxFuture<'a, (Freshness, f64)>;

    /// The latest past expiry among `tags` (ms, 0 when none), looking up what is not known here.
    fn expiration<'a>(&'a self, tags: &'a [String], now: f64) -> BoxFuture<'a, f64>;

    /// Adds the store's own counters and gauges.
    fn fill_stats(&self, stats: &mut StatsSnapshot);

    /// How late this process learned of revalidations since the last call (ms samples; see
    /// `lag`). A local store applies them as they happen: none.
    fn take_lags(&self) -> Vec<f64> {
        Vec::new()
    }

    /// Brings this process's view of the tag manifest up to date; a local store always is.
    fn refresh(&self) -> BoxFuture<'_, Result<()>> {
        ready(Ok(()))
    }

    /// What validates L1 copies; `None` without client tracking (no L1 for this store).
    fn coherence(&self) -> Option<&Coherence> {
        None
    }

    /// Strict mode: does the store still hold the write `write_id` under `key`? Without a
    /// shared store there is no local copy to check: false.
    fn check<'a>(&'a self, _key: &'a str, _write_id: u64) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(false))
    }

    /// Entries written before this may have lost their stamps with the store's data (ms; 0
    /// when it never lost any).
    fn lost_at(&self) -> f64 {
        0.0
    }

    /// Records revalidations kept during a failure, trying until `timeout` (past an open
    /// breaker: Redis may be back before the breaker knows). True when none is left (always,
    /// for a store that cannot fail).
    fn flush(&self, _timeout: Duration) -> BoxFuture<'_, bool> {
        ready(true)
    }

    /// [`Backend::flush`], blocking this thread (at process exit nothing async runs any more).
    fn flush_blocking(&self, _timeout: Duration) -> bool {
        true
    }

    /// Takes the regeneration lease `key` for `ttl_ms` with `token`. A store of one process,
    /// where Next already renders once, always grants it. With `force`, takes it over from a
    /// holder that did not deliver in time. With `read` (entry key, write id read), answers
    /// `Newer`, holding nothing, when that entry was replaced meanwhile.
    fn lease<'a>(
        &'a self,
        _key: &'a str,
        _token: &'a str,
        _owner: &'a str,
        _ttl_ms: u64,
        _force: bool,
        _read: Option<(&'a str, u64)>,
    ) -> BoxFuture<'a, Result<Lease>> {
        ready(Ok(Lease::Held))
    }

    /// Releases the lease `key` if `token` still holds it.
    fn release<'a>(&'a self, _key: &'a str, _token: &'a str) -> BoxFuture<'a, Result<bool>> {
        ready(Ok(true))
    }

    /// Releases the leases `keys` that `owner` holds, blocking at most `timeout` (process
    /// exit). True when every release was answered (always, for a store of one process).
    fn release_blocking(&self, _keys: &[String], _owner: &str, _timeout: Duration) -> bool {
        true
    }

    /// Releases connections and gives up on revalidations not recorded yet: those are handed
    /// over (`first`: how many tags to name) so that the caller can say what is lost.
    fn close(&self, _first: usize) -> Unrecorded {
        Unrecorded::default()
    }

    /// The Redis store, for what operators do (fleet, admin commands); `None` for any other.
    fn redis(&self) -> Option<&RedisStore> {
        None
    }
}
