//! Counters reported by `stats()`; relaxed atomics, cheap enough for every call.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Stats {
    pub gets: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub stale_hits: AtomicU64,
    pub expired_hits: AtomicU64,
    pub get_errors: AtomicU64,
    pub corrupt: AtomicU64,
    pub sets: AtomicU64,
    pub set_errors: AtomicU64,
    pub revalidations: AtomicU64,
    pub revalidation_errors: AtomicU64,
    pub manifest_syncs: AtomicU64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    pub gets: u64,
    pub hits: u64,
    pub misses: u64,
    pub stale_hits: u64,
    pub expired_hits: u64,
    pub get_errors: u64,
    pub corrupt: u64,
    pub sets: u64,
    pub set_errors: u64,
    pub revalidations: u64,
    pub revalidation_errors: u64,
    pub manifest_syncs: u64,
    pub manifest_tags: u64,
    pub tag_cache_bytes: u64,
    /// Revalidations not recorded yet (Redis failing), recorded after a failure, given up on.
    pub revalidations_pending: u64,
    pub revalidations_late: u64,
    pub revalidations_dropped: u64,
    pub memory_entries: u64,
    pub memory_bytes: u64,
    /// Consecutive Redis connectivity failures (0 when healthy).
    pub redis_failures: u64,
    /// True while calls fail fast because Redis recently failed.
    pub circuit_open: bool,
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            gets: self.gets.load(Relaxed),
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_hits: self.stale_hits.load(Relaxed),
            expired_hits: self.expired_hits.load(Relaxed),
            get_errors: self.get_errors.load(Relaxed),
            corrupt: self.corrupt.load(Relaxed),
            sets: self.sets.load(Relaxed),
            set_errors: self.set_errors.load(Relaxed),
            revalidations: self.revalidations.load(Relaxed),
            revalidation_errors: self.revalidation_errors.load(Relaxed),
            manifest_syncs: self.manifest_syncs.load(Relaxed),
            ..Default::default()
        }
    }
}
