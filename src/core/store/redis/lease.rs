//! Regeneration leases: at most one instance regenerates an entry per change. A lease is
//! `SET <prefix>l:<key> <token> NX PX <ttl>`; the holder releases it once its new entry is
//! stored (a script that deletes only its own token), and a holder that crashes or whose render
//! fails lets it expire. Touched only on the path that regenerates, never on a hit.

use super::{Inner, RedisStore};
use crate::core::envelope::WRITE_ID_RANGE;
use crate::core::error::Result;
use redis::Script;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// KEYS: the lease. ARGV: token, ttl ms, owner (the token's prefix: this process's store),
/// force. `{1, 0}` when the caller holds it now (taken, or already its own); `{0, pttl}` when
/// another does, for `pttl` ms more; `{2, pttl}` when another took it over from a holder that
/// did not deliver (its token ends in `~`).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local cur = redis.call('GET', KEYS[1])
if cur and ARGV[4] ~= '1' then
  if string.sub(cur, 1, #ARGV[3]) == ARGV[3] then return {1, 0} end
  return {string.sub(cur, -1) == '~' and 2 or 0, redis.call('PTTL', KEYS[1])}
end
redis.call('SET', KEYS[1], ARGV[4] == '1' and ARGV[1] .. '~' or ARGV[1], 'PX', ARGV[2])
return {1, 0}",
    )
});

/// What taking a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds it (taken now, or already its own): it renders.
    Held,
    /// Another instance holds it and regenerates, for `left_ms` more at most: wait for its
    /// entry.
    Busy { left_ms: u64 },
    /// Another instance took it over after its holder did not deliver in time: the render may
    /// be failing, so waiting again would only add the same delay; regenerate instead.
    TakenOver,
    /// The entry is no longer the one the caller read (a holder stored its render meanwhile):
    /// read it again instead of rendering. The caller holds no lease.
    Newer,
}

/// KEYS: the lease. ARGV: owner. Deletes it only while `owner` (a token prefix) holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local cur = redis.call('GET', KEYS[1]) if cur and string.sub(cur, 1, #ARGV[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

impl RedisStore {
    /// Takes the lease `key` for `ttl_ms` with `token` (see `Lease`; `owner` is the token's
    /// prefix). With `force` it takes it over, marked as such (a waiter whose holder did not
    /// deliver in time). With `read` (the entry's key and the write id the caller judged), a
    /// lease taken while that entry has been replaced is given back and `Newer` answered:
    /// a holder stores its entry before it releases, so a lease found free after that release
    /// always sees the new entry here, whichever nodes the two keys live on.
    pub async fn lease(&self, key: &str, token: &str, owner: &str, ttl_ms: u64, force: bool, read: Option<(&str, u64)>) -> Result<Lease> {
        let ttl_ms = ttl_ms.max(1);
        let (state, pttl): (i64, i64) = self
            .inner
            .run("lease", |mut c| async move {
                let mut inv = TAKE.prepare_invoke();
                inv.key(key).arg(token).arg(ttl_ms).arg(owner).arg(if force { "1" } else { "0" });
                inv.invoke_async(&mut c).await
            })
            .await?;
        let left_ms = pttl.max(0) as u64;
        let got = match state {
            1 => Lease::Held,
            2 => return Ok(Lease::TakenOver),
            _ => return Ok(Lease::Busy { left_ms }),
        };
        let Some((entry, write_id)) = read else { return Ok(got) };
        // Checked after the take, never before: checked first, the holder could store and
        // release between the check and the take, and this caller would render once more.
        match self.stored_write_id(entry).await {
            Ok(stored) if stored == Some(write_id) => Ok(Lease::Held),
            Ok(_) => {
                // Given back at once, so nobody waits on a lease whose holder will not render.
                release(&self.inner, key, owner).await?;
                Ok(Lease::Newer)
            }
            // The check could not tell (Redis failing now): render as the holder, which
            // releases the lease with its write, or lets it expire.
            Err(_) => Ok(Lease::Held),
        }
    }

    /// The write id of the entry stored under `entry` (`None`: gone). A plain `GETRANGE` of the
    /// envelope header: no tracking, no epoch (the lease needs neither).
    async fn stored_write_id(&self, entry: &str) -> Result<Option<u64>> {
        let id: Vec<u8> = self
            .inner
            .run("lease", |mut c| async move {
                redis::cmd("GETRANGE").arg(entry).arg(WRITE_ID_RANGE.0).arg(WRITE_ID_RANGE.1).query_async(&mut c).await
            })
            .await?;
        Ok(<[u8; 8]>::try_from(id.as_slice()).map(u64::from_le_bytes).ok())
    }

    /// Releases the lease `key` if `owner` (a token prefix) still holds it; true when it did.
    pub async fn release(&self, key: &str, owner: &str) -> Result<bool> {
        release(&self.inner, key, owner).await
    }

    /// Releases the leases `keys` that `owner` still holds, blocking at most `timeout` (at
    /// process exit, when nothing async runs any more). True when every release was answered.
    pub(super) fn release_blocking(&self, keys: &[String], owner: &str, timeout: Duration) -> bool {
        if keys.is_empty() {
            return true;
        }
        let inner = self.inner.clone();
        let keys = keys.to_vec();
        let owner = owner.to_owned();
        self.block_on(timeout, async move {
            let mut all = tokio::task::JoinSet::new();
            for key in keys {
                let (inner, owner) = (inner.clone(), owner.clone());
                all.spawn(async move { release(&inner, &key, &owner).await.is_ok() });
            }
            let mut ok = true;
            while let Some(done) = all.join_next().await {
                ok &= done.unwrap_or(false);
            }
            ok
        })
        .unwrap_or(false)
    }
}

async fn release(inner: &Arc<Inner>, key: &str, owner: &str) -> Result<bool> {
    let n: i64 = inner
        .run("release", |mut c| async move {
            let mut inv = RELEASE.prepare_invoke();
            inv.key(key).arg(owner);
            inv.invoke_async(&mut c).await
        })
        .await?;
    Ok(n == 1)
}
