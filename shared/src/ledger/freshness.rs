//! How fresh the D1 copy of the daily rollups is. Each job shard writes its changed rollups
//! behind to D1 from its alarm (every `ROLLUP_FLUSH_SECONDS`, ledger/src/flush.rs) and keeps
//! when its last complete flush started and since when its flushes fail ([`FlushState`], in
//! its stats). [`Freshness::of`] reads the shards' states together: D1 holds every rollup change
//! made before [`Freshness::as_of_ms`], and a shard whose flush has failed for more than
//! [`STALE_AFTER_INTERVALS`] intervals is stale ([`FlushState::stale`]).

use serde::{Deserialize, Serialize};

/// A shard whose flushes have failed for more than this many flush intervals is stale: one
/// failed flush is retried by the next alarm, an interval later; two in a row is an outage.
pub const STALE_AFTER_INTERVALS: i64 = 2;

/// One job shard's write-behind of its rollups to D1, as its stats report it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushState {
    /// The shard's `ROLLUP_FLUSH_SECONDS`: how long a changed rollup waits for the flush.
    pub interval_s: u32,
    /// When the last flush that copied every dirty row started: D1 holds every change the shard
    /// made before. `None`: none since the shard kept this (or it never had a rollup).
    pub flushed_ms: Option<i64>,
    /// When the flushes started failing (the first failure since the last complete flush).
    pub failing_since_ms: Option<i64>,
    /// Rollups changed since they were last copied to D1: those folded and marked for the next
    /// flush, plus those changed in memory since the last fold (a rollup of both kinds counts
    /// twice, so this is an upper bound; zero means D1 holds every change).
    pub dirty: u64,
}

impl FlushState {
    /// Whether the flushes have failed for more than [`STALE_AFTER_INTERVALS`] intervals.
    pub fn stale(&self, now_ms: i64) -> bool {
        let allowed = STALE_AFTER_INTERVALS * i64::from(self.interval_s) * 1_000;
        self.failing_since_ms.is_some_and(|since| now_ms - since > allowed)
    }

    /// Until when D1 holds every change of this shard: now when nothing waits, else the start
    /// of the last complete flush (`None` if there was none).
    pub fn current_to(&self, now_ms: i64) -> Option<i64> {
        if self.dirty == 0 && self.failing_since_ms.is_none() {
            Some(now_ms)
        } else {
            self.flushed_ms
        }
    }
}

/// One shard's line of [`Freshness`]: its state, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFreshness {
    /// The shard's Durable Object name (`jobs-3`).
    pub shard: String,
    pub state: Option<FlushState>,
    /// Why the shard's stats could not be read (then `state` is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its flushes have failed for more than [`STALE_AFTER_INTERVALS`] intervals.
    pub stale: bool,
}

/// The D1 rollups' freshness over every job shard: `GET /api/rollups/freshness`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// When the shards were read.
    pub now_ms: i64,
    /// D1 holds every rollup change made before this instant; `None` when a shard could not be
    /// read or has changes waiting but never completed a flush.
    pub as_of_ms: Option<i64>,
    /// The longest flush interval among the shards (they share one variable).
    pub interval_s: u32,
    /// The oldest last complete flush among the shards that have one.
    pub oldest_flush_ms: Option<i64>,
    /// How many shards are stale.
    pub stale: usize,
    pub shards: Vec<ShardFreshness>,
}

impl Freshness {
    /// The freshness of the shards read at `now_ms`: each shard's name and its state or the
    /// error that kept it from being read.
    pub fn of(now_ms: i64, read: Vec<(String, Result<FlushState, String>)>) -> Self {
        let shards: Vec<ShardFreshness> = read
            .into_iter()
            .map(|(shard, state)| match state {
                Ok(state) => ShardFreshness { shard, stale: state.stale(now_ms), state: Some(state), error: None },
                Err(e) => ShardFreshness { shard, state: None, error: Some(e), stale: false },
            })
            .collect();
        let states = || shards.iter().filter_map(|s| s.state.as_ref());
        // `None` orders first: one shard of unknown freshness makes the whole unknown.
        let as_of_ms = shards.iter().map(|s| s.state.as_ref().and_then(|state| state.current_to(now_ms))).min().flatten();
        Self {
            now_ms,
            as_of_ms,
            interval_s: states().map(|s| s.interval_s).max().unwrap_or(0),
            oldest_flush_ms: states().filter_map(|s| s.flushed_ms).min(),
            stale: shards.iter().filter(|s| s.stale).count(),
            shards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn state(flushed: Option<i64>, failing: Option<i64>, dirty: u64) -> FlushState {
        FlushState { interval_s: 3_600, flushed_ms: flushed, failing_since_ms: failing, dirty }
    }

    #[test]
    fn a_shard_is_stale_once_its_flushes_fail_for_more_than_two_intervals() {
        let now = 100 * HOUR;
        assert!(!state(Some(now - 5 * HOUR), None, 10).stale(now), "not failing: waiting is not stale");
        assert!(!state(Some(now - 3 * HOUR), Some(now - HOUR), 10).stale(now), "one failed flush is retried");
        assert!(!state(Some(now - 3 * HOUR), Some(now - 2 * HOUR), 10).stale(now), "exactly two intervals");
        assert!(state(Some(now - 3 * HOUR), Some(now - 2 * HOUR - 1), 10).stale(now));
        assert!(state(None, Some(now - 3 * HOUR), 0).stale(now), "never flushed, failing");
        let local = FlushState { interval_s: 30, ..state(None, Some(now - 61_000), 1) };
        assert!(local.stale(now), "the interval is the shard's own");
    }

    #[test]
    fn d1_is_as_fresh_as_the_shard_furthest_behind() {
        let now = 100 * HOUR;
        let all = Freshness::of(
            now,
            vec![
                ("jobs-0".into(), Ok(state(Some(now - HOUR), None, 0))),
                ("jobs-1".into(), Ok(state(Some(now - 40 * 60_000), None, 3))),
                ("jobs-2".into(), Ok(state(Some(now - 4 * HOUR), Some(now - 3 * HOUR), 7))),
            ],
        );
        assert_eq!(all.as_of_ms, Some(now - 4 * HOUR), "the failing shard holds D1 back");
        assert_eq!((all.oldest_flush_ms, all.stale, all.interval_s), (Some(now - 4 * HOUR), 1, 3_600));
        assert_eq!(all.shards.iter().map(|s| s.stale).collect::<Vec<_>>(), [false, false, true]);

        let clean = Freshness::of(now, vec![("jobs-0".into(), Ok(state(None, None, 0)))]);
        assert_eq!(clean.as_of_ms, Some(now), "nothing waits: D1 is current");
        let unread = Freshness::of(now, vec![("jobs-0".into(), Ok(state(Some(1), None, 0))), ("jobs-1".into(), Err("HTTP 500".into()))]);
        assert_eq!((unread.as_of_ms, unread.shards[1].error.as_deref()), (None, Some("HTTP 500")), "unknown, not guessed");
        let never = Freshness::of(now, vec![("jobs-0".into(), Ok(state(None, None, 2)))]);
        assert_eq!(never.as_of_ms, None, "changes wait and no flush completed yet");
        assert_eq!(Freshness::of(now, Vec::new()).as_of_ms, None);
    }
}
