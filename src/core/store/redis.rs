//! Redis backend: entries as plain strings, the tag manifest as two hashes, and a change
//! log (sorted set scored by epoch) so each process keeps an exact local mirror of the
//! manifest and catches up on precisely what changed. No SCAN, no KEYS, ever.
//!
//! Every `get` pipelines `GET entry` with `GET epoch`: one round trip tells both the value
//! and whether the mirror is current, so a revalidation on any process is seen by the very
//! next read on every other process.

use super::breaker::{Admit, Breaker};
use crate::core::config::Config;
use crate::core::error::{Error, Result};
use crate::core::stats::{Stats, StatsSnapshot, bump};
use crate::core::tags::{Durations, Freshness, Manifest, TagStamps};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, Script};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// One connection per (URL, tokio runtime) for the whole process: Next constructs the handler
/// per request, and napi-rs may recreate its runtime when worker threads come and go.
static REGISTRY: LazyLock<Mutex<HashMap<(String, tokio::runtime::Id), ConnectionManager>>> =
    LazyLock::new(Default::default);

/// Records a revalidation atomically: stamps, the change log and the epoch move together.
/// A new epoch counter starts at `now_ms * 1000`, so after Redis loses its data the epoch
/// still moves forward past every mirror's, and their catch-up includes every new change.
static REVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[4]) end
local epoch = redis.call('INCR', KEYS[4])
for i = 5, #ARGV do
  local t = ARGV[i]
  if ARGV[2] == 'x' then
    redis.call('HSET', KEYS[2], t, ARGV[1])
  else
    redis.call('HSET', KEYS[1], t, ARGV[1])
    if ARGV[3] ~= '' then redis.call('HSET', KEYS[2], t, ARGV[3]) end
  end
  redis.call('ZADD', KEYS[3], epoch, t)
end
return epoch
"#,
    )
});

/// Returns `epoch, from, (tag, stale, expired)*` for every tag changed after `from`.
/// A `from` ahead of the store's epoch means the store was reset: everything is resent.
static SYNC: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- Epochs pass through as strings: Lua's tostring would print them in exponent form.
local raw = redis.call('GET', KEYS[4]) or '0'
local from = ARGV[1]
if tonumber(from) > tonumber(raw) then from = '0' end
local out = { raw, from }
for _, t in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. from, '+inf')) do
  out[#out + 1] = t
  out[#out + 1] = redis.call('HGET', KEYS[1], t) or ''
  out[#out + 1] = redis.call('HGET', KEYS[2], t) or ''
end
return out
"#,
    )
});

/// Metadata keys share one hash slot (the `{prefix}` tag) so scripts work on Redis Cluster.
struct MetaKeys {
    stale: String,
    expired: String,
    log: String,
    epoch: String,
}

impl MetaKeys {
    fn new(prefix: &str) -> Self {
        let k = |name: &str| format!("{prefix}{{{prefix}}}:{name}");
        MetaKeys { stale: k("stale"), expired: k("expired"), log: k("log"), epoch: k("epoch") }
    }
}

struct Mirror {
    /// Epoch of the store that `manifest` reflects; -1 before the first sync.
    epoch: i64,
    manifest: Manifest,
}

fn epoch_base(now_ms: f64) -> i64 {
    (now_ms.floor() as i64).saturating_mul(1000)
}

pub struct RedisStore {
    client: Client,
    registry_key: String,
    timeout: Duration,
    connect_timeout: Duration,
    breaker: Breaker,
    mirror: Mutex<Mirror>,
    keys: MetaKeys,
}

impl RedisStore {
    pub fn new(config: &Config) -> Result<Self> {
        let url = config.redis_url.as_deref().ok_or_else(|| Error::Config("no redis URL".into()))?;
        let info = url
            .into_connection_info()
            .map_err(|e| Error::Config(format!("redis URL: {}", crate::core::error::redact(&e.to_string()))))?;
        // RESP3: the connection manager then reconnects proactively on disconnect pushes.
        let redis = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(redis)).map_err(|e| Error::Config(e.to_string()))?;
        Ok(RedisStore {
            client,
            registry_key: url.to_owned(),
            timeout: Duration::from_millis(config.timeout_ms),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            breaker: Breaker::default(),
            mirror: Mutex::new(Mirror { epoch: -1, manifest: Manifest::default() }),
            keys: MetaKeys::new(&config.prefix),
        })
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared connection; must run inside the tokio runtime (redis-rs spawns its driver).
    fn connection(&self) -> Result<ConnectionManager> {
        let id = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Unavailable("no async runtime".into()))?
            .id();
        let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        let key = (self.registry_key.clone(), id);
        if let Some(c) = reg.get(&key) {
            return Ok(c.clone());
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            // Our own breaker decides when to try again; keep redis-rs from queueing retries.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(self.client.clone(), cfg)?;
        reg.insert(key, conn.clone());
        Ok(conn)
    }

