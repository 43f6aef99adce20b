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

use super::breaker::{Admit, Breaker};
use super::manifest::{Applied, Keys, LOOKUP_BATCH, Mirror, REVALIDATE_BATCH};
use super::outbox::Outbox;
use super::topology::{Conn, Topology};
use crate::core::coherence::Coherence;
use crate::core::config::Config;
use crate::core::envelope::WRITE_ID_RANGE;
use crate::core::error::{Error, Result};
use crate::core::stats::StatsSnapshot;
use crate::core::tags::{Durations, Freshness, TagStamps};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{Client, ProtocolVersion, PushInfo, PushKind, Value};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Reads the configured PEM files (once, when the store is created). Errors name the setting
/// and the path, never the contents.
fn tls_certificates(config: &Config) -> Result<Option<redis::TlsCertificates>> {
    if config.tls_ca_file.is_none() && config.tls_cert_file.is_none() {
        return Ok(None);
    }
    let read = |what: &str, path: &str| std::fs::read(path).map_err(|e| Error::Config(format!("{what} {path:?}: {e}")));
    let root_cert = config.tls_ca_file.as_deref().map(|p| read("tlsCaFile", p)).transpose()?;
    let client_tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => {
            Some(redis::ClientTlsConfig { client_cert: read("tlsCertFile", cert)?, client_key: read("tlsKeyFile", key)? })
        }
        _ => None,
    };
    Ok(Some(redis::TlsCertificates { client_tls, root_cert }))
}

/// How often a failing store is probed in the background.
const RECOVERY_PROBE: Duration = Duration::from_millis(100);
/// Tags of pending revalidations kept per process while Redis cannot record them.
const OUTBOX_MAX_TAGS: usize = 100_000;

/// What a strict-mode check of an L1 copy found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
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
    /// When this process last saw the store lose data (ms; 0 never): see `lost_at`.
    reset_at: Mutex<f64>,
    closed: AtomicBool,
}

/// Sent before reads when tracking is on: idempotent, and it re-arms tracking on a connection
/// the manager may have replaced since the last read.
fn tracking_on() -> redis::Cmd {
    let mut c = redis::cmd("CLIENT");
    c.arg("TRACKING").arg("ON").arg("NOLOOP");
    c
}

/// `read` (one command on one key) with tracking armed on the connection it runs on, in the
/// same round trip. On a Cluster it is a transaction: the ASKING redis-rs sends before a
/// redirected pipeline then covers every command of it.
async fn tracked_read<T: redis::FromRedisValue>(mut c: Conn, tracked: bool, read: redis::Cmd) -> redis::RedisResult<T> {
    if !tracked {
        return read.query_async(&mut c).await;
    }
    let mut p = redis::pipe();
    if c.is_cluster() {
        p.cmd("MULTI").ignore().add_command(tracking_on()).ignore().add_command(read).ignore().cmd("EXEC");
        let ((_, v),): ((Value, T),) = p.query_async(&mut c).await?;
        return Ok(v);
    }
    p.add_command(tracking_on()).ignore().add_command(read);
    let (v,): (T,) = p.query_async(&mut c).await?;
    Ok(v)
}

/// `read` (of one entry key) and `GET epoch`, tracking armed wherever they go: one pipeline on
/// one server; on a Cluster two in parallel, as the two keys live in different slots.
async fn with_epoch<T: redis::FromRedisValue>(
    mut c: Conn,
    tracked: bool,
    read: redis::Cmd,
    epoch_key: &str,
) -> redis::RedisResult<(T, Option<i64>)> {
    let mut epoch = redis::cmd("GET");
    epoch.arg(epoch_key);
    if c.is_cluster() {
        let (value, epoch) = tokio::join!(tracked_read::<T>(c.clone(), tracked, read), tracked_read::<Option<i64>>(c, tracked, epoch));
        return Ok((value?, epoch?));
    }
    let mut p = redis::pipe();
    if tracked {
        p.add_command(tracking_on()).ignore();
    }
    p.add_command(read).add_command(epoch).query_async(&mut c).await
}

