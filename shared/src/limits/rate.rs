//! Messages per second through one queue, over any one-second window, sans-IO (time is a
//! parameter). The queue twin uses it to refuse sends beyond the queue's throughput, as the
//! platform answers 429; the bench reads its peak for the capacity table.

use std::collections::VecDeque;

/// The width of the window a rate is measured over.
pub const WINDOW_MS: i64 = 1_000;

/// Sends accepted in the last [`WINDOW_MS`], and the most ever accepted within one window.
#[derive(Debug, Clone, Default)]
pub struct SendWindow {
    /// (time, messages) of each accepted send inside the current window, oldest first.
    recent: VecDeque<(i64, u64)>,
    /// Messages in `recent`, summed.
    in_window: u64,
    peak: u64,
}

impl SendWindow {
    /// Messages accepted in the window ending at `now_ms` (sends at or before
    /// `now_ms - WINDOW_MS` have left it).
    pub fn in_window(&mut self, now_ms: i64) -> u64 {
        while let Some(&(at, n)) = self.recent.front() {
            if at > now_ms - WINDOW_MS {
                break;
            }
            self.recent.pop_front();
            self.in_window -= n;
        }
        self.in_window
    }

    /// Accepts `messages` at `now_ms` if the window stays within `cap` messages, and says
    /// whether it did.
    pub fn admit(&mut self, now_ms: i64, messages: u64, cap: u64) -> bool {
        if self.in_window(now_ms) + messages > cap {
            return false;
        }
        self.record(now_ms, messages);
        true
    }

    /// The earliest instant at or after `from_ms` when `messages` more fit in the window under
    /// `cap` (`None` when they never can: more than `cap` at once). Asked with instants that
    /// never go back: the window forgets what left it.
    pub fn first_fit(&mut self, from_ms: i64, messages: u64, cap: u64) -> Option<i64> {
        if messages > cap {
            return None;
        }
        let mut at = from_ms;
        while self.in_window(at) + messages > cap {
            // Not empty: something is in the window. Wait until the oldest send leaves it.
            at = self.recent.front().map_or(at, |(sent, _)| sent + WINDOW_MS);
        }
        Some(at)
    }

    /// Records `messages` sent at `now_ms` without a cap (for measuring a rate).
    pub fn record(&mut self, now_ms: i64, messages: u64) {
        self.in_window(now_ms);
        self.recent.push_back((now_ms, messages));
        self.in_window += messages;
        self.peak = self.peak.max(self.in_window);
    }

    /// The most messages ever inside one window: the peak rate in messages per second.
    pub fn peak_per_s(&self) -> u64 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_send_window_admits_up_to_the_cap_per_second() {
        let mut w = SendWindow::default();
        assert!(w.admit(0, 3_000, 5_000));
        assert!(w.admit(500, 2_000, 5_000));
        assert!(!w.admit(999, 1, 5_000), "5,000 already in the window");
        assert!(w.admit(1_000, 3_000, 5_000), "the first send left the window");
        assert_eq!(w.in_window(1_000), 5_000);
        assert_eq!(w.peak_per_s(), 5_000);
        assert_eq!(w.in_window(10_000), 0);
        let mut w = SendWindow::default();
        w.record(0, 3_000);
        w.record(400, 2_000);
        assert_eq!(w.first_fit(500, 1, 5_000), Some(1_000));
        assert_eq!(w.first_fit(1_000, 3_000, 5_000), Some(1_000));
        assert_eq!(w.first_fit(1_000, 3_001, 5_000), Some(1_400));
        assert_eq!(w.first_fit(2_000, 5_001, 5_000), None);
    }

    #[test]
    fn limits_send_window_measures_the_peak_rate() {
        let mut w = SendWindow::default();
        for t in 0..100 {
            w.record(t * 25, 100);
        }
        // 100 messages every 25 ms: 40 sends in any second.
        assert_eq!(w.peak_per_s(), 4_000);
    }
}
