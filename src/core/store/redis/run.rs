//! How an operation runs: under the breaker and the timeout, once more behind Sentinel when
//! the primary moved, and what a failure then sets off (a new connection, the recovery task).

use super::Inner;
use crate::core::error::{Error, Result};
use crate::core::store::breaker::Admit;
use crate::core::store::topology::{Conn, Topology};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a failing store is probed in the background.
const RECOVERY_PROBE: Duration = Duration::from_millis(100);
/// How soon a flush tries again after a failure (within its grace).
const FLUSH_RETRY: Duration = Duration::from_millis(50);

/// Why one try failed; `moved`: the primary moved (Sentinel) and a retry may succeed;
/// `serial`: the connection it ran on.
struct Failure {
    error: Error,
    moved: bool,
    serial: Option<u64>,
}

impl Inner {
    /// Runs one Redis operation under the breaker and the timeout. Behind Sentinel, an
    /// operation that finds its primary gone or demoted asks for the primary again and runs
    /// once more, so a failover costs one extra round trip, not an error.
    pub(super) async fn run<T, F, Fut>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T>
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
                // redis-rs's own response timeout is our timeout too: say so (ERR_SHARED_ISR_TIMEOUT).
                let error = if e.is_timeout() { Error::Timeout { op, ms: self.timeout.as_millis() as u64 } } else { Error::from(e) };
                Err(Failure { error, moved, serial: Some(serial) })
            }
            Err(_) => {
                Err(Failure { error: Error::Timeout { op, ms: self.timeout.as_millis() as u64 }, moved: false, serial: Some(serial) })
            }
        }
    }

    /// While the breaker is open: a `PING` outside it, closing it when Redis answers. Redis may
    /// be back for up to a probe period before the breaker knows, and a call it rejects then
    /// would be lost time (at process exit, all the time there is).
    async fn probe(self: &Arc<Self>) -> Result<()> {
        if !self.breaker.is_open() {
            return Ok(());
        }
        self.attempt("ping", &|mut c: Conn| async move { redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
            .map_err(|f| f.error)?;
        self.breaker.success();
        Ok(())
    }

    /// Records pending revalidations, trying again every `FLUSH_RETRY` until none is left or
    /// `timeout` has passed (at process exit and at close: the grace they are given). True when
    /// none is left.
    pub(super) async fn flush(self: &Arc<Self>, timeout: Duration) -> bool {
        let tries = async {
            loop {
                if self.outbox().is_empty() {
                    return;
                }
                if self.probe().await.is_ok() && self.drain().await.is_ok() {
                    continue;
                }
                tokio::time::sleep(FLUSH_RETRY).await;
            }
        };
        let _ = tokio::time::timeout(timeout, tries).await;
        self.outbox().is_empty()
    }

    /// While Redis fails: one task probes it every `RECOVERY_PROBE`, outside the breaker, so
    /// this process learns it is back within about that long (not at the next call after a
    /// back-off), brings its view of the manifest up to date before trusting local copies
    /// again, and records pending revalidations. Ends when Redis answers and nothing is pending.
    pub(super) fn recover(self: &Arc<Self>) {
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
                    if inner.probe().await.is_err() {
                        continue;
                    }
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
}
