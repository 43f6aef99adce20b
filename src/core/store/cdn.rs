//! The CDN purge feed: what the CDN in front of the instances must drop, delivered once per
//! change for the whole fleet, and never lost while any instance lives.
//!
//! Tags need no queue of their own: the manifest's change log (`P{P}:log`) already scores every
//! revalidated tag by the epoch of its last change, revalidations recorded late included. The
//! feed keeps a cursor (the epoch delivered up to) and hands out the tags above it. Entry writes
//! (a page regenerated after a stale-while-revalidate hit, `res.revalidate`) enqueue their path
//! tag in a sorted set, deduplicated by member. In Redis, next to the manifest (the `{P}` slot,
//! so the scripts see the log):
//! - `P{P}:cdn:cursor`: string, the epoch whose tags were delivered;
//! - `P{P}:cdn:paths`: sorted set, path tag scored by when it was last enqueued (Redis's ms);
//! - `P{P}:cdn:lock`: string, the instance delivering now (expires: a killed one is replaced);
//! - `P{P}:cdn:all`: string, set when the backlog outgrew its bound: purge everything once.
//!
//! One instance at a time takes a batch (`TAKE`), purges it, then confirms (`DONE`), which moves
//! the cursor and removes the delivered paths unless they were enqueued again meanwhile. A
//! deliverer that dies between the two leaves the lock to expire and the batch to the next one:
//! at least once, never lost. Each call's work is bounded by its batch; the backlog is counted
//! with `ZCOUNT`/`ZCARD` (logarithmic), never scanned.

use redis::Script;
use std::sync::LazyLock;

const NOW: &str = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: log, epoch, cursor, paths, lock, all. ARGV: owner, lock ms, limit, max backlog.
/// Returns `busy`; or `all, <epoch>, <now>`; or `ok, <cursor to confirm>, <n tags>, <owed in
/// all>, tags..., (path, score)...`. Scores and epochs stay strings: a Lua number prints 1.7e15 as `1.7e+15`.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}local holder = redis.call('GET', KEYS[5])
if holder and holder ~= ARGV[1] then return {{'busy'}} end
redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('GET', KEYS[2]) or '0'
local cursor = redis.call('GET', KEYS[3])
if not cursor then
  -- The first deliverer of this store owes the CDN what changed in the last minute, not the
  -- whole history: a revalidation that created the feed (the first call of a new instance)
  -- is still delivered. Epochs are at least the time of their change in ms * 1000.
  cursor = string.format('%.0f', math.min(tonumber(epoch), (now - 60000) * 1000))
  redis.call('SET', KEYS[3], cursor)
end
local limit = tonumber(ARGV[3])
local backlog = redis.call('ZCOUNT', KEYS[1], '(' .. cursor, '+inf') + redis.call('ZCARD', KEYS[4])
if backlog == 0 and redis.call('EXISTS', KEYS[6]) == 0 and tonumber(epoch) >= tonumber(cursor) then
  -- Nothing owed (the common case of every poll): no batch to confirm, so no lock kept.
  redis.call('DEL', KEYS[5])
  return {{'ok', cursor, 0, 0}}
end
-- An epoch below the cursor: the manifest was lost or replaced, and with it what changed.
if redis.call('EXISTS', KEYS[6]) == 1 or tonumber(epoch) < tonumber(cursor) or backlog > tonumber(ARGV[4]) then
  return {{'all', epoch, tostring(now)}}
end
local got = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
local upto = epoch
if #got / 2 >= limit then
  -- A full batch may cut one revalidation's tags (they share its epoch): confirm only up to
  -- the last epoch it holds whole; the rest comes again with the next batch.
  local last = got[#got]
  upto = last
  for i = #got - 2, 2, -2 do
    if got[i] ~= last then upto = got[i] break end
  end
end
local out = {{'ok', upto, 0, backlog}}
local n = 0
for i = 1, #got, 2 do
  if got[i] ~= '' then out[#out + 1] = got[i] n = n + 1 end
end
out[3] = n
local paths = redis.call('ZRANGE', KEYS[4], 0, limit - 1, 'WITHSCORES')
for i = 1, #paths do out[#out + 1] = paths[i] end
return out"
    ))
});

/// KEYS: cursor, paths, lock, all. ARGV: owner, cursor, all (`1`: everything was purged, up to
/// the time in ARGV[4]), then (path, score) pairs. 0 when `owner` no longer holds the lock (the
/// batch comes again: delivered twice, never lost).
static DONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local cur = redis.call('GET', KEYS[1])
if not cur or tonumber(ARGV[2]) > tonumber(cur) or ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[2]) end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
end
for i = 5, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) == ARGV[i + 1] then redis.call('ZREM', KEYS[2], ARGV[i]) end
end
redis.call('DEL', KEYS[3])
return 1",
    )
});

/// KEYS: paths, all. ARGV: max backlog, path tags... 1 when queued; 0 when the queue is full,
/// in which case the next batch purges everything instead.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW}if redis.call('ZCARD', KEYS[1]) + #ARGV - 1 > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], tostring(now))
  return 0
end
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
return 1"
    ))
});

/// KEYS: log, epoch, cursor, paths, all. Returns the backlog (tags above the cursor plus paths)
/// and whether a purge of everything is due: for status and metrics, bounded like `TAKE`.
static PENDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local cursor = redis.call('GET', KEYS[3]) or redis.call('GET', KEYS[2]) or '0'
return {redis.call('ZCOUNT', KEYS[1], '(' .. cursor, '+inf') + redis.call('ZCARD', KEYS[4]), redis.call('EXISTS', KEYS[5])}",
    )
});

