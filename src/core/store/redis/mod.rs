//! Redis backend: entries as plain strings; the tag manifest and this process's view of it
//! are in `manifest`. No SCAN, no KEYS, ever.
//!
//! A `get` pipelines `GET entry` with `GET epoch`: one round trip tells both the value and
//! whether the view of the manifest is current, so a revalidation on any process is seen by
//! the very next read on every other process. With the L1 on, the connection has client
//! tracking enabled, and Redis pushes the keys we read once someone else changes them (see
//! coherence). On a Cluster with a trusted feed, reads skip the epoch (it lives on one node): a
//! revalidation is then seen once its push arrives, as for L1 hits.
//!
//! One connection per store, and one store per configuration per process (lib/store.js):
//! Next constructs the handler per request, so nothing here is per handler instance.
//!
//! Here: `RedisStore`, the API the cache calls, and `Inner`, the state its tasks share. The
//! rest, one concern a module:
//! - `connection`: connecting (one server, Sentinel, Cluster), replacing and dropping the
//!   connection, the background check, and the pushes it receives;
//! - `run`: one operation under the breaker and the timeout, and the recovery task;
//! - `ops`: the operations (reads, writes, manifest sync, lookups, revalidations);
//! - `tracked`: every pipeline shape that arms client tracking, and what the Cluster routing
//!   in `topology` expects of them.

mod admin;
mod cdn;
pub use admin::ScanPage;
mod connection;
mod lease;
pub use lease::Lease;
mod ops;
mod run;
mod tracked;

use super::backend::{Backend, BoxFuture};
use super::breaker::Breaker;
use super::manifest::{Keys, Mirror};
use super::outbox::Outbox;
use super::topology::{Conn, Topology};
use crate::core::coherence::Coherence;
use crate::core::config::Config;
use crate::core::error::{Error, Result};
use crate::core::stats::StatsSnapshot;
use crate::core::tags::{Durations, Freshness};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tags of pending revalidations kept per process while Redis cannot record them.
const OUTBOX_MAX_TAGS: usize = 100_000;

/// What a strict-mode check of an L1 copy found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    /// Redis holds the same write: the copy is current (tags still need judging).
    Same,
    /// The key changed or is gone.
    Changed,
}

pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    topology: Topology,
    timeout: Duration,
    connect_timeout: Duration,
    breaker: Breaker,
    mirror: Mutex<Mirror>,
    keys: Keys,
    /// The longest an entry is served; stamps older than this are pruned.
    retention_ms: f64,
    /// The connection, with the runtime it lives on and its serial (pushes and failures of a
    /// connection already replaced must not drop its successor).
    conn: Mutex<Option<(tokio::runtime::Id, u64, Conn)>>,
    serial: AtomicU64,
    /// Cluster: ids of our connections to every primary at the last check (see `check_nodes`).
    node_ids: Mutex<Option<Vec<(String, i64)>>>,
    /// Cluster: a replacement connection is being built in the background (see `rebuild`).
    rebuilding: AtomicBool,
    /// One connection attempt at a time (Cluster and Sentinel connect asynchronously).
    connecting: tokio::sync::Mutex<()>,
    /// The runtime the background check runs on (one per runtime, not per connection).
    checker: Mutex<Option<tokio::runtime::Id>>,
    /// Revalidations not recorded yet (see `outbox`), and whether the recovery task runs.
    outbox: Mutex<Outbox>,
    recovering: AtomicBool,
    /// The runtime of the last connection: a flush at process exit runs there.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// Present when the L1 is on: client tracking feeds it.
    coherence: Option<Coherence>,
    syncs: AtomicU64,
    /// One manifest sync at a time (see `ops::settle`).
    syncing: tokio::sync::Mutex<()>,
    /// How late this process learned of revalidations (see `lag`).
    lags: super::lag::Lags,
    /// When this process last saw the store lose data (ms; 0 never): see `lost_at`.
    reset_at: Mutex<f64>,
    closed: AtomicBool,
}

impl RedisStore {
    pub fn new(config: &Config) -> Result<Self> {
        let url = config.redis_url.as_deref().ok_or_else(|| Error::Config("no redis URL".into()))?;
        // RESP3 everywhere: pushes (tracking invalidations, disconnects) and proactive reconnects.
        let topology = super::topology::parse(url, super::tls::tls_certificates(config)?)?;
        let coherence = (config.l1_max_bytes > 0).then(|| Coherence::new(Duration::from_millis(config.max_staleness_ms)));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                topology,
                timeout: Duration::from_millis(config.timeout_ms),
                connect_timeout: Duration::from_millis(config.connect_timeout_ms),
                breaker: Breaker::default(),
                mirror: Mutex::new(Mirror::new(config.tag_cache_max_bytes)),
                keys: Keys::new(&config.prefix),
                retention_ms: config.retention_ms(),
                conn: Mutex::new(None),
                serial: AtomicU64::new(0),
                node_ids: Mutex::new(None),
                rebuilding: AtomicBool::new(false),
                connecting: tokio::sync::Mutex::new(()),
                checker: Mutex::new(None),
                coherence,
                syncs: AtomicU64::new(0),
                syncing: tokio::sync::Mutex::new(()),
                lags: super::lag::Lags::default(),
                reset_at: Mutex::new(0.0),
                closed: AtomicBool::new(false),
                outbox: Mutex::new(Outbox::new(OUTBOX_MAX_TAGS)),
                recovering: AtomicBool::new(false),
                runtime: Mutex::new(None),
            }),
        })
    }
}

