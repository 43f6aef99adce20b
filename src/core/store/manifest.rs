//! The tag manifest in Redis and this process's view of it.
//!
//! In Redis (all in the `{prefix}` hash slot, so the scripts run on a Cluster):
//! - `stale`, `expired`: hashes tag -> ms (Next 16 profiles set `stale`; a plain revalidation
//!   and a profile's deadline set `expired`);
//! - `deadlines`: hash tag -> `<at>:<deadline>` for a tag whose `expired` stamp is a profile's
//!   deadline: when the revalidation that set it was made, so a revalidation recorded late
//!   knows whether it came before or after (see `revalidate.lua`); not one of the five below;
//! - `log`: sorted set tag -> epoch of its last change: the change log, and the order in which
//!   stamps are pruned;
//! - `epoch`: change counter, created at `now_ms * 1000` so it moves forward past any earlier
//!   store's; `born`: the store's era (see below).
//!
//! A process never loads the whole manifest. It looks up the stamps of the tags it judges
//! (once; then cached, bounded by bytes) and keeps them current with the change log: when the
//! epoch moved, one bounded script returns the tags changed since its epoch. A process too far
//! behind (a new one, or one that missed more than `SYNC_BATCH` changes) drops its cache and
//! starts from the current epoch instead of replaying history. No call does work proportional to
//! the number of tags ever revalidated.
//!
//! Pruning: each revalidation examines a few of the least recently changed tags and deletes
//! those whose stamps are all older than the retention (the longest an entry is served).
//! Judging expires every entry older than the retention, so a pruned stamp could only have
//! invalidated entries that are expired anyway; a process that still caches it judges the same.
//!
//! Loss: the five keys are created together and never emptied (each holds a sentinel: field or
//! member `''`, which no tag can be; the log's sentinel scores the oldest epoch it is complete
//! from). Fewer than five means some were lost (evicted under `maxmemory` with an `allkeys-*`
//! policy, deleted by hand): the next script starts a new era, `born = l:<now>:<epoch>`, and
//! every process expires entries written before `<now>`, since they may have lost the stamps
//! that invalidate them. None of the five is a new or wiped store (`born = c:...` once
//! recreated): its entries went with it.

use crate::core::tag_cache::TagCache;
use crate::core::tags::{Durations, Freshness, TagStamps};
use redis::Script;
use std::sync::LazyLock;

/// Changes a process can catch up on with one sync; further behind, it starts over.
pub const SYNC_BATCH: usize = 1_000;
/// Tags per lookup script call, and per revalidation script call: each call holds Redis for
/// about a millisecond, whatever the size of the request.
pub const LOOKUP_BATCH: usize = 200;
pub const REVALIDATE_BATCH: usize = 50;
/// Oldest changes the pruning examines per tag recorded (at least `PRUNE_MIN` per call): more
/// than one, so it keeps pace with growth.
const PRUNE_PER_TAG: usize = 2;
const PRUNE_MIN: usize = 32;

// The scripts are in `manifest/*.lua`; every one gets KEYS 1..5: stale, expired, log, epoch,
// born (REVALIDATE also `deadlines`). `era.lua` (healing a partial loss) is prepended to the two
// that may need it.

/// ARGV: at (the revalidation's time), mode (`x` expire now, `s` stale now), expired_at (`s`
/// only; '' for none), epoch base, prune cutoff (ms), prune budget, now (the clock when
/// recording: later than `at` when recorded from the outbox), tags... Returns the epoch before
/// and after (at least `at * 1000`: it tells when the change was recorded). The stamps it
/// leaves do not depend on the order revalidations are recorded in (the invariant is written
/// in the script).
static REVALIDATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("manifest/era.lua"), include_str!("manifest/revalidate.lua"))));

/// ARGV: from (the caller's epoch), batch, now, epoch base. Returns `epoch, born, status,
/// tag*`; status `ok` (the tags changed after `from`, all of them) or `behind` (more than a
/// batch, not in the log, or a store behind `from`: start over). Names only: the caller forgets
/// those it caches and looks them up again when it needs them.
static SYNC: LazyLock<Script> = LazyLock::new(|| Script::new(concat!(include_str!("manifest/era.lua"), include_str!("manifest/sync.lua"))));

