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
//!   in `topology` expects of them;
//! - `caps`: what the server lets this user do (tracking, scripting), probed per connection.

mod admin;
mod caps;
pub use caps::Capabilities;
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
use super::outbox::{self, Outbox, Unrecorded};
use super::topology::{Conn, Topology};
use crate::core::coherence::Coherence;
use crate::core::config::Config;
use crate::core::error::{Error, Result};
use crate::core::stats::StatsSnapshot;
use crate::core::tags::{Durations, Freshness};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Revalidations not recorded yet (see `outbox`), whether the recovery task runs, and one
    /// drain at a time (the recovery task's, a flush's).
    outbox: Mutex<Outbox>,
    recovering: AtomicBool,
    draining: tokio::sync::Mutex<()>,
    /// The runtime of the last connection (or of the first revalidation kept, for a store that
    /// never connected): a flush at process exit runs there.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
    /// Present when the L1 is on: client tracking feeds it (see `feed`).
    coherence: Option<Coherence>,
    /// What the server allows, learnt when connecting.
    caps: caps::Caps,
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
                caps: caps::Caps::default(),
                syncs: AtomicU64::new(0),
                syncing: tokio::sync::Mutex::new(()),
                lags: super::lag::Lags::default(),
                reset_at: Mutex::new(0.0),
                closed: AtomicBool::new(false),
                outbox: Mutex::new(Outbox::new(outbox::MAX_TAGS, outbox::MAX_BYTES)),
                recovering: AtomicBool::new(false),
                draining: tokio::sync::Mutex::new(()),
                runtime: Mutex::new(None),
            }),
        })
    }

    /// Runs `task` on the runtime of the last connection and waits for it, blocking this thread
    /// at most `timeout` (at process exit nothing async runs any more). `None` when it did not
    /// finish in time, or when the store never connected (no runtime to run it on).
    pub(super) fn block_on<T: Send + 'static>(&self, timeout: Duration, task: impl Future<Output = T> + Send + 'static) -> Option<T> {
        let rt = self.inner.runtime.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let _ = tx.send(task.await);
        });
        rx.recv_timeout(timeout).ok()
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
        s.tracking_refused = self.inner.caps.tracking_refused();
        s.scripting_refused = self.inner.caps.scripting_refused();
        let o = self.inner.outbox();
        s.revalidations_pending = o.tags() as u64;
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
        self.inner.feed()
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

    fn flush(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(self.inner.flush(timeout))
    }

    /// Runs the flush on the connection's runtime and blocks this thread, at most `timeout`.
    fn flush_blocking(&self, timeout: Duration) -> bool {
        if self.inner.outbox().is_empty() {
            return true;
        }
        let inner = self.inner.clone();
        // The flush keeps trying until `timeout`; the wait gives its last attempt time to answer.
        self.block_on(timeout + Duration::from_millis(100), async move { inner.flush(timeout).await }).unwrap_or(false)
    }

    /// Drops the connection (the background check and the recovery task stop with it) and
    /// hands over the revalidations still pending.
    fn close(&self, first: usize) -> Unrecorded {
        self.inner.closed.store(true, Ordering::Release);
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(c) = &self.inner.coherence {
            c.disconnected();
        }
        self.inner.outbox().close(first)
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

impl RedisStore {
    /// What the server allows this user (unknown until a connection was made).
    pub fn capabilities(&self) -> Capabilities {
        self.inner.caps.get()
    }

    /// Connects if not connected yet (probing what the server allows); for start-up checks.
    pub async fn probe(&self) -> Result<Capabilities> {
        self.inner.run("connect", |_| async { Ok(()) }).await?;
        Ok(self.inner.caps.get())
    }
}

impl Inner {
    /// The L1's feed: the coherence, unless the server refused client tracking (then no copy
    /// can be validated, so none is kept: see `caps`).
    pub(super) fn feed(&self) -> Option<&Coherence> {
        self.coherence.as_ref().filter(|_| !self.caps.tracking_refused())
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}
