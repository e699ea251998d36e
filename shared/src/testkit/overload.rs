//! The simulation's overload figures: elite calls per period against a simulated capacity,
//! and how stale each site gets. The elite twin is given a capacity by time: each call holds
//! the simulated elite workers for [`EliteCapacity::call_ms`] of simulated time, one call after
//! another, so demand beyond it makes the consumers fall behind, as slow elites would.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::testkit::ports::SimClock;

/// The simulated elite workers' capacity, and the calls they served by period.
#[derive(Debug)]
pub struct EliteCapacity {
    /// Simulated time one call holds the elite workers (0: unlimited, no time passes).
    pub call_ms: i64,
    /// The first firing, from which periods are counted.
    pub start_ms: i64,
    /// Calls take `call_ms` from this instant on; before, no time.
    pub slow_from_ms: i64,
    /// The sweep interval: one period.
    pub period_ms: i64,
    /// Calls served, by period index.
    pub calls: RefCell<BTreeMap<i64, u64>>,
}

impl EliteCapacity {
    /// Serves one call: counts it in the period it starts in, then lets its time pass.
    pub fn serve(&self, clock: &SimClock) {
        let period = (clock.get() - self.start_ms).div_euclid(self.period_ms.max(1));
        *self.calls.borrow_mut().entry(period).or_default() += 1;
        if clock.get() >= self.slow_from_ms {
            clock.set(clock.get() + self.call_ms);
        }
    }

    /// The most calls one period can serve: calls start at least `call_ms` apart.
    pub fn per_period(&self) -> u64 {
        if self.call_ms <= 0 {
            return u64::MAX;
        }
        (self.period_ms + self.call_ms - 1).div_euclid(self.call_ms) as u64
    }

    /// Calls per period, in period order (periods without calls count 0).
    pub fn by_period(&self) -> Vec<u64> {
        let calls = self.calls.borrow();
        let last = calls.keys().next_back().copied().unwrap_or(-1);
        (0..=last).map(|p| calls.get(&p).copied().unwrap_or(0)).collect()
    }
}

/// The longest run of consecutive sweeps without a result, over every site: `results[s][k]`
/// says whether site `s` has sweep `k`'s result. A site with a result at least once every K
/// sweeps has runs of at most K - 1.
pub fn longest_without_result(results: &[Vec<bool>]) -> u64 {
    results
        .iter()
        .map(|sweeps| {
            let (mut run, mut longest) = (0u64, 0u64);
            for has in sweeps {
                run = if *has { 0 } else { run + 1 };
                longest = longest.max(run);
            }
            longest
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_staleness_is_the_longest_run_without_a_result() {
        assert_eq!(longest_without_result(&[]), 0);
        assert_eq!(longest_without_result(&[vec![true, true]]), 0);
        assert_eq!(longest_without_result(&[vec![true, false, false, true], vec![false, true, false]]), 2);
        assert_eq!(longest_without_result(&[vec![false; 5]]), 5);
    }

    #[test]
    fn overload_capacity_counts_calls_in_the_period_they_start_and_lets_their_time_pass() {
        let clock = SimClock::at(1_000);
        let cap = EliteCapacity { call_ms: 400, start_ms: 1_000, slow_from_ms: 1_000, period_ms: 1_000, calls: RefCell::default() };
        for _ in 0..4 {
            cap.serve(&clock);
        }
        assert_eq!(clock.get(), 2_600);
        assert_eq!(cap.by_period(), [3, 1]);
        assert_eq!(cap.per_period(), 3);
    }
}
