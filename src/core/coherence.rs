//! What a process knows about invalidations it did not make, for its local L1.
//!
//! Redis client tracking (RESP3 `CLIENT TRACKING ON NOLOOP`) pushes the name of every key this
//! process has read once another client changes it: entries, and the manifest epoch (a
//! revalidation anywhere). Every push bumps a generation; an L1 copy validated at generation
//! `g` is still good while its key has no invalidation after `g` and no flush happened after
//! `g`. A lost connection flushes everything, and the copy is trusted only while the feed is
//! healthy: connected, manifest synced, and heard from within the staleness bound.

use lru::LruCache;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

/// Keys remembered with the generation of their last invalidation. Older ones fall out; an
/// L1 copy validated before the oldest forgotten one is then treated as invalid.
const KEY_LOG: usize = 65_536;
/// ... and at most this many bytes of key names (long keys: 64k names of 16 KB would be 1 GB).
const KEY_LOG_BYTES: usize = 8 * 1024 * 1024;
/// Per remembered key beyond its name: the LRU node and the generation.
const KEY_OVERHEAD: usize = 64;

pub struct Coherence {
    generation: AtomicU64,
    state: Mutex<State>,
    /// Tracking is on for the current connection.
    connected: AtomicBool,
    /// Bumped on each epoch push; a sync clears it only if no newer push came meanwhile.
    dirty_seq: AtomicU64,
    synced_seq: AtomicU64,
    /// Milliseconds since `origin` of the last successful round trip on the tracked connection.
    last_ok: AtomicU64,
    origin: Instant,
    max_staleness: Duration,
}

struct State {
    keys: LruCache<String, u64>,
    /// Bytes held by `keys` (names plus overhead).
    key_bytes: usize,
    /// Copies validated before this generation are invalid (flush, or forgotten keys).
    floor: u64,
}

impl Coherence {
    pub fn new(max_staleness: Duration) -> Self {
        Coherence {
            generation: AtomicU64::new(1),
            state: Mutex::new(State { keys: LruCache::unbounded(), key_bytes: 0, floor: 0 }),
            connected: AtomicBool::new(false),
            dirty_seq: AtomicU64::new(0),
            synced_seq: AtomicU64::new(0),
            last_ok: AtomicU64::new(0),
            origin: Instant::now(),
            max_staleness,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation to validate L1 copies against, or `None` while they cannot be trusted.
    pub fn current(&self) -> Option<u64> {
        self.trusted().then(|| self.generation.load(Acquire))
    }

    /// The generation whether or not copies can be trusted right now: a read that starts
    /// here may store its result under it (every later push bumps past it).
    pub fn generation(&self) -> u64 {
        self.generation.load(Acquire)
    }

    pub fn trusted(&self) -> bool {
        self.connected.load(Acquire)
            && self.dirty_seq.load(Acquire) == self.synced_seq.load(Acquire)
            && self.since_ok() <= self.max_staleness
    }

    /// How often the background check runs: several heartbeats per staleness bound.
    pub fn check_period(&self) -> Duration {
        (self.max_staleness / 4).max(Duration::from_millis(10))
    }

    fn since_ok(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ok.load(Acquire)))
    }

    /// A round trip on the tracked connection succeeded (tracking is on for it).
    pub fn heard(&self) {
        self.last_ok.store(self.origin.elapsed().as_millis() as u64, Release);
        self.connected.store(true, Release);
    }

