//! This process's view of the tag manifest kept in Redis: the stamps of the tags it has
//! judged, looked up on first use and kept current by the manifest's change log. Bounded by
//! bytes (least recently used out first), so its memory follows what this process reads, not
//! how many tags the fleet ever revalidated.
//!
//! Each value remembers the manifest epoch it was read at, so a reply that was overtaken by a
//! newer one (two round trips finishing out of order) never replaces it.

use super::tags::{Freshness, TagStamps, expiration, judge_stamps, next_change};
use lru::LruCache;

/// Per cached tag beyond its name: the LRU node, the stamps and the epoch.
const ENTRY_OVERHEAD: usize = 96;

#[derive(Debug, Clone, Copy)]
struct Known {
    stamps: TagStamps,
    at: i64,
}

#[derive(Debug)]
pub struct TagCache {
    tags: LruCache<String, Known>,
    bytes: usize,
    max_bytes: usize,
}

fn weight(tag: &str) -> usize {
    tag.len() + ENTRY_OVERHEAD
}

impl TagCache {
    pub fn new(max_bytes: usize) -> Self {
        TagCache { tags: LruCache::unbounded(), bytes: 0, max_bytes }
    }

    /// The stamps of every tag, or `None` when one of them is not known here.
    fn stamps<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>) -> Option<Vec<TagStamps>> {
        tags.into_iter().map(|t| self.tags.get(t).map(|k| k.stamps)).collect()
    }

    /// `None` when a tag's stamps must be looked up first.
    pub fn judge<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>, last_modified: f64, now: f64) -> Option<(Freshness, f64)> {
        let s = self.stamps(tags)?;
        Some((judge_stamps(s.iter().copied(), last_modified, now), next_change(s, last_modified, now)))
    }

    pub fn expiration<'a>(&mut self, tags: impl IntoIterator<Item = &'a str>, now: f64) -> Option<f64> {
        self.stamps(tags).map(|s| expiration(s, now))
    }

    /// The tags among `tags` whose stamps are not known here, once each.
    pub fn missing<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in tags {
            if !self.tags.contains(t) && !out.iter().any(|o| o == t) {
                out.push(t.to_owned());
            }
        }
        out
    }

    /// The stamps of `tag` as of epoch `at`. Replaces a value read at an earlier epoch only;
    /// with `insert` false, a tag not cached stays out (a change log names tags this process
    /// may never read).
    pub fn put(&mut self, tag: &str, stamps: TagStamps, at: i64, insert: bool) {
        if let Some(k) = self.tags.peek_mut(tag) {
            if k.at <= at {
                *k = Known { stamps, at };
            }
            return;
        }
        if !insert {
            return;
        }
        self.bytes += weight(tag);
        self.tags.put(tag.to_owned(), Known { stamps, at });
        while self.bytes > self.max_bytes {
            match self.tags.pop_lru() {
                Some((t, _)) => self.bytes -= weight(&t),
                None => break,
            }
        }
    }

    /// Drops `tag` if its value was read before epoch `at` (it changed then).
    pub fn forget(&mut self, tag: &str, at: i64) {
        if self.tags.peek(tag).is_some_and(|k| k.at < at) {
            self.tags.pop(tag);
            self.bytes -= weight(tag);
        }
    }

    /// The stamps of `tag` as this process knows them (for a local revalidation).
    pub fn peek(&self, tag: &str) -> Option<TagStamps> {
        self.tags.peek(tag).map(|k| k.stamps)
    }

    pub fn clear(&mut self) {
        self.tags.clear();
        self.bytes = 0;
    }

    pub fn len(&self) -> usize {
        self.tags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARD: TagStamps = TagStamps { stale: None, expired: Some(1_000.0) };

    #[test]
    fn unknown_tags_cannot_be_judged_until_looked_up() {
        let mut c = TagCache::new(1 << 20);
        assert_eq!(c.judge(["a", "b"], 500.0, 2_000.0), None);
        assert_eq!(c.missing(["a", "b", "a"]), vec!["a".to_string(), "b".to_string()]);
        c.put("a", HARD, 1, true);
        c.put("b", TagStamps::default(), 1, true);
        assert_eq!(c.missing(["a", "b"]), Vec::<String>::new());
        assert_eq!(c.judge(["a", "b"], 500.0, 2_000.0).map(|j| j.0), Some(Freshness::Expired));
        assert_eq!(c.judge(["b"], 500.0, 2_000.0).map(|j| j.0), Some(Freshness::Fresh), "known to have no stamp");
    }

    #[test]
    fn an_overtaken_reply_never_replaces_a_newer_value() {
        let mut c = TagCache::new(1 << 20);
        c.put("t", HARD, 7, true);
        c.put("t", TagStamps::default(), 5, true);
        assert_eq!(c.peek("t"), Some(HARD));
        c.put("t", TagStamps::default(), 8, false);
        assert_eq!(c.peek("t"), Some(TagStamps::default()));
    }

    #[test]
    fn a_change_drops_only_values_read_before_it() {
        let mut c = TagCache::new(1 << 20);
        c.put("elsewhere", HARD, 3, false);
        assert!(c.is_empty(), "put without insert leaves uncached tags out");
        c.put("before", HARD, 3, true);
        c.put("after", HARD, 9, true);
        c.forget("before", 5);
        c.forget("after", 5);
        c.forget("never", 5);
        assert_eq!((c.peek("before"), c.peek("after").is_some()), (None, true));
        assert_eq!(c.bytes(), weight("after"));
    }

    #[test]
    fn stays_within_its_byte_budget() {
        let mut c = TagCache::new(100 * (ENTRY_OVERHEAD + 8));
        for i in 0..10_000 {
            c.put(&format!("tag-{i:04}"), HARD, i, true);
        }
        assert!(c.bytes() <= 100 * (ENTRY_OVERHEAD + 8), "{} bytes", c.bytes());
        assert_eq!(c.len(), 100);
        assert!(c.peek("tag-9999").is_some() && c.peek("tag-0000").is_none(), "least recently used out first");
    }
}
