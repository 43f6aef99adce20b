//! Tag manifest: tag -> `{stale, expired}` stamps (ms), judged at read time.
//!
//! `revalidateTag` only writes stamps, so its cost never depends on how many entries exist.
//! An entry is invalid when one of its tags (stored, or given at read time such as soft tags)
//! was revalidated at or after the entry's `lastModified` — the rule Next's own caches use.

use lru::LruCache;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TagStamps {
    /// Serve once more, then regenerate (Next 16 `revalidateTag(tag, profile)`).
    pub stale: Option<f64>,
    /// Miss (or blocking regeneration) for entries older than this, once it has passed.
    pub expired: Option<f64>,
}

/// Next 16's `durations` argument; `None` (no argument) means "expired now".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Durations {
    pub expire: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Freshness {
    Fresh,
    Stale,
    Expired,
}

impl TagStamps {
    /// The stamps after a revalidation at `now`, as Next's `FileSystemCache` and built-in
    /// `'use cache'` handler compute them.
    pub fn revalidated(self, now: f64, durations: Option<Durations>) -> TagStamps {
        match durations {
            None => TagStamps { expired: Some(now), ..self },
            Some(d) => TagStamps { stale: Some(now), expired: d.expire.map(|e| now + e * 1000.0).or(self.expired) },
        }
    }

    /// The later of each stamp: whatever invalidates more.
    pub fn union(self, other: TagStamps) -> TagStamps {
        let later = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        TagStamps { stale: later(self.stale, other.stale), expired: later(self.expired, other.expired) }
    }

    pub fn judge(&self, last_modified: f64, now: f64) -> Freshness {
        if self.expired.is_some_and(|e| e <= now && e >= last_modified) {
            Freshness::Expired
        } else if self.stale.is_some_and(|s| s >= last_modified) {
            Freshness::Stale
        } else {
            Freshness::Fresh
        }
    }
}

/// The worst verdict over the stamps of an entry's tags.
pub fn judge_stamps(stamps: impl IntoIterator<Item = TagStamps>, last_modified: f64, now: f64) -> Freshness {
    let mut verdict = Freshness::Fresh;
    for s in stamps {
        verdict = verdict.max(s.judge(last_modified, now));
        if verdict == Freshness::Expired {
            break;
        }
    }
    verdict
}

/// When a verdict for an entry written at `last_modified` can next change by the clock
/// alone: the earliest future `expired` stamp (Next 16 `{ expire }`); infinite when none.
pub fn next_change(stamps: impl IntoIterator<Item = TagStamps>, last_modified: f64, now: f64) -> f64 {
    stamps.into_iter().filter_map(|s| s.expired).filter(|e| *e > now && *e >= last_modified).fold(f64::INFINITY, f64::min)
}

/// The latest `expired` stamp that is not in the future; 0 when none.
pub fn expiration(stamps: impl IntoIterator<Item = TagStamps>, now: f64) -> f64 {
    stamps.into_iter().filter_map(|s| s.expired).filter(|e| *e <= now).fold(0.0, f64::max)
}

impl TagStamps {
    /// The latest moment either stamp names. A stamp only ever invalidates entries written at
    /// or before it, so once this is older than the retention, dropping the stamps changes no
    /// verdict: every entry they could invalidate is past the retention and expired by age.
    pub fn latest(&self) -> f64 {
        self.stale.unwrap_or(f64::NEG_INFINITY).max(self.expired.unwrap_or(f64::NEG_INFINITY))
    }
}

/// What expires an entry whatever its tags say: its age past the retention (the longest an
/// entry is served, and so the longest a stamp is kept), and a loss of manifest data in the
/// store (`lost_at`: entries written before it may have lost the stamps that invalidate them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    pub retention_ms: f64,
    pub lost_at: f64,
}

impl Horizon {
    pub fn judge(&self, last_modified: f64, now: f64) -> Freshness {
        if last_modified < self.lost_at || now - last_modified > self.retention_ms { Freshness::Expired } else { Freshness::Fresh }
    }

    /// When the age rule will expire an entry written at `last_modified`.
    pub fn deadline(&self, last_modified: f64) -> f64 {
        last_modified + self.retention_ms
    }
}

/// The authoritative manifest of the in-memory store. Tags are kept in the order of their
/// last revalidation, so stamps past the retention are pruned from the old end as new ones
/// come in: memory follows the revalidations of one retention period, not all of history.
#[derive(Debug)]
pub struct Manifest {
    tags: LruCache<String, TagStamps>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest { tags: LruCache::unbounded() }
    }
}

impl Manifest {
    pub fn get(&self, tag: &str) -> Option<TagStamps> {
        self.tags.peek(tag).copied()
    }

    /// Records a revalidation at `now`; drops stamps older than `now - retention_ms`.
    pub fn revalidate(&mut self, tags: &[String], now: f64, durations: Option<Durations>, retention_ms: f64) {
        for tag in tags {
            let next = self.get(tag).unwrap_or_default().revalidated(now, durations);
            self.tags.put(tag.clone(), next);
        }
        // The least recently revalidated first; a future deadline may keep an older tag a while.
        while let Some((_, s)) = self.tags.peek_lru() {
            if s.latest() >= now - retention_ms {
                break;
            }
            self.tags.pop_lru();
        }
    }

