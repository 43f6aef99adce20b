//! In-memory store for local development and builds without Redis: a byte-bounded LRU
//! plus an authoritative tag manifest, shared by everything in this process.

use super::backend::{Backend, BoxFuture, ready};
use crate::core::error::Result;
use crate::core::stats::StatsSnapshot;
use crate::core::tags::{Durations, Freshness, Manifest};
use lru::LruCache;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    bytes: Vec<u8>,
    expires_at: Instant,
}

struct Inner {
    lru: LruCache<String, Entry>,
    bytes: usize,
    max_bytes: usize,
    manifest: Manifest,
}

pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Stamps older than this are pruned (see `Manifest::revalidate`).
    retention_ms: f64,
}

fn weight(key: &str, e: &Entry) -> usize {
    key.len() + e.bytes.len()
}

impl MemoryStore {
    pub fn new(max_bytes: usize, retention_ms: f64) -> Self {
        MemoryStore {
            retention_ms,
            inner: Mutex::new(Inner {
                // Unbounded by count: the byte budget below does the evicting.
                lru: LruCache::unbounded(),
                bytes: 0,
                max_bytes,
                manifest: Manifest::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the cache down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut g = self.lock();
        let expired = g.lru.get(key)?.expires_at <= Instant::now();
        if expired {
            if let Some((k, e)) = g.lru.pop_entry(key) {
                g.bytes -= weight(&k, &e);
            }
            return None;
        }
        g.lru.peek(key).map(|e| e.bytes.clone())
    }

    pub fn put(&self, key: String, bytes: Vec<u8>, ttl_ms: u64, if_absent: bool) -> Result<()> {
        let now = Instant::now();
        let entry = Entry { bytes, expires_at: now + Duration::from_millis(ttl_ms) };
        let mut g = self.lock();
        if if_absent && g.lru.peek(&key).is_some_and(|e| e.expires_at > now) {
            return Ok(());
        }
        let w = weight(&key, &entry);
        if w > g.max_bytes {
            // Bigger than the whole budget: keep nothing rather than evict everything.
            if let Some((k, old)) = g.lru.pop_entry(&key) {
                g.bytes -= weight(&k, &old);
            }
            return Ok(());
        }
        g.bytes += w;
        if let Some((k, old)) = g.lru.push(key, entry) {
            g.bytes -= weight(&k, &old);
        }
        while g.bytes > g.max_bytes {
            match g.lru.pop_lru() {
                Some((k, e)) => g.bytes -= weight(&k, &e),
                None => break,
            }
        }
        Ok(())
    }

    /// The verdict of `tags` and when the clock alone changes it (the manifest is all here).
    fn judge_now(&self, tags: &[&str], last_modified: f64, now: f64) -> (Freshness, f64) {
        let g = self.lock();
        let tags = || tags.iter().copied();
        (g.manifest.judge(tags(), last_modified, now), g.manifest.next_change(tags(), last_modified, now))
    }
}

/// Everything is answered at once: the futures are ready.
impl Backend for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>>> {
        ready(Ok(MemoryStore::get(self, key)))
    }

    fn put(&self, key: String, envelope: Vec<u8>, ttl_ms: u64, if_absent: bool) -> BoxFuture<'_, Result<()>> {
        ready(MemoryStore::put(self, key, envelope, ttl_ms, if_absent))
    }

    fn revalidate<'a>(&'a self, tags: &'a [String], now: f64, durations: Option<Durations>) -> BoxFuture<'a, Result<()>> {
        self.lock().manifest.revalidate(tags, now, durations, self.retention_ms);
        ready(Ok(()))
    }

    fn judge_known(&self, tags: &[&str], last_modified: f64, now: f64) -> Option<(Freshness, f64)> {
        Some(self.judge_now(tags, last_modified, now))
    }

    fn judge<'a>(&'a self, tags: &'a [&'a str], last_modified: f64, now: f64) -> BoxFuture<'a, (Freshness, f64)> {
        ready(self.judge_now(tags, last_modified, now))
    }

    fn expiration<'a>(&'a self, tags: &'a [String], now: f64) -> BoxFuture<'a, f64> {
        ready(self.lock().manifest.expiration(tags.iter().map(String::as_str), now))
    }

    fn fill_stats(&self, s: &mut StatsSnapshot) {
        let g = self.lock();
        s.memory_entries = g.lru.len() as u64;
        s.memory_bytes = g.bytes as u64;
        s.manifest_tags = g.manifest.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_byte_budget_and_evicts_lru_first() {
        let m = MemoryStore::new(1000, 1e12);
        for i in 0..50 {
            m.put(format!("k{i}"), vec![0u8; 100], 60_000, false).unwrap();
        }
        let mut s = StatsSnapshot::default();
        m.fill_stats(&mut s);
        assert!(s.memory_bytes <= 1000, "{} bytes", s.memory_bytes);
        assert!(m.get("k0").is_none());
        assert!(m.get("k49").is_some());
    }

    #[test]
    fn replacing_a_key_does_not_leak_bytes() {
        let m = MemoryStore::new(10_000, 1e12);
        for _ in 0..100 {
            m.put("same".into(), vec![1u8; 500], 60_000, false).unwrap();
        }
        let mut s = StatsSnapshot::default();
        m.fill_stats(&mut s);
        assert_eq!((s.memory_entries, s.memory_bytes), (1, 504));
    }

    #[test]
    fn oversized_values_are_not_kept_and_ttl_expires() {
        let m = MemoryStore::new(100, 1e12);
        m.put("big".into(), vec![0u8; 200], 60_000, false).unwrap();
        assert!(m.get("big").is_none());
        m.put("short".into(), vec![0u8; 10], 0, false).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert!(m.get("short").is_none());
        let mut s = StatsSnapshot::default();
        m.fill_stats(&mut s);
        assert_eq!(s.memory_bytes, 0);
    }
}
