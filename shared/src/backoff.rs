//! Retry timing: exponential backoff with jitter, and the small deterministic random source
//! that feeds the jitter. Randomness is a parameter (a seed), so the simulation replays exactly.

use serde::{Deserialize, Serialize};

/// Exponential backoff bounds, in whole seconds because queue retry delays are whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay before the first retry (before jitter).
    pub base_s: u32,
    /// No delay exceeds this.
    pub max_s: u32,
}

impl RetryPolicy {
    /// Cloudflare Queues refuse retry delays over 12 hours.
    pub const QUEUE_MAX_DELAY_S: u32 = 43_200;

    /// Delay before retry number `attempt` (1 = the first retry): the exponential step
    /// `base * 2^(attempt-1)` capped at `max`, then "equal jitter": half of the step is kept
    /// and the other half is drawn from `entropy`. Jitter spreads the retries of a failed
    /// batch so they do not hit a recovering elite worker at the same instant; keeping half
    /// guarantees the delay still grows.
    pub fn delay_s(&self, attempt: u32, entropy: u64) -> u32 {
        let exponent = attempt.saturating_sub(1).min(31);
        let step = u64::from(self.base_s).saturating_mul(1u64 << exponent).min(u64::from(self.max_s));
        let kept = step.div_ceil(2);
        let jitter_span = step - kept;
        let delay = kept + if jitter_span == 0 { 0 } else { entropy % (jitter_span + 1) };
        (delay.max(1) as u32).min(Self::QUEUE_MAX_DELAY_S)
    }

    /// Delay before retrying a message that failed for infrastructure reasons (ledger or
    /// dead-letter queue unreachable), where no attempt was recorded: half the message's age,
    /// within `base..=max`. The delays grow with the outage as exponential backoff would, so a
    /// long outage spends few of the queue's own retries.
    pub fn delay_for_age_s(&self, age_ms: i64) -> u32 {
        let half_age_s = u32::try_from(age_ms.max(0) / 2_000).unwrap_or(u32::MAX);
        half_age_s.clamp(self.base_s.max(1), self.max_s.max(self.base_s).max(1)).min(Self::QUEUE_MAX_DELAY_S)
    }

    /// Delay before retrying such a message when it must also wait `wait_ms` first (a lease
    /// another delivery holds): the longer of [`Self::delay_for_age_s`] and
    /// [`Self::after_lease_s`], never over `max`. Retrying sooner would only meet the same lease
    /// again.
    pub fn delay_for_age_after_wait_s(&self, age_ms: i64, wait_ms: i64) -> u32 {
        self.delay_for_age_s(age_ms).max(Self::after_lease_s(wait_ms)).min(self.max_s.max(self.base_s).max(1))
    }

    /// Whole seconds until a lease of `retry_after_ms` has passed. Never shorter than the
    /// lease: a shorter retry would only meet the same lease again and spend a queue retry.
    pub fn after_lease_s(retry_after_ms: i64) -> u32 {
        let s = u32::try_from(retry_after_ms.max(0).saturating_add(999) / 1000).unwrap_or(u32::MAX);
        s.clamp(1, Self::QUEUE_MAX_DELAY_S)
    }
}

/// xorshift64*: tiny, fast and good enough for jitter and simulated faults. Not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // A zero state would stay zero forever.
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_bounds_and_grow() {
        let policy = RetryPolicy { base_s: 2, max_s: 60 };
        let mut rng = Rng::new(7);
        for attempt in 1..=12u32 {
            let step = (2u64 << (attempt - 1).min(31)).min(60) as u32;
            for _ in 0..200 {
                let d = policy.delay_s(attempt, rng.next_u64());
                assert!(d >= step.div_ceil(2) && d <= step, "attempt {attempt}: {d} not in [{}, {step}]", step.div_ceil(2));
            }
        }
    }

    #[test]
    fn delay_is_never_zero_and_never_over_the_queue_limit() {
        let tiny = RetryPolicy { base_s: 1, max_s: 1 };
        assert_eq!(tiny.delay_s(1, 0), 1);
        let huge = RetryPolicy { base_s: 3_600, max_s: u32::MAX };
        assert_eq!(huge.delay_s(40, u64::MAX), RetryPolicy::QUEUE_MAX_DELAY_S);
    }

    #[test]
    fn infrastructure_delays_grow_with_the_message_age() {
        let policy = RetryPolicy { base_s: 2, max_s: 300 };
        let check = |age_ms, expected| assert_eq!(policy.delay_for_age_s(age_ms), expected, "age {age_ms}");
        check(-5, 2);
        check(0, 2);
        check(10_000, 5);
        check(120_000, 60);
        check(86_400_000, 300);
    }

    #[test]
    fn a_wait_lengthens_the_age_delay_but_never_past_the_maximum() {
        let policy = RetryPolicy { base_s: 30, max_s: 600 };
        let check =
            |age_ms, wait_ms, expected| assert_eq!(policy.delay_for_age_after_wait_s(age_ms, wait_ms), expected, "{age_ms} {wait_ms}");
        check(0, 0, 30);
        check(0, -5, 30);
        check(0, 1, 30);
        check(0, 45_001, 46);
        check(200_000, 45_000, 100);
        check(0, 3_600_000, 600);
        check(0, i64::MAX, 600);
    }

    #[test]
    fn a_lease_is_waited_out_whole() {
        assert_eq!(RetryPolicy::after_lease_s(-5), 1);
        assert_eq!(RetryPolicy::after_lease_s(1), 1);
        assert_eq!(RetryPolicy::after_lease_s(1_001), 2);
        assert_eq!(RetryPolicy::after_lease_s(i64::MAX), RetryPolicy::QUEUE_MAX_DELAY_S);
    }

    #[test]
    fn rng_is_deterministic_per_seed() {
        let a: Vec<u64> = (0..5).scan(Rng::new(1), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..5).scan(Rng::new(1), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..5).scan(Rng::new(2), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = Rng::new(3);
        assert!(!(0..1000).any(|_| r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
    }
}
