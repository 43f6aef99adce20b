//! Revalidations that could not be recorded (Redis down, stalled, or failing fast after a
//! failure), kept with their original time until Redis answers again. Next 16 records
//! `revalidateTag` after the response (`waitUntil`), so a rejection there reaches no one: without
//! this, every other instance would keep the old page until its time-based revalidation.
//!
//! Bounded by the number of tags held; when full, the oldest go first and are counted.

use crate::core::tags::Durations;
use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub tags: Vec<String>,
    /// When the revalidation was made (ms): entries rendered after it stay fresh.
    pub at: f64,
    pub durations: Option<Durations>,
    seq: u64,
}

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Pending>,
    tags: usize,
    max_tags: usize,
    next_seq: u64,
    /// Revalidations given up on to stay within the bound.
    pub dropped: u64,
    /// Revalidations recorded after a failure.
    pub recorded_late: u64,
}

impl Outbox {
    pub fn new(max_tags: usize) -> Self {
        Outbox { queue: VecDeque::new(), tags: 0, max_tags, next_seq: 0, dropped: 0, recorded_late: 0 }
    }

    pub fn push(&mut self, tags: Vec<String>, at: f64, durations: Option<Durations>) {
        self.tags += tags.len();
        self.next_seq += 1;
        self.queue.push_back(Pending { tags, at, durations, seq: self.next_seq });
        while self.tags > self.max_tags && self.queue.len() > 1 {
            if let Some(old) = self.queue.pop_front() {
                self.tags -= old.tags.len();
                self.dropped += 1;
            }
        }
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
            self.tags -= q.tags.len();
            self.recorded_late += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
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
        let mut o = Outbox::new(100);
        o.push(tags(2), 1_000.0, None);
        o.push(tags(1), 2_000.0, Some(Durations { expire: Some(5.0) }));
        let first = o.front().unwrap();
        assert_eq!((first.at, first.tags.len()), (1_000.0, 2));
        assert_eq!(o.len(), 2, "still queued while being recorded");
        o.done(&first);
        o.done(&first);
        assert_eq!((o.len(), o.recorded_late), (1, 1));
        assert_eq!(o.front().unwrap().at, 2_000.0);
    }

    #[test]
    fn bounded_by_tags_oldest_dropped_and_counted() {
        let mut o = Outbox::new(10);
        for i in 0..5 {
            o.push(tags(4), i as f64, None);
        }
        assert_eq!(o.len(), 2);
        assert_eq!(o.dropped, 3);
        assert_eq!(o.front().unwrap().at, 3.0);
        // One larger than the bound is still kept: it is all there is.
        let mut o = Outbox::new(10);
        o.push(tags(50), 1.0, None);
        assert_eq!((o.len(), o.dropped), (1, 0));
    }

    #[test]
    fn a_recorded_revalidation_dropped_meanwhile_is_not_counted_twice() {
        let mut o = Outbox::new(4);
        o.push(tags(4), 1.0, None);
        let p = o.front().unwrap();
        o.push(tags(4), 2.0, None);
        o.done(&p);
        assert_eq!((o.len(), o.dropped, o.recorded_late), (1, 1, 0));
    }
}
