//! The CDN purge feed's operations (see `store::cdn`): run by JS's deliverer from a timer and
//! after revalidations, never on a read.

use super::RedisStore;
use crate::core::error::{Error, Result};
use crate::core::store::cdn::{Batch, CdnKeys};

/// A path tag is a Next key with a marker: bounded like a key.
const MAX_PATH_BYTES: usize = 4096;

impl RedisStore {
    fn cdn_keys(&self) -> CdnKeys {
        CdnKeys::new(self.inner.keys.slot())
    }

    /// The next batch for `owner` to purge, holding the delivery lock for `lock_ms`.
    pub async fn cdn_take(&self, owner: &str, lock_ms: u64, limit: usize, max_backlog: usize) -> Result<Batch> {
        let keys = &self.inner.keys;
        let inv = &self.cdn_keys().take(&keys.log, &keys.epoch, owner, lock_ms.max(1000), limit, max_backlog);
        let reply: Vec<String> = self.inner.run("cdnTake", |mut c| async move { inv.invoke_async(&mut c).await }).await?;
        Batch::parse(reply).ok_or_else(|| Error::Redis("the CDN feed answered something unexpected".into()))
    }

    /// Confirms a delivered batch; false when the lock had passed to another instance.
    pub async fn cdn_done(&self, owner: &str, cursor: &str, all: Option<&str>, paths: &[(String, String)]) -> Result<bool> {
        let inv = &self.cdn_keys().done(owner, cursor, all, paths);
        let n: i64 = self.inner.run("cdnDone", |mut c| async move { inv.invoke_async(&mut c).await }).await?;
        Ok(n == 1)
    }

    /// Queues path tags (entries just written); false when the queue is full and everything
    /// will be purged instead.
    pub async fn cdn_enqueue(&self, paths: &[String], max_backlog: usize) -> Result<bool> {
        if let Some(p) = paths.iter().find(|p| p.len() > MAX_PATH_BYTES) {
            return Err(Error::TooLarge { what: "CDN path tag", size: p.len(), max: MAX_PATH_BYTES });
        }
        if paths.is_empty() {
            return Ok(true);
        }
        let inv = &self.cdn_keys().enqueue(paths, max_backlog);
        let n: i64 = self.inner.run("cdnEnqueue", |mut c| async move { inv.invoke_async(&mut c).await }).await?;
        Ok(n == 1)
    }

    /// How much the CDN is owed (tags and paths not delivered yet), and whether a purge of
    /// everything is due.
    pub async fn cdn_pending(&self) -> Result<(u64, bool)> {
        let keys = &self.inner.keys;
        let inv = &self.cdn_keys().pending(&keys.log, &keys.epoch);
        let (n, all): (u64, i64) = self.inner.run("cdnPending", |mut c| async move { inv.invoke_async(&mut c).await }).await?;
        Ok((n, all == 1))
    }
}