impl Backend for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        Box::pin(self.inner.get(key))
    }

    fn put(&self, key: String, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.inner.put(&key, envelope, ttl_ms, if_absent).await })
    }

    fn revalidate<'a>(&'a self, tags: &'a [String], now: f64, durations: Option<Durations>) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.inner.revalidate(tags, now, durations))
    }

    fn judge_known(&self, tags: &[&str], last_modified: f64, now: f64) -> Option<(Freshness, f64)> {
        self.inner.mirror().cache.judge(tags.iter().copied(), last_modified, now)
    }

    /// Looks up (all of) `tags` when one is not known here; with the store unreachable,
    /// judges with what is known.
    fn judge<'a>(&'a self, tags: &'a [&'a str], last_modified: f64, now: f64) -> BoxFuture<'a, (Freshness, f64)> {
        Box::pin(async move {
            if let Some(j) = self.judge_known(tags, last_modified, now) {
                return j;
            }
            let extra = self.inner.lookup(tags).await.unwrap_or_default();
            self.inner.mirror().judge_with(tags, &extra, last_modified, now)
        })
    }

    fn expiration<'a>(&'a self, tags: &'a [String], now: f64) -> BoxFuture<'a, f64> {
        Box::pin(async move {
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let cached = self.inner.mirror().cache.expiration(refs.iter().copied(), now);
            if let Some(e) = cached {
                return e;
            }
            let extra = self.inner.lookup(&refs).await.unwrap_or_default();
            let stamps = self.inner.mirror().stamps_with(&refs, &extra);
            crate::core::tags::expiration(stamps, now)
        })
    }

    fn fill_stats(&self, s: &mut StatsSnapshot) {
        let m = self.inner.mirror();
        s.manifest_tags = m.cache.len() as u64;
        s.tag_cache_bytes = m.cache.bytes() as u64;
        drop(m);
        s.manifest_syncs = self.inner.syncs.load(Ordering::Relaxed);
        s.redis_failures = self.inner.breaker.failures() as u64;
        s.circuit_open = self.inner.breaker.is_open();
        let o = self.inner.outbox();
        s.revalidations_pending = o.len() as u64;
        s.revalidations_late = o.recorded_late;
        s.revalidations_dropped = o.dropped;
    }

    fn take_lags(&self) -> Vec<f64> {
        self.inner.lags.take()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.inner.refresh())
    }

    fn coherence(&self) -> Option<&Coherence> {
        self.inner.coherence.as_ref()
    }

    fn check<'a>(&'a self, key: &'a str, write_id: u64) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.inner.check(key, write_id).await? == Check::Same) })
    }

    /// When the store's era began with a loss, or when this process saw it lose data (a wipe,
    /// a restart, an older copy restored), whichever is later. A render that began before a
    /// revalidation lost with the data could otherwise be served as fresh.
    fn lost_at(&self) -> f64 {
        self.inner.mirror().lost_at.max(*self.inner.reset_at.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Blocks this thread (at process exit nothing async runs any more), at most `timeout`.
    fn flush_blocking(&self, timeout: Duration) -> bool {
        if self.inner.outbox().is_empty() {
            return true;
        }
        let Some(rt) = self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return false };
        let (tx, rx) = std::sync::mpsc::channel();
        let inner = self.inner.clone();
        rt.spawn(async move {
            let _ = tx.send(inner.drain().await.is_ok());
        });
        rx.recv_timeout(timeout).unwrap_or(false)
    }

    /// Drops the connection; the background check stops with it.
    fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(c) = &self.inner.coherence {
            c.disconnected();
        }
    }

    /// `lease` and `release`: the inherent methods, in `lease.rs`.
    fn lease<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        owner: &'a str,
        ttl_ms: u64,
        force: bool,
        read: Option<(&'a str, u64)>,
    ) -> BoxFuture<'a, Result<Lease>> {
        Box::pin(RedisStore::lease(self, key, token, owner, ttl_ms, force, read))
    }

    fn release<'a>(&'a self, key: &'a str, token: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(RedisStore::release(self, key, token))
    }

    fn release_blocking(&self, keys: &[String], owner: &str, timeout: Duration) -> bool {
        RedisStore::release_blocking(self, keys, owner, timeout)
    }

    fn redis(&self) -> Option<&RedisStore> {
        Some(self)
    }
}

impl Inner {
    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}