    /// Runs one Redis operation under the breaker and the timeout.
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let probe = match self.breaker.admit() {
            Admit::Go => false,
            Admit::Probe => true,
            Admit::Reject { retry_in, failures } => {
                return Err(Error::Unavailable(format!(
                    "{failures} recent failure(s); next attempt in {} ms",
                    retry_in.as_millis()
                )));
            }
        };
        let conn = self.connection()?;
        let res = match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Error::from(e)),
            Err(_) => Err(Error::Timeout { op, ms: self.timeout.as_millis() as u64 }),
        };
        match &res {
            Ok(_) => self.breaker.success(),
            Err(e) if e.is_connectivity() => self.breaker.failure(),
            Err(_) if probe => self.breaker.release_probe(),
            Err(_) => {}
        }
        res
    }

    pub async fn get(&self, key: &str, stats: &Stats) -> Result<Option<Vec<u8>>> {
        let epoch_key = self.keys.epoch.as_str();
        let (raw, epoch): (Option<Vec<u8>>, Option<i64>) = self
            .run("get", |mut c| async move {
                redis::pipe().get(key).get(epoch_key).query_async(&mut c).await
            })
            .await?;
        let epoch = epoch.unwrap_or(0);
        if epoch != self.mirror().epoch {
            self.sync(stats).await?;
        }
        Ok(raw)
    }

    /// Brings the mirror up to date with the store.
    async fn sync(&self, stats: &Stats) -> Result<()> {
        let from = self.mirror().epoch.max(0);
        let keys = &self.keys;
        let out: Vec<String> = self
            .run("sync", |mut c| async move {
                SYNC.key(&keys.stale)
                    .key(&keys.expired)
                    .key(&keys.log)
                    .key(&keys.epoch)
                    .arg(from)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        bump(&stats.manifest_syncs);
        let bad = || Error::Redis("malformed manifest sync reply".into());
        let num = |s: &String| s.parse::<i64>().map_err(|_| bad());
        let (epoch, used_from) = match out.as_slice() {
            [e, f, ..] => (num(e)?, num(f)?),
            _ => return Err(bad()),
        };
        let stamp = |s: &str| if s.is_empty() { None } else { s.parse::<f64>().ok() };
        let mut m = self.mirror();
        let reset = used_from == 0 && from > 0;
        if epoch <= m.epoch && !reset {
            return Ok(()); // a concurrent sync got here first
        }
        for chunk in out[2..].chunks_exact(3) {
            let mut s = TagStamps { stale: stamp(&chunk[1]), expired: stamp(&chunk[2]) };
            if reset {
                // The store lost history (flush, restart, failover to an older copy): keep
                // whichever stamps invalidate more, so nothing older than a known
                // revalidation is ever served as fresh.
                if let Some(old) = m.manifest.get(&chunk[0]) {
                    s = s.union(old);
                }
            }
            m.manifest.insert(chunk[0].clone(), s);
        }
        m.epoch = epoch;
        Ok(())
    }

    pub async fn put(&self, key: &str, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> Result<()> {
        self.run("set", |mut c| async move {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(envelope).arg("PX").arg(ttl_ms);
            if if_absent {
                cmd.arg("NX");
            }
            // NX answers nil when the key exists: that is success too.
            cmd.query_async::<Option<()>>(&mut c).await.map(drop)
        })
        .await
    }

    pub async fn revalidate(&self, tags: &[String], now: f64, durations: Option<Durations>) -> Result<()> {
        // Local first: the process that took the webhook serves fresh content at once.
        self.mirror().manifest.revalidate(tags, now, durations);
        let (mode, expired_at) = match durations {
            None => ("x", String::new()),
            Some(d) => ("s", d.expire.map(|e| (now + e * 1000.0).to_string()).unwrap_or_default()),
        };
        let keys = &self.keys;
        let epoch: i64 = self
            .run("revalidate", |mut c| async move {
                let mut inv = REVALIDATE.key(&keys.stale);
                inv.key(&keys.expired).key(&keys.log).key(&keys.epoch).arg(now.to_string()).arg(mode).arg(expired_at).arg(epoch_base(now));
                for t in tags {
                    inv.arg(t);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        let mut m = self.mirror();
        if m.epoch == epoch - 1 {
            // Nobody else wrote in between: the mirror already holds exactly this state.
            m.epoch = epoch;
        }
        Ok(())
    }

    /// One `GET epoch`, and a sync when it moved.
    pub async fn refresh(&self, stats: &Stats) -> Result<()> {
        let epoch_key = self.keys.epoch.as_str();
        let epoch: Option<i64> = self
            .run("refresh", |mut c| async move { redis::cmd("GET").arg(epoch_key).query_async(&mut c).await })
            .await?;
        if epoch.unwrap_or(0) != self.mirror().epoch {
            self.sync(stats).await?;
        }
        Ok(())
    }

    pub fn expiration(&self, tags: &[String], now: f64) -> f64 {
        self.mirror().manifest.expiration(tags.iter().map(String::as_str), now)
    }

    pub fn judge<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> Freshness {
        self.mirror().manifest.judge(tags, last_modified, now)
    }

    pub fn fill_stats(&self, s: &mut StatsSnapshot) {
        s.manifest_tags = self.mirror().manifest.len() as u64;
        s.redis_failures = self.breaker.failures() as u64;
        s.circuit_open = self.breaker.is_open();
    }

    pub fn close(&self) {
        let mut reg = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|(url, _), _| url != &self.registry_key);
    }
}