    fn stamps<'a, 's>(&'s self, tags: impl IntoIterator<Item = &'a str> + 's) -> impl Iterator<Item = TagStamps> + 's {
        tags.into_iter().filter_map(|t| self.tags.peek(t).copied())
    }

    /// The worst verdict over all the given tags.
    pub fn judge<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> Freshness {
        judge_stamps(self.stamps(tags), last_modified, now)
    }

    pub fn next_change<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> f64 {
        next_change(self.stamps(tags), last_modified, now)
    }

    pub fn expiration<'a>(&self, tags: impl IntoIterator<Item = &'a str>, now: f64) -> f64 {
        expiration(self.stamps(tags), now)
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR: f64 = 31_536_000_000.0;

    #[test]
    fn immediate_expiry_invalidates_older_entries_only() {
        let mut m = Manifest::default();
        m.revalidate(&["t".into()], 1000.0, None, YEAR);
        assert_eq!(m.judge(["t"], 999.0, 2000.0), Freshness::Expired);
        assert_eq!(m.judge(["t"], 1000.0, 2000.0), Freshness::Expired, "same ms counts as before");
        assert_eq!(m.judge(["t"], 1001.0, 2000.0), Freshness::Fresh);
        assert_eq!(m.judge(["other"], 1.0, 2000.0), Freshness::Fresh);
    }

    #[test]
    fn expire_profile_is_stale_now_and_expired_later() {
        let mut m = Manifest::default();
        m.revalidate(&["t".into()], 1000.0, Some(Durations { expire: Some(10.0) }), YEAR);
        assert_eq!(m.judge(["t"], 500.0, 1500.0), Freshness::Stale);
        assert_eq!(m.judge(["t"], 500.0, 11_000.0), Freshness::Expired);
        assert_eq!(m.judge(["t"], 1500.0, 5_000.0), Freshness::Fresh, "regenerated after the stale stamp");
        // Next's rule: the deadline expires everything written before it, even regenerations.
        assert_eq!(m.judge(["t"], 1500.0, 11_500.0), Freshness::Expired);
        assert_eq!(m.judge(["t"], 11_001.0, 11_500.0), Freshness::Fresh);
    }

    #[test]
    fn durations_without_expire_keep_an_earlier_expiry() {
        let s = TagStamps { stale: None, expired: Some(5.0) }.revalidated(9.0, Some(Durations::default()));
        assert_eq!(s, TagStamps { stale: Some(9.0), expired: Some(5.0) });
    }

    #[test]
    fn expiration_is_the_latest_past_expiry() {
        let mut m = Manifest::default();
        m.revalidate(&["a".into()], 100.0, None, YEAR);
        m.revalidate(&["b".into()], 300.0, None, YEAR);
        m.revalidate(&["later".into()], 100.0, Some(Durations { expire: Some(10.0) }), YEAR);
        assert_eq!(m.expiration(["a", "b", "x"], 1000.0), 300.0);
        assert_eq!(m.expiration(["later"], 1000.0), 0.0, "an expiry in the future has not happened");
        assert_eq!(m.expiration(["later"], 20_000.0), 10_100.0);
        assert_eq!(m.expiration(["x"], 1000.0), 0.0);
    }

    #[test]
    fn worst_tag_wins() {
        let mut m = Manifest::default();
        m.revalidate(&["a".into()], 100.0, Some(Durations { expire: Some(1000.0) }), YEAR);
        m.revalidate(&["b".into()], 100.0, None, YEAR);
        assert_eq!(m.judge(["a", "b"], 50.0, 200.0), Freshness::Expired);
        assert_eq!(m.judge(["a"], 50.0, 200.0), Freshness::Stale);
    }

    #[test]
    fn stamps_past_the_retention_are_pruned_and_no_verdict_changes() {
        let retention = 10_000.0;
        let horizon = Horizon { retention_ms: retention, lost_at: 0.0 };
        let mut m = Manifest::default();
        m.revalidate(&["old".into()], 1_000.0, None, retention);
        m.revalidate(&["deadline".into()], 1_000.0, Some(Durations { expire: Some(20.0) }), retention);
        // Every entry the old stamp could invalidate (written at or before 1000), judged at
        // any time after the prune: expired by age with or without the stamp.
        let verdict = |m: &Manifest, lm: f64, now: f64| m.judge(["old"], lm, now).max(horizon.judge(lm, now));
        let before: Vec<_> = [0.0, 500.0, 1_000.0].iter().map(|lm| verdict(&m, *lm, 11_001.0)).collect();
        m.revalidate(&["new".into()], 11_001.0, None, retention);
        assert_eq!(m.get("old"), None, "pruned once past the retention");
        assert!(m.get("deadline").is_some(), "a deadline in the future (21000) is kept");
        assert!(m.get("new").is_some());
        let after: Vec<_> = [0.0, 500.0, 1_000.0].iter().map(|lm| verdict(&m, *lm, 11_001.0)).collect();
        assert_eq!(before, after);
        assert!(after.iter().all(|v| *v == Freshness::Expired));
        // Entries written after the stamp never depended on it.
        assert_eq!(verdict(&m, 1_001.0, 11_001.0), Freshness::Fresh);
    }

    #[test]
    fn horizon_expires_old_entries_and_entries_before_a_loss() {
        let h = Horizon { retention_ms: 1_000.0, lost_at: 5_000.0 };
        assert_eq!(h.judge(4_999.0, 5_500.0), Freshness::Expired, "written before the loss");
        assert_eq!(h.judge(5_000.0, 5_500.0), Freshness::Fresh);
        assert_eq!(h.judge(5_000.0, 6_001.0), Freshness::Expired, "past the retention");
        assert_eq!(h.deadline(5_000.0), 6_000.0);
    }
}