/// ARGV: tags (at most `LOOKUP_BATCH`). Returns `epoch, born, status, (stale, expired)*` in the order of the tags;
/// status `heal` (and nothing else) when the manifest lost a key: sync first.
static LOOKUP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("manifest/lookup.lua")));

/// Manifest keys share one hash slot (the `{prefix}` tag) so scripts work on Redis Cluster.
pub struct Keys {
    pub stale: String,
    pub expired: String,
    pub log: String,
    pub epoch: String,
    pub born: String,
    pub deadlines: String,
    slot: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        let slot = format!("{prefix}{{{prefix}}}:");
        let k = |name: &str| format!("{slot}{name}");
        Keys {
            stale: k("stale"),
            expired: k("expired"),
            log: k("log"),
            epoch: k("epoch"),
            born: k("born"),
            deadlines: k("deadlines"),
            slot,
        }
    }

    /// `P{P}:`, the beginning of every manifest key: other keys that must share their slot
    /// (the fleet's, the CDN feed's) start with it.
    pub fn slot(&self) -> &str {
        &self.slot
    }

    fn invocation<'a>(&self, script: &'a Script) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        inv.key(&self.stale).key(&self.expired).key(&self.log).key(&self.epoch).key(&self.born);
        inv
    }

    /// A revalidation made at `at`, recorded at `now` (the clock; later than `at` when it comes
    /// from the outbox).
    pub fn revalidate(
        &self,
        tags: &[String],
        at: f64,
        durations: Option<Durations>,
        retention_ms: f64,
        now: f64,
    ) -> redis::ScriptInvocation<'static> {
        let (mode, expired_at) = match durations {
            None => ("x", String::new()),
            Some(d) => ("s", d.expire.map(|e| (at + e * 1000.0).to_string()).unwrap_or_default()),
        };
        let mut inv = self.invocation(&REVALIDATE);
        inv.key(&self.deadlines);
        inv.arg(at.to_string())
            .arg(mode)
            .arg(expired_at)
            .arg(epoch_base(at))
            .arg((at - retention_ms).to_string())
            .arg((tags.len() * PRUNE_PER_TAG).max(PRUNE_MIN))
            .arg(now.to_string());
        for t in tags {
            inv.arg(t);
        }
        inv
    }

    pub fn sync(&self, from: i64, now: f64) -> redis::ScriptInvocation<'static> {
        let mut inv = self.invocation(&SYNC);
        inv.arg(from).arg(SYNC_BATCH).arg(now.to_string()).arg(epoch_base(now));
        inv
    }

    pub fn lookup(&self, tags: &[String]) -> redis::ScriptInvocation<'static> {
        let mut inv = self.invocation(&LOOKUP);
        for t in tags {
            inv.arg(t);
        }
        inv
    }
}

fn epoch_base(now_ms: f64) -> i64 {
    (now_ms.floor() as i64).saturating_mul(1000)
}

fn malformed() -> crate::core::Error {
    crate::core::Error::Redis("malformed manifest reply".into())
}

fn stamp(s: &str) -> Option<f64> {
    if s.is_empty() { None } else { s.parse::<f64>().ok() }
}

