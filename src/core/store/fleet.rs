//! The fleet: every process sharing a store registers itself with a heartbeat, so that an
//! operator can see which instances are alive, which builds they serve and how they are doing.
//!
//! In Redis, next to the manifest (the `{P}` hash slot, so the scripts run on a Cluster):
//! - `P{P}:i:<id>`: string, the instance's summary (JSON written by JS), expiring with the
//!   instance's own TTL. An instance is alive exactly while its summary exists.
//! - `P{P}:fleet`: sorted set, how the summaries are found: instance id scored by the deadline
//!   its summary expires at (Redis's clock at its last heartbeat plus its TTL, ms).
//!
//! Liveness is each instance's own: whoever prunes the index drops only ids whose summary is
//! gone, so instances with different periods never hide each other. A score no TTL can give
//! (further than `HORIZON_MS` ahead) is garbage: never listed, pruned by the next heartbeats.
//!
//! Mixed versions: versions before this scheme scored an id by its last heartbeat (a time in
//! the past, its summary expiring 3 periods later) and pruned ids older than their own TTL.
//! Their ids are listed while their summary lives, as before (the listing also reads the past
//! `HORIZON_MS`); their pruning never touches ours (our scores lie ahead of their cut-off); the
//! old listing (`score >= now - 1 h`, newest first) sees ours too.
//!
//! Nothing here is on the request path: JS sends a heartbeat every few seconds from a timer.

use crate::core::config::MAX_HEARTBEAT_SECS;
use redis::Script;
use std::sync::LazyLock;

/// An instance counts as alive for this many heartbeat periods after its last one.
pub const TTL_PERIODS: u64 = 3;
/// Bounds of an instance's TTL: at least 1 s, at most 3 periods of the longest period allowed.
pub const MIN_TTL_MS: u64 = 1000;
pub const MAX_TTL_MS: u64 = TTL_PERIODS * MAX_HEARTBEAT_SECS as u64 * 1000;
/// How far from now a score can lie, plus a minute for a promoted replica's clock being behind.
pub const HORIZON_MS: u64 = MAX_TTL_MS + 60_000;
/// Index entries a heartbeat examines for pruning: its cost is bounded, whatever the index holds.
const PRUNE_BATCH: usize = 64;

/// How long an instance beating every `period_ms` stays alive after a heartbeat.
pub fn ttl_ms(period_ms: u64) -> u64 {
    period_ms.saturating_mul(TTL_PERIODS).clamp(MIN_TTL_MS, MAX_TTL_MS)
}

/// Redis's clock in ms, so that instances with skewed clocks still agree on who is alive.
const NOW: &str = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: fleet, instance key, then the summary keys of `candidates` (pruning candidates the
/// caller read from the index: a script may touch only the keys it is given). ARGV: id,
/// summary, ttl ms, horizon ms, prune batch, then the candidates' ids. Returns Redis's time (ms).
///
/// A summary of `''` marks an instance that left: a heartbeat landing after its leave (sent
/// before it) must not register it again. A candidate is dropped when its score is past and
/// its summary gone, or its score lies further back than any TTL.
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}if redis.call('GET', KEYS[2]) == '' then return now end
local ttl, horizon, batch = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local junk = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', string.format('(%.0f', now + horizon), 'LIMIT', 0, batch)
if #junk > 0 then redis.call('ZREM', KEYS[1], unpack(junk)) end
for i = 6, #ARGV do
  local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i]) or '')
  if score and score < now and (score < now - horizon or redis.call('EXISTS', KEYS[i - 3]) == 0) then
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return now"
    ))
});

