//! What `stats()` reports, each field listed once (in [`stats!`] below): the atomics the cache
//! bumps, the snapshot the store fills, and the `(name, value)` list the binding turns into the
//! JS object all come from that list. Read outcomes (hits, misses...) are counted in JS, where
//! the L1 lives.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One reported value, as JS sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    Count(u64),
    Flag(bool),
}

impl From<u64> for Stat {
    fn from(n: u64) -> Stat {
        Stat::Count(n)
    }
}

impl From<bool> for Stat {
    fn from(b: bool) -> Stat {
        Stat::Flag(b)
    }
}

/// `counters`: bumped by the cache as calls happen (relaxed atomics, cheap enough for every
/// call). `gauges`: filled by the store when asked. Each as `field => "jsName"`.
macro_rules! stats {
    (
        counters { $($(#[$cdoc:meta])* $counter:ident => $cjs:literal,)* }
        gauges { $($(#[$gdoc:meta])* $gauge:ident: $ty:ty => $gjs:literal,)* }
    ) => {
        /// The counters the cache bumps.
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$cdoc])* pub $counter: AtomicU64,)*
        }

        /// Everything `stats()` reports, at one moment.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct StatsSnapshot {
            $($(#[$cdoc])* pub $counter: u64,)*
            $($(#[$gdoc])* pub $gauge: $ty,)*
        }

        impl Stats {
            /// The counters; the gauges are left for the store to fill.
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($counter: self.$counter.load(Relaxed),)* ..Default::default() }
            }
        }

        impl StatsSnapshot {
            /// Every field with its JS (camelCase) name.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, Stat)> + use<> {
                [$(($cjs, Stat::from(self.$counter)),)* $(($gjs, Stat::from(self.$gauge)),)*].into_iter()
            }

            #[cfg(test)]
            const RUST_NAMES: &[&str] = &[$(stringify!($counter),)* $(stringify!($gauge),)*];
        }
    };
}

stats! {
    counters {
        /// Reads from the store that failed.
        get_errors => "getErrors",
        /// Entries that could not be decoded (read as misses).
        corrupt => "corrupt",
        sets => "sets",
        set_errors => "setErrors",
        revalidations => "revalidations",
        revalidation_errors => "revalidationErrors",
    }
    gauges {
        /// Catch-ups with the change log, tags whose stamps this process caches, and their bytes.
        manifest_syncs: u64 => "manifestSyncs",
        manifest_tags: u64 => "manifestTags",
        tag_cache_bytes: u64 => "tagCacheBytes",
        /// Tags of revalidations not recorded yet (Redis failing), recorded after a failure,
        /// dropped from a full outbox. In tags, the unit of the outbox's bound.
        revalidations_pending: u64 => "revalidationsPending",
        revalidations_late: u64 => "revalidationsLate",
        revalidations_dropped: u64 => "revalidationsDropped",
        /// The in-memory store's entries and bytes.
        memory_entries: u64 => "memoryEntries",
        memory_bytes: u64 => "memoryBytes",
        /// Consecutive Redis connectivity failures (0 when healthy).
        redis_failures: u64 => "redisFailures",
        /// True while calls fail fast because Redis recently failed.
        circuit_open: bool => "circuitOpen",
        /// The server refuses `CLIENT TRACKING` to this user: no L1 copies, every hit reads Redis.
        tracking_refused: bool => "trackingRefused",
        /// The server refuses scripting to this user: nothing can be cached.
        scripting_refused: bool => "scriptingRefused",
    }
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camel(snake: &str) -> String {
        let mut parts = snake.split('_');
        let mut out = parts.next().unwrap_or_default().to_owned();
        for p in parts {
            let mut c = p.chars();
            out.extend(c.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(c.as_str());
        }
        out
    }

    #[test]
    fn js_names_are_the_fields_in_camel_case() {
        let names: Vec<&str> = StatsSnapshot::default().fields().map(|(n, _)| n).collect();
        let expected: Vec<String> = StatsSnapshot::RUST_NAMES.iter().map(|n| camel(n)).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_snapshot_reports_counters_and_gauges() {
        let s = Stats::default();
        bump(&s.sets);
        bump(&s.sets);
        let mut snap = s.snapshot();
        snap.circuit_open = true;
        let fields: Vec<_> = snap.fields().collect();
        assert!(fields.contains(&("sets", Stat::Count(2))));
        assert!(fields.contains(&("circuitOpen", Stat::Flag(true))));
        assert!(fields.contains(&("getErrors", Stat::Count(0))));
    }
}
