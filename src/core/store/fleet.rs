//! The fleet: every process sharing a store registers itself with a heartbeat, so that an
//! operator can see which instances are alive, which builds they serve and how they are doing.
//!
//! In Redis, next to the manifest (the `{P}` hash slot, so the scripts run on a Cluster):
//! - `P{P}:fleet`: sorted set, instance id scored by its last heartbeat (Redis's clock, ms);
//! - `P{P}:i:<id>`: string, the instance's summary (JSON written by JS), expiring with the
//!   heartbeat's TTL.
//!
//! A heartbeat is one script: it writes the summary, scores the id and drops ids whose
//! heartbeat is older than the TTL, so the set holds the live instances and a few dead ones,
//! never the history. Listing reads at most `limit` live ids (a script), then their summaries
//! (`MGET`). Nothing here
//! is on the request path: JS sends a heartbeat every few seconds from a timer.

use redis::Script;
use std::sync::LazyLock;

/// Redis's clock in ms, so that instances with skewed clocks still agree on who is alive.
const NOW: &str = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: fleet, instance key. ARGV: id, summary, ttl ms. Returns Redis's time (ms).
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}local ttl = tonumber(ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
return now"
    ))
});

/// KEYS: fleet. ARGV: ttl ms, limit. Returns Redis's time (ms), then the ids of the instances
/// heard from within the TTL (newest first). Their summaries are read by the caller with one
/// `MGET` (`summaries`): a script may touch only the keys it is given (ElastiCache Serverless
/// refuses any other), and it cannot know the ids before it has read them.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(ids, 1, tostring(now))
return ids"
    ))
});

/// KEYS: fleet, instance key. ARGV: id. An instance leaving (closed, exiting).
static LEAVE: LazyLock<Script> = LazyLock::new(|| Script::new("redis.call('DEL', KEYS[2]) redis.call('ZREM', KEYS[1], ARGV[1]) return 1"));

/// The fleet's keys for a store whose manifest keys start with `slot` (`P{P}:`).
pub struct FleetKeys {
    pub index: String,
    pub instance_prefix: String,
}

/// Instance ids are made by JS (host, pid, random); bounded so a key never grows with them.
pub const MAX_ID_BYTES: usize = 200;
/// A summary is a small JSON object; bounded so one instance cannot fill Redis.
pub const MAX_SUMMARY_BYTES: usize = 16 * 1024;

impl FleetKeys {
    pub fn new(slot: &str) -> Self {
        FleetKeys { index: format!("{slot}fleet"), instance_prefix: format!("{slot}i:") }
    }

    pub fn heartbeat(&self, id: &str, summary: &str, ttl_ms: u64) -> redis::ScriptInvocation<'static> {
        let mut inv = HEARTBEAT.prepare_invoke();
        inv.key(&self.index).key(format!("{}{id}", self.instance_prefix)).arg(id).arg(summary).arg(ttl_ms);
        inv
    }

    pub fn list(&self, ttl_ms: u64, limit: usize) -> redis::ScriptInvocation<'static> {
        let mut inv = LIST.prepare_invoke();
        inv.key(&self.index).arg(ttl_ms).arg(limit);
        inv
    }

    /// `MGET` of the summaries of `ids` (all in the manifest's slot: one node, one command).
    pub fn summaries(&self, ids: &[String]) -> redis::Cmd {
        let mut cmd = redis::cmd("MGET");
        for id in ids {
            cmd.arg(format!("{}{id}", self.instance_prefix));
        }
        cmd
    }

    pub fn leave(&self, id: &str) -> redis::ScriptInvocation<'static> {
        let mut inv = LEAVE.prepare_invoke();
        inv.key(&self.index).key(format!("{}{id}", self.instance_prefix)).arg(id);
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_keys_share_the_manifest_slot() {
        let manifest = crate::core::store::manifest::Keys::new("app:");
        for key in [&manifest.stale, &manifest.expired, &manifest.log, &manifest.epoch, &manifest.born] {
            assert!(key.starts_with(manifest.slot()), "{key}");
        }
        let k = FleetKeys::new(manifest.slot());
        assert_eq!(k.index, "app:{app:}:fleet");
        assert_eq!(k.instance_prefix, "app:{app:}:i:");
        // The same hash tag: the same Cluster slot as the manifest keys.
        let tag = |k: &str| k[k.find('{').unwrap() + 1..k.find('}').unwrap()].to_owned();
        assert_eq!(tag(&k.index), "app:");
        assert_eq!(tag(&format!("{}x", k.instance_prefix)), "app:");
    }
}