/// KEYS: fleet. ARGV: horizon ms, limit. Returns Redis's time (ms), `1` when every id that
/// could be alive was examined (`0`: cut at `limit`), then the ids. Their summaries are read by
/// the caller with one `MGET` (`summaries`): a script may touch only the keys it is given
/// (ElastiCache Serverless refuses any other), and it cannot know the ids before it read them.
///
/// Order, so that real instances win when the cut applies: deadlines ahead, soonest first (an
/// instance's is a few periods away; anything parked far ahead comes last), then scores in the
/// past, newest first (older versions' last heartbeats).
static LIST: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}local horizon, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', now), string.format('%.0f', now + horizon), 'LIMIT', 0, limit + 1)
if #ids <= limit then
  local past = redis.call('ZREVRANGEBYSCORE', KEYS[1], string.format('(%.0f', now), string.format('%.0f', now - horizon), 'LIMIT', 0, limit + 1 - #ids)
  for _, id in ipairs(past) do ids[#ids + 1] = id end
end
local out = {{tostring(now), #ids > limit and '0' or '1'}}
for i = 1, math.min(#ids, limit) do out[#out + 1] = ids[i] end
return out"
    ))
});

/// KEYS: fleet, instance key. ARGV: id, ttl ms, `1` when a heartbeat may still land. An
/// instance leaving (closed, exiting): gone from the listing at once. Its summary is deleted, or,
/// when a heartbeat may still land, replaced by the `''` mark for as long as it would have lived.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if ARGV[3] == '1' then redis.call('SET', KEYS[2], '', 'PX', tonumber(ARGV[2])) else redis.call('DEL', KEYS[2]) end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1",
    )
});

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

    /// The index entries a heartbeat examines for pruning: the lowest scores (the longest
    /// silent), `PRUNE_BATCH` of them, whatever the index holds.
    pub fn prune_candidates(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(&self.index).arg(0).arg(PRUNE_BATCH - 1);
        cmd
    }

    pub fn heartbeat(&self, id: &str, summary: &str, period_ms: u64, candidates: &[String]) -> redis::ScriptInvocation<'static> {
        let mut inv = HEARTBEAT.prepare_invoke();
        inv.key(&self.index).key(format!("{}{id}", self.instance_prefix));
        for c in candidates {
            inv.key(format!("{}{c}", self.instance_prefix));
        }
        inv.arg(id).arg(summary).arg(ttl_ms(period_ms)).arg(HORIZON_MS).arg(PRUNE_BATCH);
        for c in candidates {
            inv.arg(c);
        }
        inv
    }

    pub fn list(&self, limit: usize) -> redis::ScriptInvocation<'static> {
        let mut inv = LIST.prepare_invoke();
        inv.key(&self.index).arg(HORIZON_MS).arg(limit.max(1));
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

    pub fn leave(&self, id: &str, period_ms: u64, beat_in_flight: bool) -> redis::ScriptInvocation<'static> {
        let mut inv = LEAVE.prepare_invoke();
        inv.key(&self.index).key(format!("{}{id}", self.instance_prefix));
        inv.arg(id).arg(ttl_ms(period_ms)).arg(if beat_in_flight { "1" } else { "0" });
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_keys_share_the_manifest_slot() {
        let k = FleetKeys::new("app:{app:}:");
        assert_eq!(k.index, "app:{app:}:fleet");
        assert_eq!(k.instance_prefix, "app:{app:}:i:");
        // The same hash tag: the same Cluster slot as the manifest keys.
        let tag = |k: &str| k[k.find('{').unwrap() + 1..k.find('}').unwrap()].to_owned();
        assert_eq!(tag(&k.index), "app:");
        assert_eq!(tag(&format!("{}x", k.instance_prefix)), "app:");
    }

    #[test]
    fn an_instance_lives_three_periods_within_bounds() {
        assert_eq!(ttl_ms(5000), 15_000);
        assert_eq!(ttl_ms(100), MIN_TTL_MS);
        assert_eq!(ttl_ms(MAX_HEARTBEAT_SECS as u64 * 1000), MAX_TTL_MS);
        assert_eq!(ttl_ms(u64::MAX), MAX_TTL_MS);
    }
}
