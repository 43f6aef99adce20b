//! The CDN purge feed for JS's deliverer (`lib/cdn/`): converts, nothing else. Redis only; with
//! the in-memory store the process purges what it revalidates itself.

use super::admin::redis;
use super::bridge;
use super::cache::NativeCache;
use super::convert::to_napi;
use crate::core::CdnBatch;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// A batch to purge. `status`: `busy` (another instance delivers), `all` (purge everything),
/// `ok` (these tags and paths). Hand `cursor`, `paths`, `scores` (and `until` after `all`)
/// back to `cdnDone` once purged.
#[napi(object)]
pub struct NativeCdnBatch {
    pub status: String,
    pub cursor: String,
    pub until: String,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    pub scores: Vec<String>,
    /// How many keys were owed fleet-wide when it was taken (this batch included).
    pub backlog: f64,
}

/// What the CDN is owed.
#[napi(object)]
pub struct NativeCdnPending {
    pub pending: f64,
    pub all: bool,
}

#[napi]
impl NativeCache {
    /// The next batch for `owner`, holding the delivery lock for `lockMs`.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeCdnBatch>")]
    pub fn cdn_take<'env>(
        &self,
        env: &'env Env,
        owner: String,
        lock_ms: f64,
        limit: u32,
        max_backlog: f64,
    ) -> Result<PromiseRaw<'env, NativeCdnBatch>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let batch = redis(&inner)?
                .cdn_take(&owner, lock_ms.max(0.0) as u64, limit as usize, max_backlog.max(0.0) as usize)
                .await
                .map_err(to_napi)?;
            let empty = || (String::new(), String::new(), Vec::new(), Vec::new(), Vec::new(), 0);
            let (status, (cursor, until, tags, paths, scores, backlog)) = match batch {
                CdnBatch::Busy => ("busy", empty()),
                CdnBatch::All { epoch, now } => ("all", (epoch, now, Vec::new(), Vec::new(), Vec::new(), 0)),
                CdnBatch::Some { cursor, tags, paths, backlog } => {
                    let (paths, scores) = paths.into_iter().unzip();
                    ("ok", (cursor, String::new(), tags, paths, scores, backlog))
                }
            };
            Ok(NativeCdnBatch { status: status.into(), cursor, until, tags, paths, scores, backlog: backlog as f64 })
        })
    }

    /// Confirms a purged batch; resolves false when the lock had passed to another instance.
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn cdn_done<'env>(
        &self,
        env: &'env Env,
        owner: String,
        cursor: String,
        until: Option<String>,
        paths: Vec<String>,
        scores: Vec<String>,
    ) -> Result<PromiseRaw<'env, bool>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let pairs: Vec<(String, String)> = paths.into_iter().zip(scores).collect();
            redis(&inner)?.cdn_done(&owner, &cursor, until.as_deref(), &pairs).await.map_err(to_napi)
        })
    }

    /// Queues path tags to purge; resolves false when the queue was full (everything will be
    /// purged instead).
    #[napi(catch_unwind, ts_return_type = "Promise<boolean>")]
    pub fn cdn_enqueue<'env>(&self, env: &'env Env, paths: Vec<String>, max_backlog: f64) -> Result<PromiseRaw<'env, bool>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(
            env,
            move || async move { redis(&inner)?.cdn_enqueue(&paths, max_backlog.max(0.0) as usize).await.map_err(to_napi) },
        )
    }

    /// What the CDN is owed, fleet-wide.
    #[napi(catch_unwind, ts_return_type = "Promise<NativeCdnPending>")]
    pub fn cdn_pending<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, NativeCdnPending>> {
        redis(&self.inner)?;
        let inner = self.inner.clone();
        bridge::spawn_value(env, move || async move {
            let (pending, all) = redis(&inner)?.cdn_pending().await.map_err(to_napi)?;
            Ok(NativeCdnPending { pending: pending as f64, all })
        })
    }
}