/// When the store lost manifest data, from its era (`l:<ms>:<epoch>`); 0 when it did not.
fn lost_at(born: &str) -> f64 {
    match born.split(':').collect::<Vec<_>>().as_slice() {
        ["l", ms, _] => ms.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The head shared by sync and lookup replies: epoch, born, status.
fn head(out: &[String]) -> crate::core::Result<(i64, &str, &str)> {
    match out {
        [e, b, s, ..] => Ok((e.parse::<i64>().map_err(|_| malformed())?, b.as_str(), s.as_str())),
        _ => Err(malformed()),
    }
}

#[derive(Debug, PartialEq)]
pub enum Applied {
    /// A concurrent sync got there first.
    Current,
    /// Brought up to date; `reset`: the store lost data since this process last looked.
    Synced { reset: bool },
}

/// What this process knows of the manifest.
pub struct Mirror {
    /// Epoch of the store that the cache is current with; -1 before the first sync.
    pub epoch: i64,
    /// The store's era as last seen ("" before the first sync, or while the store is empty).
    pub born: String,
    /// Entries written before this may have lost their stamps (ms; 0 when the era had no loss).
    pub lost_at: f64,
    pub cache: TagCache,
}

impl Mirror {
    pub fn new(cache_bytes: usize) -> Self {
        Mirror { epoch: -1, born: String::new(), lost_at: 0.0, cache: TagCache::new(cache_bytes) }
    }

    /// Applies a sync reply asked `from` this epoch.
    pub fn apply_sync(&mut self, from: i64, out: &[String]) -> crate::core::Result<Applied> {
        let (epoch, born, status) = head(out)?;
        let behind = match status {
            "ok" => false,
            "behind" => true,
            _ => return Err(malformed()),
        };
        // Lost data shows as a new era, or as a store behind what we had seen.
        let reset = (!self.born.is_empty() && self.born != born) || (behind && epoch < from);
        if !reset && !behind && epoch <= self.epoch {
            return Ok(Applied::Current);
        }
        if reset || behind {
            self.cache.clear();
            self.epoch = epoch;
        } else {
            for t in &out[3..] {
                self.cache.forget(t, epoch);
            }
            self.epoch = self.epoch.max(epoch);
        }
        self.born = born.to_owned();
        self.lost_at = lost_at(born);
        Ok(Applied::Synced { reset })
    }

    /// Applies a lookup of `tags`; returns their stamps, or `None` when the manifest must be
    /// healed (synced) first. Cached only when read at an epoch this view has reached: an older
    /// reply may miss changes the cache skipped while the tag was not in it.
    pub fn apply_lookup(&mut self, tags: &[String], out: &[String]) -> crate::core::Result<Option<Vec<TagStamps>>> {
        let (epoch, born, status) = head(out)?;
        match status {
            "heal" => return Ok(None),
            "ok" if out.len() == 3 + 2 * tags.len() => {}
            _ => return Err(malformed()),
        }
        let stamps: Vec<TagStamps> = out[3..].chunks_exact(2).map(|c| TagStamps { stale: stamp(&c[0]), expired: stamp(&c[1]) }).collect();
        if epoch >= self.epoch && born == self.born {
            for (t, s) in tags.iter().zip(&stamps) {
                self.cache.put(t, *s, epoch, true);
            }
        }
        Ok(Some(stamps))
    }

    /// The stamps of `tags`: a lookup's answer (`extra`) first, then the cache; a tag known to
    /// neither counts as unstamped (the store could not be asked).
    pub fn stamps_with(&self, tags: &[&str], extra: &[(String, TagStamps)]) -> Vec<TagStamps> {
        tags.iter()
            .map(|t| extra.iter().find(|(e, _)| e == t).map(|(_, s)| *s).or_else(|| self.cache.peek(t)).unwrap_or_default())
            .collect()
    }

    /// Judges with [`Mirror::stamps_with`].
    pub fn judge_with(&self, tags: &[&str], extra: &[(String, TagStamps)], last_modified: f64, now: f64) -> (Freshness, f64) {
        let stamps = self.stamps_with(tags, extra);
        (
            crate::core::tags::judge_stamps(stamps.iter().copied(), last_modified, now),
            crate::core::tags::next_change(stamps, last_modified, now),
        )
    }

    /// A revalidation made here: applied at once, so this process serves fresh content
    /// before the store has it.
    pub fn revalidate_locally(&mut self, tags: &[String], now: f64, durations: Option<Durations>) {
        for t in tags {
            let next = self.cache.peek(t).unwrap_or_default().revalidated(now, durations);
            self.cache.put(t, next, self.epoch, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn mirror_at(epoch: i64, born: &str) -> Mirror {
        let mut m = Mirror::new(1 << 20);
        m.apply_sync(-1, &reply(&[&epoch.to_string(), born, "behind"])).unwrap();
        m
    }

    #[test]
    fn a_new_process_starts_at_the_current_epoch_without_replaying_history() {
        let m = mirror_at(5_000, "c:1:4000");
        assert_eq!((m.epoch, m.cache.len(), m.lost_at), (5_000, 0, 0.0));
    }

    #[test]
    fn changes_drop_cached_tags_read_before_them() {
        let mut m = mirror_at(10, "c:1:1");
        m.apply_lookup(&["a".into()], &reply(&["10", "c:1:1", "ok", "", ""])).unwrap();
        m.apply_lookup(&["c".into()], &reply(&["13", "c:1:1", "ok", "", ""])).unwrap();
        let out = reply(&["12", "c:1:1", "ok", "a", "b", "c"]);
        assert_eq!(m.apply_sync(10, &out).unwrap(), Applied::Synced { reset: false });
        assert_eq!(m.epoch, 12);
        assert_eq!(m.cache.peek("a"), None, "changed: looked up again when needed");
        assert!(m.cache.peek("c").is_some(), "read after the change: kept");
        assert_eq!(m.cache.peek("b"), None, "never read here: not cached");
        assert_eq!(m.apply_sync(10, &out).unwrap(), Applied::Current, "a concurrent sync got there first");
    }

    #[test]
    fn behind_starts_over_and_a_new_era_is_a_reset() {
        let mut m = mirror_at(10, "c:1:1");
        m.apply_lookup(&["a".into()], &reply(&["10", "c:1:1", "ok", "", "5"])).unwrap();
        assert_eq!(m.apply_sync(10, &reply(&["5000", "c:1:1", "behind"])).unwrap(), Applied::Synced { reset: false });
        assert!(m.cache.is_empty(), "too far behind: the cache starts over");
        m.apply_lookup(&["a".into()], &reply(&["5000", "c:1:1", "ok", "", "5"])).unwrap();
        let healed = reply(&["5000", "l:777:5000", "behind"]);
        assert_eq!(m.apply_sync(5_000, &healed).unwrap(), Applied::Synced { reset: true });
        assert!(m.cache.is_empty());
        assert_eq!(m.lost_at, 777.0, "entries written before the loss are expired");
        // A store behind us (wiped, restored from an older copy) is a reset too.
        assert_eq!(m.apply_sync(5_000, &reply(&["0", "", "ok"])).unwrap(), Applied::Synced { reset: true });
    }

    #[test]
    fn a_lookup_older_than_the_view_is_used_but_not_cached() {
        let mut m = mirror_at(20, "c:1:1");
        let got = m.apply_lookup(&["a".into()], &reply(&["19", "c:1:1", "ok", "7", ""])).unwrap();
        assert_eq!(got, Some(vec![TagStamps { stale: Some(7.0), expired: None }]));
        assert_eq!(m.cache.peek("a"), None);
        m.apply_lookup(&["a".into()], &reply(&["21", "c:1:1", "ok", "7", ""])).unwrap();
        assert!(m.cache.peek("a").is_some(), "newer than the view: cached");
        assert_eq!(m.apply_lookup(&["a".into()], &reply(&["0", "", "heal"])).unwrap(), None);
        assert!(m.apply_lookup(&["a".into()], &reply(&["21", "c:1:1", "ok"])).is_err(), "malformed");
    }

    #[test]
    fn judging_falls_back_to_a_lookup_and_then_to_unstamped() {
        let mut m = mirror_at(1, "c:1:1");
        m.cache.put("cached", TagStamps { stale: None, expired: Some(100.0) }, 1, true);
        let extra = vec![("looked".to_string(), TagStamps { stale: Some(100.0), expired: None })];
        assert_eq!(m.judge_with(&["looked"], &extra, 50.0, 200.0).0, Freshness::Stale);
        assert_eq!(m.judge_with(&["cached", "looked"], &extra, 50.0, 200.0).0, Freshness::Expired);
        assert_eq!(m.judge_with(&["unknown"], &[], 50.0, 200.0).0, Freshness::Fresh);
    }

    #[test]
    fn eras_name_when_data_was_lost() {
        assert_eq!(lost_at("l:1700000000123.5:99"), 1_700_000_000_123.5);
        assert_eq!(lost_at("c:1700000000123:99"), 0.0);
        assert_eq!(lost_at(""), 0.0);
        assert_eq!(lost_at("1700000000123"), 0.0, "an era from an older version");
    }
}
