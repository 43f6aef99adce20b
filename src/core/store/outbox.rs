//! Revalidations that could not be recorded (Redis down, stalled, or failing fast after a
//! failure), kept with their original time until Redis answers again. Next 16 records
//! `revalidateTag` after the response (`waitUntil`), so a rejection there reaches no one: without
//! this, every other instance would keep the old page until its time-based revalidation.
//!
//! Bounded by tags and by bytes (`MAX_TAGS`, `MAX_BYTES`); when over either, the oldest go
//! first. Counted in tags, the unit of the bound: what is pending, what was recorded late, what
//! was dropped. Once closed, whatever is left is handed over (to be reported as not recorded)
//! and nothing more is kept.

use crate::core::tags::Durations;
use std::collections::VecDeque;

/// Tags kept per process while Redis cannot record them.
pub const MAX_TAGS: usize = 100_000;
/// Bytes they may hold (names plus bookkeeping; see `cost`).
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub tags: Vec<String>,
    /// When the revalidation was made (ms): entries rendered after it stay fresh.
    pub at: f64,
    pub durations: Option<Durations>,
    seq: u64,
}

/// What memory a pending revalidation holds: each tag's name and `String`, and the entry itself.
fn cost(tags: &[String]) -> usize {
    std::mem::size_of::<Pending>() + tags.iter().map(|t| t.len() + std::mem::size_of::<String>()).sum::<usize>()
}

/// Revalidations given up on without being recorded: how many, their tags, and the first few.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unrecorded {
    pub revalidations: usize,
    pub tags: usize,
    /// The oldest tags, at most the number asked for.
    pub first: Vec<String>,
}

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Pending>,
    tags: usize,
    bytes: usize,
    max_tags: usize,
    max_bytes: usize,
    next_seq: u64,
    closed: bool,
    /// Tags given up on to stay within the bound.
    pub dropped: u64,
    /// Tags recorded after a failure.
    pub recorded_late: u64,
}

impl Outbox {
    pub fn new(max_tags: usize, max_bytes: usize) -> Self {
        Outbox { queue: VecDeque::new(), tags: 0, bytes: 0, max_tags, max_bytes, next_seq: 0, closed: false, dropped: 0, recorded_late: 0 }
    }

    /// Keeps a revalidation, dropping the oldest while over the bound (the newest is kept even
    /// alone over it: it is all there is). False once closed: nothing is kept any more.
    pub fn push(&mut self, tags: Vec<String>, at: f64, durations: Option<Durations>) -> bool {
        if self.closed {
            return false;
        }
        self.tags += tags.len();
        self.bytes += cost(&tags);
        self.next_seq += 1;
        self.queue.push_back(Pending { tags, at, durations, seq: self.next_seq });
        while (self.tags > self.max_tags || self.bytes > self.max_bytes) && self.queue.len() > 1 {
            if let Some(old) = self.queue.pop_front() {
                self.dropped += old.tags.len() as u64;
                self.forget(&old);
            }
        }
        true
    }

    fn forget(&mut self, p: &Pending) {
        self.tags -= p.tags.len();
        self.bytes -= cost(&p.tags);
    }

    /// The oldest pending revalidation (a copy: it stays queued until `done`).
    pub fn front(&self) -> Option<Pending> {
        self.queue.front().cloned()
    }

    /// `p` was recorded: removed unless it was already dropped to make room.
    pub fn done(&mut self, p: &Pending) {
        if let Some(i) = self.queue.iter().position(|q| q.seq == p.seq)
            && let Some(q) = self.queue.remove(i)
        {
            self.forget(&q);
            self.recorded_late += q.tags.len() as u64;
        }
    }

    /// Tags pending.
    pub fn tags(&self) -> usize {
        self.tags
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Keeps nothing from now on, and hands over what is left (oldest first, `first` tags named).
    pub fn close(&mut self, first: usize) -> Unrecorded {
        self.closed = true;
        let left = Unrecorded {
            revalidations: self.queue.len(),
            tags: self.tags,
            first: self.queue.iter().flat_map(|p| p.tags.iter()).take(first).cloned().collect(),
        };
        self.queue.clear();
        self.tags = 0;
        self.bytes = 0;
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn keeps_order_and_original_time_until_recorded() {
        let mut o = Outbox::new(100, MAX_BYTES);
        o.push(tags(2), 1_000.0, None);
        o.push(tags(1), 2_000.0, Some(Durations { expire: Some(5.0) }));
        let first = o.front().unwrap();
        assert_eq!((first.at, first.tags.len()), (1_000.0, 2));
        assert_eq!(o.tags(), 3, "still queued while being recorded");
        o.done(&first);
        o.done(&first);
        assert_eq!((o.tags(), o.recorded_late), (1, 2), "counted in tags, once");
        assert_eq!(o.front().unwrap().at, 2_000.0);
    }

    #[test]
    fn bounded_by_tags_oldest_dropped_and_counted_in_tags() {
        let mut o = Outbox::new(10, MAX_BYTES);
        for i in 0..5 {
            o.push(tags(4), i as f64, None);
        }
        assert_eq!(o.tags(), 8);
        assert_eq!(o.dropped, 12);
        assert_eq!(o.front().unwrap().at, 3.0);
        // One larger than the bound is still kept: it is all there is.
        let mut o = Outbox::new(10, MAX_BYTES);
        o.push(tags(50), 1.0, None);
        assert_eq!((o.tags(), o.dropped), (50, 0));
    }

    #[test]
    fn bounded_by_bytes_oldest_dropped() {
        const MIB: usize = 1 << 20;
        let mut o = Outbox::new(MAX_TAGS, 16 * MIB);
        for i in 0..40 {
            o.push(vec!["x".repeat(MIB) + &i.to_string()], i as f64, None);
        }
        assert_eq!(o.tags(), 15, "16 MiB hold 15 tags of 1 MiB and their bookkeeping");
        assert!(o.bytes <= 16 * MIB, "{}", o.bytes);
        assert_eq!(o.dropped, 25);
        assert_eq!(o.front().unwrap().at, 25.0, "the oldest went first");
    }

    #[test]
    fn a_recorded_revalidation_dropped_meanwhile_is_not_counted_twice() {
        let mut o = Outbox::new(4, MAX_BYTES);
        o.push(tags(4), 1.0, None);
        let p = o.front().unwrap();
        o.push(tags(4), 2.0, None);
        o.done(&p);
        assert_eq!((o.tags(), o.dropped, o.recorded_late), (4, 4, 0));
    }

    #[test]
    fn closed_it_hands_over_what_is_left_and_keeps_nothing_more() {
        let mut o = Outbox::new(100, MAX_BYTES);
        o.push(vec!["a".into(), "b".into()], 1.0, None);
        o.push(vec!["c".into()], 2.0, None);
        let left = o.close(2);
        assert_eq!(left, Unrecorded { revalidations: 2, tags: 3, first: vec!["a".into(), "b".into()] });
        assert!(o.is_empty());
        assert!(!o.push(vec!["d".into()], 3.0, None));
        assert_eq!(o.close(5), Unrecorded::default());
    }
}
