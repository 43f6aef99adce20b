//! Invalidation lag: how long after a revalidation was recorded this process applied it. The
//! revalidation script moves the epoch to at least `now_ms * 1000` (the recording process's
//! clock), so a sync from epoch `a` to `b` learns that the last change was recorded at
//! `b / 1000` ms. Samples wait here (bounded) until JS takes them for its histogram; the first
//! sync of a process and syncs after a loss are not samples (they say nothing about lateness).

use std::collections::VecDeque;
use std::sync::Mutex;

/// Samples kept until taken: a process nobody scrapes keeps the latest ones only.
const MAX_SAMPLES: usize = 1024;
/// Epochs below this are counters from before the epoch carried time (`now_ms * 1000`).
const FIRST_TIMED_EPOCH: i64 = 1_000_000_000_000_000;

#[derive(Default)]
pub struct Lags {
    samples: Mutex<VecDeque<f64>>,
}

impl Lags {
    /// A sync from epoch `from` reached `to` at `now_ms`.
    pub fn note(&self, from: i64, to: i64, now_ms: f64) {
        if to <= from || to < FIRST_TIMED_EPOCH {
            return;
        }
        let recorded_ms = (to / 1000) as f64;
        // Clocks of two machines: a change "recorded" after now is skew, not a negative lag.
        let lag = (now_ms - recorded_ms).max(0.0);
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() == MAX_SAMPLES {
            s.pop_front();
        }
        s.push_back(lag);
    }

    /// The samples (ms) since the last call.
    pub fn take(&self) -> Vec<f64> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_to_a_later_epoch_is_a_sample_of_how_late_it_came() {
        let l = Lags::default();
        let recorded = 1_800_000_000_000.0;
        l.note(1_700_000_000_000_000, (recorded as i64) * 1000 + 3, recorded + 25.0);
        l.note(5, 5, recorded); // nothing new
        l.note(1, 2, recorded); // an old counter epoch: no time in it
        assert_eq!(l.take(), vec![25.0]);
        assert!(l.take().is_empty());
        for i in 0..(MAX_SAMPLES + 10) {
            l.note(0, (recorded as i64) * 1000, recorded + i as f64);
        }
        let s = l.take();
        assert_eq!(s.len(), MAX_SAMPLES);
        assert_eq!(s[0], 10.0, "the oldest dropped first");
    }
}
