//! The producer's sends, kept under the queue's throughput: each `send_batch` waits for its
//! slot at the configured rate ([`Pacer`], sans-IO: time is a parameter), and a refused send (a
//! 429 "Too Many Requests" or any other transient error) is retried with backoff inside the
//! invocation, holding back every later send too ([`send_paced`]). The waiting is the
//! driver's, through the [`Clock`] port: a timer on Workers, a stepped clock in the simulation.
//!
//! A 429 is not told apart from other transient send errors: the runtime only sees a JavaScript
//! error whose text is the platform's, and the answer to both is the same (wait, then retry
//! slower), so there is no string to match and no second error kind.

use std::cell::RefCell;

use crate::error::{ErrorClass, JobError};
use crate::limits::rate::SendWindow;
use crate::ports::{Clock, JobQueue};

/// Attempts of one `send_batch` inside the invocation, the first included. Backing off
/// [`SEND_RETRY_BASE_MS`] doubling up to [`SEND_RETRY_MAX_MS`], the retries wait 23.75 s in
/// all: long enough to ride out a queue's burst refusal, well inside the producer's lease
/// (renewed after every page) and a cron invocation's 15 minutes of wall time.
pub const SEND_ATTEMPTS: u32 = 8;
/// The first retry's delay.
pub const SEND_RETRY_BASE_MS: i64 = 250;
/// No retry of a send waits longer than this.
pub const SEND_RETRY_MAX_MS: i64 = 8_000;

/// Delay before retry number `retry` (1 = the first) of a refused send.
pub fn send_retry_delay_ms(retry: u32) -> i64 {
    SEND_RETRY_BASE_MS.saturating_mul(1 << retry.saturating_sub(1).min(16)).min(SEND_RETRY_MAX_MS)
}

/// Slots for sends at a steady rate: a send of `n` messages takes `n / rate` seconds of the
/// rate's budget, so sends are spread evenly, and no one-second window (the queue's measure,
/// [`SendWindow`]) ever holds more than `rate` messages.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Messages per second; 0 when unpaced.
    rate_per_s: u64,
    /// Microseconds of budget one message takes; 0 when unpaced.
    us_per_message: i64,
    /// The earliest instant (µs) the next send may start.
    next_us: i64,
    /// The slots taken, by the queue's own measure.
    window: SendWindow,
}

impl Pacer {
    /// A pacer at `rate_per_s` messages per second; 0 sends without pacing (the bench's
    /// measure of the dispatcher's own overhead).
    pub fn new(rate_per_s: u32) -> Self {
        let us_per_message = if rate_per_s == 0 { 0 } else { (1_000_000 / i64::from(rate_per_s)).max(1) };
        Self { rate_per_s: u64::from(rate_per_s), us_per_message, next_us: i64::MIN, window: SendWindow::default() }
    }

    /// When a send of `messages`, asked for at `now_ms`, may start; the slot is taken.
    pub fn slot(&mut self, now_ms: i64, messages: u64) -> i64 {
        let ceil_ms = |us: i64| us.div_euclid(1_000) + i64::from(us.rem_euclid(1_000) != 0);
        // A caller at the whole millisecond of its slot is on time; only a later one restarts
        // the even schedule from now.
        let even_us = if now_ms > ceil_ms(self.next_us) { now_ms.saturating_mul(1_000) } else { self.next_us };
        let even_ms = ceil_ms(even_us);
        let mut at = even_ms;
        if self.rate_per_s > 0 {
            // Evenly spread sends of unequal sizes can still put one batch too many in a
            // window; the window says when it fits (a batch over the rate waits for nothing).
            at = self.window.first_fit(at, messages, self.rate_per_s).unwrap_or(at);
            self.window.record(at, messages);
        }
        let messages = i64::try_from(messages).unwrap_or(i64::MAX);
        // The even schedule goes on from its own instant, unless the window held this send back.
        let base_us = if at > even_ms { at.saturating_mul(1_000) } else { even_us };
        self.next_us = base_us.saturating_add(messages.saturating_mul(self.us_per_message));
        at
    }

    /// Starts no send before `until_ms` (after a refusal: the queue is saturated for everyone).
    pub fn hold(&mut self, until_ms: i64) {
        self.next_us = self.next_us.max(until_ms.saturating_mul(1_000));
    }
}

/// Sends one batch in its paced slot, retrying a transient refusal with backoff up to
/// [`SEND_ATTEMPTS`] times (every later send waits too). Returns the retries it took; the last
/// error when it could not ride the refusals out, or at once for a permanent one.
pub async fn send_paced(queue: &impl JobQueue, clock: &impl Clock, pacer: &RefCell<Pacer>, batch: &[String]) -> Result<u32, JobError> {
    let mut retries = 0;
    loop {
        let at = pacer.borrow_mut().slot(clock.now_ms(), batch.len() as u64);
        clock.sleep_until(at).await;
        match queue.send_batch(batch).await {
            Ok(()) => return Ok(retries),
            Err(e) if e.class == ErrorClass::Transient && retries + 1 < SEND_ATTEMPTS => {
                retries += 1;
                pacer.borrow_mut().hold(clock.now_ms() + send_retry_delay_ms(retries));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_pacer_spaces_batches_at_the_rate() {
        let mut p = Pacer::new(4_000);
        let slots: Vec<i64> = (0..4).map(|_| p.slot(1_000, 100)).collect();
        assert_eq!(slots, [1_000, 1_025, 1_050, 1_075]);
        // A late ask starts at once; a hold pushes every later slot.
        assert_eq!(p.slot(5_000, 100), 5_000);
        p.hold(6_000);
        assert_eq!(p.slot(5_001, 1), 6_000);
        assert_eq!(Pacer::new(0).slot(7, 100), 7, "unpaced");
        // Odd rates round a slot up to the next whole millisecond, never down.
        let mut odd = Pacer::new(3_000);
        assert_eq!([odd.slot(0, 1), odd.slot(0, 1), odd.slot(0, 1)], [0, 1, 1]);
    }

    #[test]
    fn limits_paced_sends_stay_under_the_rate_in_every_window() {
        for (rate, batches) in [(4_000, &[100][..]), (4_900, &[100]), (1_000, &[37]), (4_000, &[1]), (4_000, &[100, 100, 7, 100, 55])] {
            let mut p = Pacer::new(rate);
            let mut w = SendWindow::default();
            let mut now = 0;
            // Three seconds of sends.
            for batch in batches.iter().cycle() {
                now = p.slot(now, *batch);
                w.record(now, *batch);
                if now > 3_000 {
                    break;
                }
            }
            assert!(w.peak_per_s() <= u64::from(rate), "rate {rate}, batches {batches:?}: peak {}", w.peak_per_s());
            assert!(
                w.peak_per_s() + batches.iter().max().unwrap() > u64::from(rate),
                "rate {rate}: the pace is kept, not undershot ({})",
                w.peak_per_s()
            );
        }
    }

    #[test]
    fn limits_send_retries_back_off_within_their_budget() {
        let delays: Vec<i64> = (1..SEND_ATTEMPTS).map(send_retry_delay_ms).collect();
        assert_eq!(delays, [250, 500, 1_000, 2_000, 4_000, 8_000, 8_000]);
        assert_eq!(delays.iter().sum::<i64>(), 23_750);
        assert!(delays.iter().sum::<i64>() < crate::pipeline::producer::PRODUCER_LEASE_MS / 2);
    }
}
