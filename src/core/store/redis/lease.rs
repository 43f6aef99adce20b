//! Regeneration leases: at most one instance regenerates an entry per change. A lease is
//! `SET <prefix>l:<key> <token> NX PX <ttl>`; the holder releases it once its new entry is
//! stored (a script that deletes only its own token), and a holder that crashes or whose render
//! fails lets it expire. Touched only on the path that regenerates, never on a hit.

use super::RedisStore;
use crate::core::error::Result;
use redis::Script;
use std::sync::LazyLock;

static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"));

impl RedisStore {
    /// Takes the lease `key` for `ttl_ms` with `token`; false when another holder has it. With
    /// `force` it takes it over (a waiter whose holder did not deliver in time).
    pub async fn lease(&self, key: &str, token: &str, ttl_ms: u64, force: bool) -> Result<bool> {
        let ttl_ms = ttl_ms.max(1);
        let reply: Option<String> = self
            .inner
            .run("lease", |mut c| async move {
                let mut set = redis::cmd("SET");
                set.arg(key).arg(token);
                if !force {
                    set.arg("NX");
                }
                set.arg("PX").arg(ttl_ms).query_async(&mut c).await
            })
            .await?;
        Ok(reply.is_some())
    }

    /// Releases the lease `key` if `token` still holds it; true when it did.
    pub async fn release(&self, key: &str, token: &str) -> Result<bool> {
        let n: i64 = self
            .inner
            .run("release", |mut c| async move {
                let mut inv = RELEASE.prepare_invoke();
                inv.key(key).arg(token);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }
}
