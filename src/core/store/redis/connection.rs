//! The connection: made lazily on the runtime of the call that needs it, replaced when a
//! Cluster stops answering, dropped when Sentinel moves the primary; the background check that
//! runs beside it while the L1 is on; and the pushes it receives (tracking invalidations,
//! disconnects).

use super::Inner;
use crate::core::coherence::Coherence;
use crate::core::error::{Error, Result};
use crate::core::store::topology::{Conn, Topology};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{Client, ProtocolVersion, PushInfo, PushKind, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

impl Inner {
    /// The connection; created lazily inside the tokio runtime (redis-rs spawns its driver
    /// there, and napi-rs may replace the runtime when worker threads come and go).
    pub(super) async fn connection(self: &Arc<Self>) -> Result<(u64, Conn)> {
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
        let conn = match tokio::time::timeout_at(deadline, self.connect_probed(serial)).await {
            // Whatever stopped us connecting (refused, no slot map yet, no primary), it is an
            // outage for the breaker, not a bad command.
            Ok(Err(Error::Redis(m))) => return Err(Error::Unavailable(m)),
            Ok(c) => c?,
            Err(_) => return Err(timed_out()),
        };
        *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::runtime::Handle::current());
        let mut checker = self.checker.lock().unwrap_or_else(|p| p.into_inner());
        if self.feed().is_some() && *checker != Some(id) {
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
    pub(super) fn drop_connection(&self, serial: u64) {
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

    /// A new connection, with what the server allows this user probed on it (see `caps`):
    /// once per connection, never per request.
    async fn connect_probed(self: &Arc<Self>, serial: u64) -> Result<Conn> {
        let mut conn = self.connect(serial).await?;
        let (tracking, scripting) = super::caps::probe(&mut conn, self.coherence.is_some()).await.map_err(|e| {
            let e = Error::from(e);
            Error::Unavailable(format!("while checking what the server allows: {}", e.detail()))
        })?;
        self.caps.note_tracking(tracking);
        self.caps.note_scripting(scripting);
        Ok(conn)
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
                let client = b
                    .build()
                    .map_err(|e| Error::Config(format!("redis cluster: {}", crate::core::redis_url::redact_text(&e.to_string()))))?;
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

    /// Cluster: redis-rs refreshes its slot map on MOVED and on dropped connections, not on
    /// timeouts. Behind a primary that hangs (a paused host, a partition without a reset) it
    /// keeps sending that node's slots to it, failover or not, until the node answers again.
    /// A timeout on a Cluster therefore builds a new connection (a fresh slot map from the
    /// nodes that answer) in the background, one at a time; calls go on over the old one
    /// until the new one replaces it.
    pub(super) fn rebuild(self: &Arc<Self>, serial: u64) {
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
            if let Ok(Ok(conn)) = tokio::time::timeout(inner.connect_timeout * 2, inner.connect_probed(next)).await {
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
        let Some(co) = self.feed() else { return };
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