    pub fn invalidate_keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut s = self.state();
        let g = self.generation.fetch_add(1, AcqRel) + 1;
        for k in keys {
            if s.keys.push(k.to_owned(), g).is_none() {
                s.key_bytes += k.len() + KEY_OVERHEAD;
            }
        }
        while s.keys.len() > KEY_LOG || s.key_bytes > KEY_LOG_BYTES {
            if let Some((k, old)) = s.keys.pop_lru() {
                s.key_bytes -= k.len() + KEY_OVERHEAD;
                s.floor = s.floor.max(old + 1);
            }
        }
    }

    /// Everything cached so far is suspect (disconnect, server-side flush of tracking).
    pub fn flush(&self) {
        let mut s = self.state();
        let g = self.generation.fetch_add(1, AcqRel) + 1;
        s.floor = g;
        s.keys.clear();
        s.key_bytes = 0;
    }

    pub fn disconnected(&self) {
        self.connected.store(false, Release);
        self.flush();
    }

    /// The manifest changed locally or was synced: verdicts must be recomputed.
    pub fn bump(&self) -> u64 {
        self.generation.fetch_add(1, AcqRel) + 1
    }

    /// An epoch push: the mirror is behind until a sync started after it completes.
    pub fn epoch_moved(&self) -> u64 {
        self.dirty_seq.fetch_add(1, AcqRel) + 1
    }

    pub fn dirty_seq(&self) -> u64 {
        self.dirty_seq.load(Acquire)
    }

    /// A read of the epoch (and a sync if it moved) that began when `dirty_seq` was `seq`
    /// has completed: pushes up to `seq` are accounted for.
    pub fn synced(&self, seq: u64) {
        if self.synced_seq.fetch_max(seq, AcqRel) < seq {
            self.bump();
        }
    }

    /// Is an L1 copy of `key`, validated at generation `since`, still the latest?
    pub fn is_valid(&self, key: &str, since: u64) -> bool {
        let s = self.state();
        since >= s.floor && s.keys.peek(key).is_none_or(|&g| g <= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Coherence {
        let c = Coherence::new(Duration::from_secs(5));
        c.heard();
        c
    }

    #[test]
    fn key_invalidation_only_hits_that_key() {
        let c = live();
        let g = c.current().unwrap();
        c.invalidate_keys(["a"]);
        assert!(!c.is_valid("a", g));
        assert!(c.is_valid("b", g));
        let g2 = c.current().unwrap();
        assert!(g2 > g);
        assert!(c.is_valid("a", g2), "a copy validated after the push is fine");
    }

    #[test]
    fn flush_and_disconnect_invalidate_everything_and_stop_trust() {
        let c = live();
        let g = c.current().unwrap();
        c.flush();
        assert!(!c.is_valid("x", g));
        assert!(c.current().is_some());
        c.disconnected();
        assert!(c.current().is_none(), "no trust while disconnected");
        c.heard();
        assert!(c.current().is_some());
    }

    #[test]
    fn pending_epoch_sync_suspends_trust_until_the_latest_push_is_synced() {
        let c = live();
        let s1 = c.epoch_moved();
        let s2 = c.epoch_moved();
        assert!(c.current().is_none());
        c.synced(s1);
        assert!(c.current().is_none(), "a sync older than the last push is not enough");
        c.synced(s2);
        assert!(c.current().is_some());
    }

    #[test]
    fn silence_beyond_the_bound_stops_trust() {
        let c = Coherence::new(Duration::from_millis(30));
        c.heard();
        assert!(c.current().is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.current().is_none());
    }

    #[test]
    fn forgotten_keys_raise_the_floor() {
        let c = live();
        let g = c.current().unwrap();
        for i in 0..(KEY_LOG + 10) {
            c.invalidate_keys([format!("k{i}").as_str()]);
        }
        assert!(!c.is_valid("never-invalidated", g), "older than forgotten history: suspect");
        assert!(c.is_valid("never-invalidated", c.current().unwrap()));
    }

    #[test]
    fn the_key_log_is_bounded_in_bytes_as_well_as_in_count() {
        let c = live();
        let g0 = c.generation();
        let long = "k".repeat(16 * 1024);
        for i in 0..2_000 {
            c.invalidate_keys([format!("{long}{i}").as_str()]);
        }
        let s = c.state();
        assert!(s.key_bytes <= KEY_LOG_BYTES, "{} bytes of key names", s.key_bytes);
        assert!(s.keys.len() < 2_000, "older names forgotten");
        assert!(s.floor > g0, "forgetting raises the floor");
        drop(s);
        assert!(!c.is_valid(&format!("{long}0"), g0), "a copy older than a forgotten push is not trusted");
    }
}
