//! Regeneration leases (see src/core/store/redis/lease.rs).

use super::bridge;
use super::cache::NativeCache;
use super::convert::to_napi;
use crate::core::Lease;
use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi]
impl NativeCache {
    /// Takes the regeneration lease of `key` for `ttlMs`: `"held"` (taken, or `owner` — the
    /// token's prefix: this process's store — already holds it), `"busy"` (another instance
    /// regenerates) or `"takenOver"` (another took it over from a holder that did not deliver).
    /// With `force`, takes it over.
    #[napi(catch_unwind, ts_return_type = "Promise<'held' | 'busy' | 'takenOver'>")]
    pub fn lease<'env>(
        &self,
        env: &'env Env,
        key: String,
        token: String,
        owner: String,
        ttl_ms: f64,
        force: Option<bool>,
    ) -> Result<PromiseRaw<'env, &'static str>> {
        let inner = self.inner.clone();
        let force = force.unwrap_or(false);
        bridge::spawn_value(env, move || async move {
            Ok(match inner.lease(&key, &token, &owner, ttl_ms.max(0.0) as u64, force).await.map_err(to_napi)? {
                Lease::Held => "held",
                Lease::Busy => "busy",
                Lease::TakenOver => "takenOver",
            })
        })
    }

    /// Releases the lease of `key` if `token` still holds it.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn release<'env>(&self, env: &'env Env, key: String, token: String) -> Result<PromiseRaw<'env, bool>> {
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move { inner.release(&key, &token).await.map_err(to_napi) })
    }
}
