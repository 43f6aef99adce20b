//! Regeneration leases: at most one instance regenerates an entry per change. A lease is
//! `SET <prefix>l:<key> <token> NX PX <ttl>`; the holder releases it once its new entry is
//! stored (a script that deletes only its own token), and a holder that crashes or whose render
//! fails lets it expire. Touched only on the path that regenerates, never on a hit.

use super::RedisStore;
use crate::core::error::Result;
use redis::Script;
use std::sync::LazyLock;

/// KEYS: the lease. ARGV: token, ttl ms, owner (the token's prefix: this process's store),
/// force. 1 when the caller holds it now (taken, or already its own), 0 when another does, 2
/// when another took it over from a holder that did not deliver (its token ends in `~`).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local cur = redis.call('GET', KEYS[1])
if cur and ARGV[4] ~= '1' then
  if string.sub(cur, 1, #ARGV[3]) == ARGV[3] then return 1 end
  return string.sub(cur, -1) == '~' and 2 or 0
end
redis.call('SET', KEYS[1], ARGV[4] == '1' and ARGV[1] .. '~' or ARGV[1], 'PX', ARGV[2])
return 1",
    )
});

/// What taking a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds it (taken now, or already its own).
    Held,
    /// Another instance holds it and regenerates: wait for its entry.
    Busy,
    /// Another instance took it over after its holder did not deliver in time: the render may
    /// be failing, so waiting again would only add the same delay; regenerate instead.
    TakenOver,
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
    /// deliver in time).
    pub async fn lease(&self, key: &str, token: &str, owner: &str, ttl_ms: u64, force: bool) -> Result<Lease> {
        let ttl_ms = ttl_ms.max(1);
        let n: i64 = self
            .inner
            .run("lease", |mut c| async move {
                let mut inv = TAKE.prepare_invoke();
                inv.key(key).arg(token).arg(ttl_ms).arg(owner).arg(if force { "1" } else { "0" });
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(match n {
            1 => Lease::Held,
            2 => Lease::TakenOver,
            _ => Lease::Busy,
        })
    }

    /// Releases the lease `key` if `owner` (a token prefix) still holds it; true when it did.
    pub async fn release(&self, key: &str, owner: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .run("release", |mut c| async move {
                let mut inv = RELEASE.prepare_invoke();
                inv.key(key).arg(owner);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }
}
