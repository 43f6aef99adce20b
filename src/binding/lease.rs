//! Regeneration leases (see src/core/store/redis/lease.rs).

use super::bridge;
use super::cache::NativeCache;
use super::convert::to_napi;
use crate::core::Lease;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// What taking a lease found, as JS reads it.
#[napi(object)]
pub struct NativeLease {
    /// `"held"` (taken, or `owner` — the token's prefix: this process's store — already holds
    /// it), `"busy"` (another instance regenerates), `"takenOver"` (another took it over from a
    /// holder that did not deliver) or `"newer"` (the entry read was replaced since: read it
    /// again; nothing is held).
    #[napi(ts_type = "'held' | 'busy' | 'takenOver' | 'newer'")]
    pub state: String,
    /// With `"busy"`: how long the holder's lease lasts at most (ms); else 0.
    pub left_ms: f64,
}

#[napi]
impl NativeCache {
    /// Takes the regeneration lease of `key` for `ttlMs` (see `NativeLease`). With `force`,
    /// takes it over. With `writeId` (the write the caller read and judged), a lease taken after
    /// that entry was replaced is given back and `"newer"` answered.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeLease>")]
    #[allow(clippy::too_many_arguments)]
    pub fn lease<'env>(
        &self,
        env: &'env Env,
        key: String,
        token: String,
        owner: String,
        ttl_ms: f64,
        force: Option<bool>,
        write_id: Option<f64>,
    ) -> Result<PromiseRaw<'env, NativeLease>> {
        let inner = self.inner.clone();
        let force = force.unwrap_or(false);
        let read = write_id.filter(|id| id.is_finite() && *id >= 0.0).map(|id| id as u64);
        bridge::spawn_value(env, move || async move {
            let got = inner.lease(&key, &token, &owner, ttl_ms.max(0.0) as u64, force, read).await.map_err(to_napi)?;
            let (state, left_ms) = match got {
                Lease::Held => ("held", 0),
                Lease::Busy { left_ms } => ("busy", left_ms),
                Lease::TakenOver => ("takenOver", 0),
                Lease::Newer => ("newer", 0),
            };
            Ok(NativeLease { state: state.to_owned(), left_ms: left_ms as f64 })
        })
    }

    /// Releases the lease of `key` if `token` still holds it.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn release<'env>(&self, env: &'env Env, key: String, token: String) -> Result<PromiseRaw<'env, bool>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { inner.release(&key, &token).await.map_err(to_napi) })
    }

    /// Releases the leases of `keys` that `owner` holds, blocking at most `timeoutMs`: for
    /// process exit. True when every release was answered.
    #[napi(catch_unwind)]
    pub fn release_all_sync(&self, keys: Vec<String>, owner: String, timeout_ms: u32) -> bool {
        self.inner.release_blocking(&keys, &owner, std::time::Duration::from_millis(timeout_ms.into()))
    }
}