/// What a deliverer got from `take`.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Another instance is delivering.
    Busy,
    /// Purge everything (the backlog outgrew its bound, or the manifest was lost); confirm
    /// with the epoch and time given.
    All { epoch: String, now: String },
    /// Purge these tags and paths, then confirm with `cursor` and the paths' scores. `backlog`:
    /// how many were owed in all when it was taken (this batch included).
    Some { cursor: String, tags: Vec<String>, paths: Vec<(String, String)>, backlog: u64 },
}

impl Batch {
    /// Reads `TAKE`'s reply.
    pub fn parse(mut reply: Vec<String>) -> Option<Batch> {
        match reply.first().map(String::as_str)? {
            "busy" => Some(Batch::Busy),
            "all" if reply.len() == 3 => {
                let now = reply.pop()?;
                let epoch = reply.pop()?;
                Some(Batch::All { epoch, now })
            }
            "ok" if reply.len() >= 4 => {
                let n: usize = reply[2].parse().ok()?;
                let backlog: u64 = reply[3].parse().ok()?;
                let rest = reply.split_off(4);
                if rest.len() < n || !(rest.len() - n).is_multiple_of(2) {
                    return None;
                }
                let cursor = reply.swap_remove(1);
                let mut it = rest.into_iter();
                let tags = it.by_ref().take(n).collect();
                let mut paths = Vec::new();
                while let (Some(p), Some(s)) = (it.next(), it.next()) {
                    paths.push((p, s));
                }
                Some(Batch::Some { cursor, tags, paths, backlog })
            }
            _ => None,
        }
    }
}

/// The feed's keys for a store whose manifest keys start with `slot` (`P{P}:`).
pub struct CdnKeys {
    cursor: String,
    paths: String,
    lock: String,
    all: String,
}

impl CdnKeys {
    pub fn new(slot: &str) -> Self {
        let k = |name: &str| format!("{slot}cdn:{name}");
        CdnKeys { cursor: k("cursor"), paths: k("paths"), lock: k("lock"), all: k("all") }
    }

    pub fn take(
        &self,
        log: &str,
        epoch: &str,
        owner: &str,
        lock_ms: u64,
        limit: usize,
        max_backlog: usize,
    ) -> redis::ScriptInvocation<'static> {
        let mut inv = TAKE.prepare_invoke();
        inv.key(log).key(epoch).key(&self.cursor).key(&self.paths).key(&self.lock).key(&self.all);
        inv.arg(owner).arg(lock_ms).arg(limit.max(100)).arg(max_backlog);
        inv
    }

    /// `all`: the time (Redis's ms) up to which enqueued paths were covered by a full purge.
    pub fn done(&self, owner: &str, cursor: &str, all: Option<&str>, paths: &[(String, String)]) -> redis::ScriptInvocation<'static> {
        let mut inv = DONE.prepare_invoke();
        inv.key(&self.cursor).key(&self.paths).key(&self.lock).key(&self.all);
        inv.arg(owner).arg(cursor).arg(if all.is_some() { "1" } else { "0" }).arg(all.unwrap_or("0"));
        for (p, s) in paths {
            inv.arg(p).arg(s);
        }
        inv
    }

    pub fn enqueue(&self, paths: &[String], max_backlog: usize) -> redis::ScriptInvocation<'static> {
        let mut inv = ENQUEUE.prepare_invoke();
        inv.key(&self.paths).key(&self.all).arg(max_backlog);
        for p in paths {
            inv.arg(p);
        }
        inv
    }

    pub fn pending(&self, log: &str, epoch: &str) -> redis::ScriptInvocation<'static> {
        let mut inv = PENDING.prepare_invoke();
        inv.key(log).key(epoch).key(&self.cursor).key(&self.paths).key(&self.all);
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn cdn_keys_share_the_manifest_slot() {
        let k = CdnKeys::new("app:{app:}:");
        for key in [&k.cursor, &k.paths, &k.lock, &k.all] {
            assert!(key.starts_with("app:{app:}:cdn:"), "{key}");
        }
    }

    #[test]
    fn batches_parse_and_bad_replies_are_refused() {
        assert_eq!(Batch::parse(s(&["busy"])), Some(Batch::Busy));
        assert_eq!(Batch::parse(s(&["all", "17", "99"])), Some(Batch::All { epoch: "17".into(), now: "99".into() }));
        assert_eq!(
            Batch::parse(s(&["ok", "12", "2", "7", "a", "b", "_N_T_/x", "5"])),
            Some(Batch::Some { cursor: "12".into(), tags: s(&["a", "b"]), paths: vec![("_N_T_/x".into(), "5".into())], backlog: 7 })
        );
        assert_eq!(
            Batch::parse(s(&["ok", "12", "0", "0"])),
            Some(Batch::Some { cursor: "12".into(), tags: vec![], paths: vec![], backlog: 0 })
        );
        for bad in [
            &["ok", "12", "3", "3", "a"][..],
            &["ok", "12", "1", "1", "a", "p"],
            &["ok", "12", "x", "0"],
            &["ok", "12", "0"],
            &["what"],
            &[],
        ] {
            assert_eq!(Batch::parse(s(bad)), None, "{bad:?}");
        }
    }
}
