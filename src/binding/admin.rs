//! What operators use (the fleet, the ops CLI): never on the request path. Redis only; the
//! in-memory store refuses with `ERR_SHARED_ISR_CONFIG`.

use super::bridge;
use super::cache::NativeCache;
use super::convert::to_napi;
use crate::core::{Error, RedisStore};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

/// A page of keys with their sizes (bytes; -1 when not a string), and where to continue.
#[napi(object)]
pub struct NativeScanPage {
    pub keys: Vec<String>,
    pub sizes: Vec<f64>,
    /// Absent when the scan is done.
    pub cursor: Option<String>,
}

/// The fleet's live instances (their summaries, JSON) and Redis's time; `complete` false when
/// the listing stopped at its limit (an instance may be missing); `index`: the index's key.
#[napi(object)]
pub struct NativeFleet {
    pub now: f64,
    pub instances: Vec<String>,
    pub complete: bool,
    pub index: String,
}

/// What the server lets this user do: `null` while unknown (no connection made yet); a note
/// (what it means and the ACL change that fixes it) for each thing refused.
#[napi(object)]
pub struct NativeCapabilities {
    pub tracking: Option<bool>,
    pub scripting: Option<bool>,
    pub tracking_note: Option<String>,
    pub scripting_note: Option<String>,
}

impl From<crate::core::Capabilities> for NativeCapabilities {
    fn from(c: crate::core::Capabilities) -> Self {
        NativeCapabilities {
            tracking: c.tracking,
            scripting: c.scripting,
            tracking_note: c.tracking_note,
            scripting_note: c.scripting_note,
        }
    }
}

pub(super) fn redis(inner: &Arc<crate::core::Cache>) -> Result<&RedisStore> {
    inner.redis().ok_or_else(|| to_napi(Error::Config("this needs a Redis store (no redis URL is set)".into())))
}

#[napi]
impl NativeCache {
    /// How late this process learned of revalidations (ms samples) since the last call.
    #[napi(catch_unwind)]
    pub fn take_lags(&self) -> Vec<f64> {
        self.inner.take_lags()
    }

    /// What the server allows, as learnt when connecting (no I/O). Redis only.
    #[napi(catch_unwind)]
    pub fn capabilities(&self) -> Result<NativeCapabilities> {
        Ok(redis(&self.inner)?.capabilities().into())
    }

    /// Connects if not connected yet and resolves with what the server allows. Redis only.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeCapabilities>")]
    pub fn probe<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, NativeCapabilities>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { Ok(redis(&inner)?.probe().await.map_err(to_napi)?.into()) })
    }

    /// The full key of an entry (`<prefix>e:<key>`), e.g. for SCAN patterns.
    #[napi(catch_unwind)]
    pub fn entry_key(&self, key: String) -> String {
        self.inner.entry_key(&key)
    }

    /// Registers this instance, beating every `periodMs`, with its summary (JSON). Resolves
    /// with Redis's time.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn heartbeat<'env>(&self, env: &'env Env, id: String, summary: String, period_ms: f64) -> Result<PromiseRaw<'env, f64>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            redis(&inner)?.heartbeat(&id, &summary, period_ms.max(0.0) as u64).await.map_err(to_napi)
        })
    }

    /// The live instances, examining at most `limit` entries of the fleet's index.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeFleet>")]
    pub fn fleet<'env>(&self, env: &'env Env, limit: u32) -> Result<PromiseRaw<'env, NativeFleet>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let l = redis(&inner)?.fleet(limit as usize).await.map_err(to_napi)?;
            Ok(NativeFleet { now: l.now, instances: l.instances, complete: l.complete, index: l.index })
        })
    }

    /// Unregisters an instance that was beating every `periodMs` (`beatInFlight`: one of its
    /// heartbeats may land later), blocking at most `timeoutMs` (close, process exit). True when done.
    #[napi(catch_unwind)]
    pub fn leave(&self, id: String, period_ms: f64, beat_in_flight: bool, timeout_ms: u32) -> Result<bool> {
        let timeout = std::time::Duration::from_millis(timeout_ms.into());
        redis(&self.inner)?.leave_blocking(&id, period_ms.max(0.0) as u64, beat_in_flight, timeout).map_err(to_napi)
    }

    /// One command on the node of `key` (else the manifest's node); the reply as JSON.
    #[napi(catch_unwind, ts_return_type = "Promise<unknown>")]
    pub fn command<'env>(&self, env: &'env Env, args: Vec<String>, key: Option<String>) -> Result<PromiseRaw<'env, serde_json::Value>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { redis(&inner)?.command(&args, key.as_deref()).await.map_err(to_napi) })
    }

    /// The primaries (`host:port`; `[""]` for one server).
    #[napi(catch_unwind, ts_return_type = "Promise<string[]>")]
    pub fn primaries<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<String>>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { redis(&inner)?.primaries().await.map_err(to_napi) })
    }

    /// One page of SCAN MATCH `pattern` over every primary, with sizes.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeScanPage>")]
    pub fn scan_page<'env>(
        &self,
        env: &'env Env,
        pattern: String,
        cursor: Option<String>,
        count: u32,
    ) -> Result<PromiseRaw<'env, NativeScanPage>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let page = redis(&inner)?.scan_page(&pattern, cursor.as_deref(), count.max(1)).await.map_err(to_napi)?;
            let (keys, sizes) = page.keys.into_iter().map(|(k, n)| (k, n as f64)).unzip();
            Ok(NativeScanPage { keys, sizes, cursor: page.cursor })
        })
    }

    /// Deletes keys (full key names); resolves with how many existed.
    #[napi(catch_unwind, ts_return_type = "Promise<number>")]
    pub fn unlink<'env>(&self, env: &'env Env, keys: Vec<String>) -> Result<PromiseRaw<'env, f64>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { redis(&inner)?.unlink(&keys).await.map(|n| n as f64).map_err(to_napi) })
    }
}
