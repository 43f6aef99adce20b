//! Tag manifest: tag -> `{stale, expired}` stamps (ms), judged at read time.
//!
//! `revalidateTag` only writes stamps, so its cost never depends on how many entries exist.
//! An entry is invalid when one of its tags (stored, or given at read time such as soft tags)
//! was revalidated at or after the entry's `lastModified` — the rule Next's own caches use.

use std::collections::HashMap;

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
            Some(d) => TagStamps {
                stale: Some(now),
                expired: d.expire.map(|e| now + e * 1000.0).or(self.expired),
            },
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

/// An in-process copy of the manifest (authoritative for the memory store, a mirror for Redis).
#[derive(Debug, Default)]
pub struct Manifest {
    tags: HashMap<String, TagStamps>,
}

impl Manifest {
    pub fn get(&self, tag: &str) -> Option<TagStamps> {
        self.tags.get(tag).copied()
    }

    pub fn insert(&mut self, tag: String, stamps: TagStamps) {
        if stamps == TagStamps::default() {
            self.tags.remove(&tag);
        } else {
            self.tags.insert(tag, stamps);
        }
    }

    pub fn revalidate(&mut self, tags: &[String], now: f64, durations: Option<Durations>) {
        for tag in tags {
            let next = self.get(tag).unwrap_or_default().revalidated(now, durations);
            self.insert(tag.clone(), next);
        }
    }

    /// The worst verdict over all the given tags.
    pub fn judge<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> Freshness {
        let mut verdict = Freshness::Fresh;
        if self.tags.is_empty() {
            return verdict;
        }
        for tag in tags {
            if let Some(s) = self.tags.get(tag) {
                verdict = verdict.max(s.judge(last_modified, now));
                if verdict == Freshness::Expired {
                    break;
                }
            }
        }
        verdict
    }

    /// When a verdict for an entry written at `last_modified` can next change by the clock
    /// alone: the earliest future `expired` stamp among `tags` (Next 16 `{ expire }`).
    pub fn next_change<'a>(&self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> f64 {
        tags.into_iter()
            .filter_map(|t| self.tags.get(t)?.expired)
            .filter(|e| *e > now && *e >= last_modified)
            .fold(f64::INFINITY, f64::min)
    }

    /// The latest `expired` stamp among `tags` that is not in the future; 0 when none.
    pub fn expiration<'a>(&self, tags: impl IntoIterator<Item = &'a str>, now: f64) -> f64 {
        tags.into_iter()
            .filter_map(|t| self.tags.get(t)?.expired)
            .filter(|e| *e <= now)
            .fold(0.0, f64::max)
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    pub fn clear(&mut self) {
        self.tags.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_expiry_invalidates_older_entries_only() {
        let mut m = Manifest::default();
        m.revalidate(&["t".into()], 1000.0, None);
        assert_eq!(m.judge(["t"], 999.0, 2000.0), Freshness::Expired);
        assert_eq!(m.judge(["t"], 1000.0, 2000.0), Freshness::Expired, "same ms counts as before");
        assert_eq!(m.judge(["t"], 1001.0, 2000.0), Freshness::Fresh);
        assert_eq!(m.judge(["other"], 1.0, 2000.0), Freshness::Fresh);
    }

    #[test]
    fn expire_profile_is_stale_now_and_expired_later() {
        let mut m = Manifest::default();
        m.revalidate(&["t".into()], 1000.0, Some(Durations { expire: Some(10.0) }));
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
        m.revalidate(&["a".into()], 100.0, None);
        m.revalidate(&["b".into()], 300.0, None);
        m.revalidate(&["later".into()], 100.0, Some(Durations { expire: Some(10.0) }));
        assert_eq!(m.expiration(["a", "b", "x"], 1000.0), 300.0);
        assert_eq!(m.expiration(["later"], 1000.0), 0.0, "an expiry in the future has not happened");
        assert_eq!(m.expiration(["later"], 20_000.0), 10_100.0);
        assert_eq!(m.expiration(["x"], 1000.0), 0.0);
    }

    #[test]
    fn worst_tag_wins() {
        let mut m = Manifest::default();
        m.revalidate(&["a".into()], 100.0, Some(Durations { expire: Some(1000.0) }));
        m.revalidate(&["b".into()], 100.0, None);
        assert_eq!(m.judge(["a", "b"], 50.0, 200.0), Freshness::Expired);
        assert_eq!(m.judge(["a"], 50.0, 200.0), Freshness::Stale);
    }
}