impl RedisStore {
    pub fn new(config: &Config) -> Result<Self> {
        let url = config.redis_url.as_deref().ok_or_else(|| Error::Config("no redis URL".into()))?;
        // RESP3 everywhere: pushes (tracking invalidations, disconnects) and proactive reconnects.
        let topology = super::topology::parse(url, tls_certificates(config)?)?;
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
                reset_at: Mutex::new(0.0),
                closed: AtomicBool::new(false),
                outbox: Mutex::new(Outbox::new(OUTBOX_MAX_TAGS)),
                recovering: AtomicBool::new(false),
                runtime: Mutex::new(None),
            }),
        })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }

    pub async fn put(&self, key: &str, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> Result<()> {
        self.inner.put(key, envelope, ttl_ms, if_absent).await
    }

    pub async fn revalidate(&self, tags: &[String], now: f64, durations: Option<Durations>) -> Result<()> {
        self.inner.revalidate(tags, now, durations).await
    }

    pub async fn refresh(&self) -> Result<()> {
        self.inner.refresh().await
    }

    pub async fn check(&self, key: &str, write_id: u64) -> Result<Check> {
        self.inner.check(key, write_id).await
    }

    pub fn coherence(&self) -> Option<&Coherence> {
        self.inner.coherence.as_ref()
    }

    /// Judges `tags` from this process's view alone; `None` when a tag must be looked up.
    pub fn judge_cached<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> Option<(Freshness, f64)> {
        self.inner.mirror().cache.judge(tags, last_modified, now)
    }

    /// Judges `tags`, looking up (all of) them when one is not known here. With the store
    /// unreachable, judges with what is known.
    pub async fn judge(&self, tags: &[&str], last_modified: f64, now: f64) -> (Freshness, f64) {
        if let Some(j) = self.judge_cached(tags.iter().copied(), last_modified, now) {
            return j;
        }
        let extra = self.inner.lookup(tags).await.unwrap_or_default();
        let mut m = self.inner.mirror();
        m.judge_with(tags, &extra, last_modified, now)
    }

    /// The latest past expiry among `tags` (looked up when not known here).
    pub async fn expiration(&self, tags: &[String], now: f64) -> f64 {
        let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        let cached = self.inner.mirror().cache.expiration(refs.iter().copied(), now);
        if let Some(e) = cached {
            return e;
        }
        let extra = self.inner.lookup(&refs).await.unwrap_or_default();
        let m = self.inner.mirror();
        crate::core::tags::expiration(
            refs.iter().map(|t| extra.iter().find(|(e, _)| e == t).map(|(_, s)| *s).or_else(|| m.cache.peek(t)).unwrap_or_default()),
            now,
        )
    }

    /// Entries written before this may have lost their stamps with the store's data (ms): when
    /// the store's era began with a loss, or when this process saw it lose data (a wipe, a
    /// restart, an older copy restored), whichever is later. A render that began before a
    /// revalidation lost with the data could otherwise be served as fresh.
    pub fn lost_at(&self) -> f64 {
        self.inner.mirror().lost_at.max(*self.inner.reset_at.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn fill_stats(&self, s: &mut StatsSnapshot) {
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

    /// Waits (blocking this thread, at most `timeout`) for pending revalidations to be
    /// recorded; for process exit, where nothing async runs any more. True when none is left.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
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
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        *self.inner.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(c) = &self.inner.coherence {
            c.disconnected();
        }
    }
}

impl Inner {
    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection; created lazily inside the tokio runtime (redis-rs spawns its driver
    /// there, and napi-rs may replace the runtime when worker threads come and go).
    async fn connection(self: &Arc<Self>) -> Result<(u64, Conn)> {
        if let Some(c) = self.current_connection()? {
            return Ok(c);
        }
        // One deadline for waiting on another caller's attempt and making our own: callers
        // queued behind failing attempts never wait longer than one connect timeout.
        let timed_out = || Error::Timeout { op: "connect", ms: self.connect_timeout.as_millis() as u64 };
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let _one = tokio::time::timeout_at(deadline, self.connecting.lock()).await.map_err(|_| timed_out())?;
        if let Some(c) = self.current_connection()? {
            return Ok(c);
        }
        let id = tokio::runtime::Handle::current().id();
        let serial = self.serial.fetch_add(1, Ordering::AcqRel) + 1;
        let conn = match tokio::time::timeout_at(deadline, self.connect(serial)).await {
            // Whatever stopped us connecting (refused, no slot map yet, no primary), it is an
            // outage for the breaker, not a bad command.
            Ok(Err(Error::Redis(m))) => return Err(Error::Unavailable(m)),
            Ok(c) => c?,
            Err(_) => return Err(timed_out()),
        };
        *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::runtime::Handle::current());
        let mut checker = self.checker.lock().unwrap_or_else(|p| p.into_inner());
        if self.coherence.is_some() && *checker != Some(id) {
            *checker = Some(id);
            spawn_checker(Arc::downgrade(self), self.check_period());
        }
        drop(checker);
        if !self.install(None, id, serial, conn.clone()) {
            return Err(Error::Closed);
        }
        Ok((serial, conn))
    }

    /// Makes `conn` the current connection, unless the store is closed or (with `replacing`)
    /// the current one is no longer that serial. Then drops every L1 copy: those validated
    /// through an earlier connection lost their tracking with it, and a read that took the old
    /// connection started before the flush.
    fn install(&self, replacing: Option<u64>, id: tokio::runtime::Id, serial: u64, conn: Conn) -> bool {
        {
            let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let current = replacing.is_none_or(|old| slot.as_ref().is_some_and(|(rid, s, _)| *s == old && *rid == id));
            if !current || self.closed.load(Ordering::Acquire) {
                return false;
            }
            *slot = Some((id, serial, conn));
        }
        if let Some(co) = &self.coherence {
            co.flush();
        }
        true
    }

    fn current_connection(&self) -> Result<Option<(u64, Conn)>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let id = tokio::runtime::Handle::try_current().map_err(|_| Error::Unavailable("no async runtime".into()))?.id();
        let slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(slot.as_ref().filter(|(rid, _, _)| *rid == id).map(|(_, serial, c)| (*serial, c.clone())))
    }

    /// Forgets connection `serial` if it is still the current one (the next operation connects
    /// anew; Sentinel: asks for the primary again), then distrusts the L1: in this order, so no
    /// read can pick up the old connection after the flush and arm tracking on it.
    fn drop_connection(&self, serial: u64) {
        {
            let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            if slot.as_ref().is_some_and(|(_, s, _)| *s == serial) {
                *slot = None;
            }
        }
        if let Some(co) = &self.coherence {
            co.disconnected();
        }
    }

    fn push_handler(self: &Arc<Self>, serial: u64) -> impl Fn(PushInfo) -> std::result::Result<(), ()> + Send + Sync + 'static {
        let weak = Arc::downgrade(self);
        move |info: PushInfo| {
            if let Some(inner) = weak.upgrade() {
                inner.on_push(serial, info);
            }
            Ok(())
        }
    }

    async fn connect(self: &Arc<Self>, serial: u64) -> Result<Conn> {
        let manager = |client: Client| -> Result<Conn> {
            let mut cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(Some(self.timeout))
                // Our own breaker decides when to try again; keep redis-rs from queueing retries.
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            if self.coherence.is_some() {
                cfg = cfg.set_push_sender(self.push_handler(serial));
            }
            Ok(Conn::Single(ConnectionManager::new_lazy_with_config(client, cfg)?))
        };
        match &self.topology {
            Topology::Single(client) => manager(client.clone()),
            Topology::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await.map_err(|e| {
                    let e = Error::from(e);
                    Error::Unavailable(format!("no primary from Sentinel: {}", e.detail()))
                })?;
                manager(client)
            }
            Topology::Cluster { nodes, certs } => {
                let mut b = ClusterClientBuilder::new(nodes.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    // Building the connection waits for every seed node, then for every node of
                    // the slot map: a node that hangs (no answer, no reset) must cost a fraction
                    // of our connect budget, not all of it, or no new process could connect.
                    .connection_timeout((self.connect_timeout / 3).max(Duration::from_millis(50)))
                    .response_timeout(self.timeout)
                    // MOVED/ASK after a failover or a slot migration: follow them quickly,
                    // inside our own per-operation timeout.
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
                if let Some(c) = certs {
                    b = b.certs(c.clone());
                }
                if self.coherence.is_some() {
                    b = b.push_sender(self.push_handler(serial));
                }
                let client =
                    b.build().map_err(|e| Error::Config(format!("redis cluster: {}", crate::core::error::redact(&e.to_string()))))?;
                let mut conn = Conn::Cluster(client.get_async_connection().await?);
                if self.coherence.is_some() {
                    // The baseline `check_nodes` compares with (none: its first check flushes).
                    let ids = conn.primary_connection_ids().await.ok();
                    *self.node_ids.lock().unwrap_or_else(|p| p.into_inner()) = ids;
                }
                Ok(conn)
            }
        }
    }

    fn check_period(&self) -> Duration {
        self.coherence.as_ref().map_or(Duration::from_millis(250), Coherence::check_period)
    }

    /// Runs on the connection's driver: must not block.
    fn on_push(self: Arc<Self>, serial: u64, info: PushInfo) {
        let Some(co) = &self.coherence else { return };
        match info.kind {
            PushKind::Invalidate => match info.data.first() {
                Some(Value::Array(keys)) => {
                    let names: Vec<String> = keys
                        .iter()
                        .filter_map(|k| match k {
                            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
                            Value::SimpleString(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    if names.iter().any(|k| *k == self.keys.epoch) {
                        self.catch_up();
                    }
                    co.invalidate_keys(names.iter().map(String::as_str));
                }
                // Nil: the server dropped its tracking table (FLUSHALL, or FLUSHDB of ANY
                // database): every copy is suspect, and the epoch must be read again to be
                // tracked again. Whether our data was lost is for that sync to tell.
                _ => {
                    co.flush();
                    self.catch_up();
                }
            },
            PushKind::Disconnection => {
                if matches!(self.topology, Topology::Sentinel(_)) {
                    // Sentinel drops clients when it moves the primary: ask it where it is now.
                    self.drop_connection(serial);
                } else {
                    co.disconnected();
                }
            }
            _ => {}
        }
    }

    /// The manifest moved: L1 copies are untrusted until a refresh (which also re-arms
    /// tracking of the epoch) started after this point has completed.
    fn catch_up(self: &Arc<Self>) {
        let Some(co) = &self.coherence else { return };
        co.epoch_moved();
        let inner = self.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = inner.refresh().await;
            });
        }
    }

    /// Runs one Redis operation under the breaker and the timeout. Behind Sentinel, an
    /// operation that finds its primary gone or demoted asks for the primary again and runs
    /// once more, so a failover costs one extra round trip, not an error.
    async fn run<T, F, Fut>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let probe = match self.breaker.admit() {
            Admit::Go => false,
            Admit::Probe => true,
            Admit::Reject { retry_in, failures, cause } => {
                return Err(Error::Unavailable(format!(
                    "{cause} (failing fast after {failures} failure(s); next attempt in {} ms)",
                    retry_in.as_millis()
                )));
            }
        };
        let mut res = self.attempt(op, &f).await;
        if let Err(Failure { moved: true, serial: Some(serial), .. }) = res {
            self.drop_connection(serial);
            res = self.attempt(op, &f).await;
        }
        let (res, used) = match res {
            Ok(v) => (Ok(v), None),
            Err(f) => (Err(f.error), f.serial),
        };
        match &res {
            Ok(_) => self.breaker.success(),
            Err(e) if e.is_connectivity() => {
                self.breaker.failure(&e.detail());
                self.recover();
                match (&self.topology, used) {
                    (Topology::Sentinel(_), Some(serial)) => self.drop_connection(serial), // the next attempt asks Sentinel again
                    (Topology::Cluster { .. }, Some(serial)) => self.rebuild(serial),
                    _ => {}
                }
            }
            Err(_) if probe => self.breaker.release_probe(),
            Err(_) => {}
        }
        res
    }

    /// One try.
    async fn attempt<T, F, Fut>(self: &Arc<Self>, op: &'static str, f: &F) -> std::result::Result<T, Failure>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let (serial, conn) = self.connection().await.map_err(|error| Failure { error, moved: false, serial: None })?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let moved = matches!(self.topology, Topology::Sentinel(_))
                    && (matches!(
                        e.kind(),
                        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown)
                    ) || e.is_connection_dropped()
                        || e.is_connection_refusal());
                Err(Failure { error: Error::from(e), moved, serial: Some(serial) })
            }
            Err(_) => {
                Err(Failure { error: Error::Timeout { op, ms: self.timeout.as_millis() as u64 }, moved: false, serial: Some(serial) })
            }
        }
    }

    /// Cluster: redis-rs refreshes its slot map on MOVED and on dropped connections, not on
    /// timeouts. Behind a primary that hangs (a paused host, a partition without a reset) it
    /// keeps sending that node's slots to it, failover or not, until the node answers again.
    /// A timeout on a Cluster therefore builds a new connection (a fresh slot map from the
    /// nodes that answer) in the background, one at a time; calls go on over the old one
    /// until the new one replaces it.
    fn rebuild(self: &Arc<Self>, serial: u64) {
        if self.rebuilding.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.rebuilding.store(false, Ordering::Release);
            return;
        };
        let inner = self.clone();
        rt.spawn(async move {
            let next = inner.serial.fetch_add(1, Ordering::AcqRel) + 1;
            if let Ok(Ok(conn)) = tokio::time::timeout(inner.connect_timeout * 2, inner.connect(next)).await {
                inner.install(Some(serial), tokio::runtime::Handle::current().id(), next, conn);
            }
            inner.rebuilding.store(false, Ordering::Release);
        });
    }

    /// Cluster: redis-rs replaces a node's connection (a slot refresh that found it slow, a
    /// node that left the map) without a push, and the server forgets our tracking with the old
    /// connection: copies of that node's keys would then never hear of later writes. Compare
    /// our connection ids on every primary with the last check: a change, or a primary that
    /// does not answer (frozen, partitioned), makes every copy suspect. Outside the breaker:
    /// one slow node must not fail the process's other calls.
    async fn check_nodes(self: &Arc<Self>) {
        let Some(co) = &self.coherence else { return };
        if !matches!(self.topology, Topology::Cluster { .. }) {
            return;
        }
        let Ok(Some((serial, mut conn))) = self.current_connection() else { return };
        let ids = tokio::time::timeout(self.timeout, conn.primary_connection_ids()).await;
        let mut last = self.node_ids.lock().unwrap_or_else(|p| p.into_inner());
        match ids {
            Ok(Ok(ids)) if last.as_ref() == Some(&ids) => {}
            Ok(Ok(ids)) => {
                co.flush();
                *last = Some(ids);
            }
            _ => {
                co.disconnected();
                *last = None;
                self.rebuild(serial);
            }
        }
    }

    async fn get(self: &Arc<Self>, key: &str) -> Result<Option<Vec<u8>>> {
        let epoch_key = self.keys.epoch.as_str();
        let tracked = self.coherence.is_some();
        // On a Cluster the manifest is one slot on one node: while tracking pushes every epoch
        // change to us (trusted feed), reads leave that node alone and go only to the entry's
        // node, so read traffic spreads over the primaries. Visibility of a revalidation is
        // then what it is for L1 hits: the push's delay.
        if matches!(self.topology, Topology::Cluster { .. }) && self.coherence.as_ref().is_some_and(Coherence::trusted) {
            let raw: Option<Vec<u8>> = self
                .run("get", |c| {
                    let mut get = redis::cmd("GET");
                    get.arg(key);
                    tracked_read(c, true, get)
                })
                .await?;
            // Not `heard`: the feed's health is the manifest node's, kept by the background
            // check (and by reads that take the long way while it is not trusted).
            return Ok(raw);
        }
        let seq = self.coherence.as_ref().map_or(0, Coherence::dirty_seq);
        let (raw, epoch): (Option<Vec<u8>>, Option<i64>) = self
            .run("get", |c| {
                let mut get = redis::cmd("GET");
                get.arg(key);
                with_epoch(c, tracked, get, epoch_key)
            })
            .await?;
        self.heard();
        self.settle(seq, epoch).await?;
        Ok(raw)
    }

    /// After reading `epoch` (with tracking re-armed): sync the mirror if it moved, then
    /// account for every epoch push that arrived before the read began (`seq`).
    async fn settle(self: &Arc<Self>, seq: u64, epoch: Option<i64>) -> Result<()> {
        if epoch.unwrap_or(0) != self.mirror().epoch {
            self.sync().await?;
        }
        if let Some(co) = &self.coherence {
            co.synced(seq);
        }
        Ok(())
    }

    fn heard(&self) {
        if let Some(co) = &self.coherence {
            co.heard();
        }
    }

    /// Strict mode: is the L1 copy with `write_id` still what Redis holds? Reads 8 bytes of
    /// the envelope, never the payload, and brings the manifest mirror up to date.
    async fn check(self: &Arc<Self>, key: &str, write_id: u64) -> Result<Check> {
        let epoch_key = self.keys.epoch.as_str();
        let tracked = self.coherence.is_some();
        let seq = self.coherence.as_ref().map_or(0, Coherence::dirty_seq);
        let (id, epoch): (Vec<u8>, Option<i64>) = self
            .run("check", |c| {
                let mut range = redis::cmd("GETRANGE");
                range.arg(key).arg(WRITE_ID_RANGE.0).arg(WRITE_ID_RANGE.1);
                with_epoch(c, tracked, range, epoch_key)
            })
            .await?;
        self.heard();
        self.settle(seq, epoch).await?;
        let stored = <[u8; 8]>::try_from(id.as_slice()).map(u64::from_le_bytes).ok();
        Ok(if stored == Some(write_id) { Check::Same } else { Check::Changed })
    }

    /// Brings the mirror up to date with the store: one bounded script, whatever the history.
    async fn sync(self: &Arc<Self>) -> Result<()> {
        let from = self.mirror().epoch.max(0);
        let now = crate::core::clock::now_ms();
        let keys = &self.keys;
        let out: Vec<String> = self
            .run("sync", |mut c| {
                let inv = keys.sync(from, now);
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let applied = self.mirror().apply_sync(from, &out);
        if let Applied::Synced { reset } = applied? {
            if reset {
                *self.reset_at.lock().unwrap_or_else(|p| p.into_inner()) = now;
            }
            if let Some(co) = &self.coherence {
                co.bump();
            }
        }
        Ok(())
    }

    /// The stamps of `tags` from the store (cached where this view allows). A manifest that
    /// lost a key is healed by a sync first.
    async fn lookup(self: &Arc<Self>, tags: &[&str]) -> Result<Vec<(String, TagStamps)>> {
        let mut found = Vec::with_capacity(tags.len());
        for chunk in tags.chunks(LOOKUP_BATCH) {
            let chunk: Vec<String> = chunk.iter().map(|t| t.to_string()).collect();
            let mut healed = false;
            let stamps = loop {
                let keys = &self.keys;
                let chunk = &chunk;
                let out: Vec<String> = self
                    .run("lookup", |mut c| {
                        let inv = keys.lookup(chunk);
                        async move { inv.invoke_async(&mut c).await }
                    })
                    .await?;
                let applied = self.mirror().apply_lookup(chunk, &out)?;
                match applied {
                    Some(s) => break s,
                    None if !healed => {
                        healed = true;
                        self.sync().await?;
                    }
                    None => return Err(Error::Redis("tag manifest keeps losing keys".into())),
                }
            };
            found.extend(chunk.into_iter().zip(stamps));
        }
        Ok(found)
    }

    async fn put(self: &Arc<Self>, key: &str, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> Result<()> {
        let tracked = self.coherence.is_some();
        let envelope = &envelope;
        let reply: Value = self
            .run("set", |mut c| async move {
                let mut p = redis::pipe();
                if tracked {
                    // Tracking follows reads only, and any write (ours too, NOLOOP or not) drops
                    // the key's tracking table: read the key (not its bytes) right after our SET,
                    // in one transaction, so that no other write can land between the two
                    // unseen. Every later write by someone else is then pushed to us.
                    p.cmd("MULTI").ignore().add_command(tracking_on()).ignore();
                }
                let set = p.cmd("SET").arg(key).arg(envelope).arg("PX").arg(ttl_ms);
                if if_absent {
                    set.arg("NX");
                }
                if tracked {
                    set.ignore();
                    p.cmd("STRLEN").arg(key).ignore();
                    p.cmd("EXEC");
                }
                let (v,): (Value,) = p.query_async(&mut c).await?;
                Ok(v)
            })
            .await?;
        // Inside a transaction, a failed command (OOM, ACL) comes back as an element of EXEC's
        // reply. NX answers nil when the key exists: that is success too.
        let failed = match reply {
            Value::Array(items) => items.into_iter().find(|v| matches!(v, Value::ServerError(_))),
            v @ Value::ServerError(_) => Some(v),
            _ => None,
        };
        match failed {
            Some(Value::ServerError(e)) => Err(Error::from(redis::RedisError::from(e))),
            _ => Ok(()),
        }
    }

    async fn revalidate(self: &Arc<Self>, tags: &[String], now: f64, durations: Option<Durations>) -> Result<()> {
        // Local first: the process that took the webhook serves fresh content at once.
        self.mirror().revalidate_locally(tags, now, durations);
        if let Some(co) = &self.coherence {
            co.bump();
        }
        let keys = &self.keys;
        let retention = self.retention_ms;
        // One script per batch, one after the other: others' commands run in between, so a
        // bulk revalidation never holds Redis for long.
        for (i, batch) in tags.chunks(REVALIDATE_BATCH).enumerate() {
            let epoch: i64 = match self
                .run("revalidate", |mut c| {
                    let inv = keys.revalidate(batch, now, durations, retention, None);
                    async move { inv.invoke_async(&mut c).await }
                })
                .await
            {
                Ok(e) => e,
                Err(e) if e.is_connectivity() => {
                    // Kept with its time and recorded once Redis answers (the caller still
                    // hears of the failure: a webhook can answer 5xx, and a retry is harmless).
                    self.outbox().push(tags[i * REVALIDATE_BATCH..].to_vec(), now, durations);
                    self.recover();
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let mut m = self.mirror();
            if m.epoch == epoch - 1 {
                // Nobody else wrote in between: the view already holds this state.
                m.epoch = epoch;
            }
        }
        Ok(())
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records pending revalidations, oldest first, at their original time. Stops at the first
    /// failure (they stay queued).
    async fn drain(self: &Arc<Self>) -> Result<()> {
        let keys = &self.keys;
        let retention = self.retention_ms;
        loop {
            let Some(p) = self.outbox().front() else { return Ok(()) };
            let late = crate::core::clock::now_ms();
            for batch in p.tags.chunks(REVALIDATE_BATCH) {
                let _: i64 = self
                    .run("revalidate", |mut c| {
                        let inv = keys.revalidate(batch, p.at, p.durations, retention, Some(late));
                        async move { inv.invoke_async(&mut c).await }
                    })
                    .await?;
            }
            self.outbox().done(&p);
        }
    }

    /// While Redis fails: one task probes it every `RECOVERY_PROBE`, outside the breaker, so
    /// this process learns it is back within about that long (not at the next call after a
    /// back-off), brings its view of the manifest up to date before trusting local copies
    /// again, and records pending revalidations. Ends when Redis answers and nothing is pending.
    fn recover(self: &Arc<Self>) {
        if self.recovering.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.recovering.store(false, Ordering::Release);
            return;
        };
        let weak = Arc::downgrade(self);
        rt.spawn(async move {
            loop {
                tokio::time::sleep(RECOVERY_PROBE).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.closed.load(Ordering::Acquire) {
                    inner.recovering.store(false, Ordering::Release);
                    return;
                }
                if inner.breaker.is_open() {
                    let ping =
                        inner.attempt("ping", &|mut c: Conn| async move { redis::cmd("PING").query_async::<()>(&mut c).await }).await;
                    if ping.is_err() {
                        continue;
                    }
                    inner.breaker.success();
                    let _ = inner.refresh().await;
                }
                if inner.drain().await.is_err() {
                    continue;
                }
                inner.recovering.store(false, Ordering::Release);
                // A revalidation queued after the drain but before the flag dropped would
                // otherwise wait for the next failure.
                if inner.outbox().is_empty() || inner.recovering.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }

    /// One `GET epoch` (re-arming tracking), and a sync when it moved.
    async fn refresh(self: &Arc<Self>) -> Result<()> {
        let epoch_key = self.keys.epoch.as_str();
        let tracked = self.coherence.is_some();
        let seq = self.coherence.as_ref().map_or(0, Coherence::dirty_seq);
        let epoch: Option<i64> = self
            .run("refresh", |c| {
                let mut get = redis::cmd("GET");
                get.arg(epoch_key);
                tracked_read(c, tracked, get)
            })
            .await?;
        self.heard();
        self.settle(seq, epoch).await?;
        Ok(())
    }
}

/// While the L1 is on: a periodic `refresh` keeps tracking armed, notices a silently lost
/// invalidation (the epoch moved without a push) and keeps the feed's heartbeat. One per
/// connection: it is spawned with it, on the same runtime, and stops when the store is closed
/// or dropped (it holds a weak reference) or its runtime shuts down. Tokio timers do not keep
/// Node alive.
fn spawn_checker(weak: Weak<Inner>, period: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
    rt.spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            if inner.closed.load(Ordering::Acquire) {
                break;
            }
            let _ = inner.refresh().await;
            inner.check_nodes().await;
        }
    });
}

/// Why one try failed; `moved`: the primary moved (Sentinel) and a retry may succeed;
/// `serial`: the connection it ran on.
struct Failure {
    error: Error,
    moved: bool,
    serial: Option<u64>,
}
