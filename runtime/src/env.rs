//! Reading a Worker's `[vars]` for the core's configuration parsers, and the Workers' clock.

use code24_shared::ports::Clock;
use worker::{Delay, Env};

/// A lookup function over the Worker's plain-text vars, as `code24_shared::config` expects.
pub fn vars(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| env.var(name).ok().map(|v| v.to_string())
}

/// Epoch milliseconds now, from the runtime clock. The only clock the Workers read; the core
/// receives its value as a parameter.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// The runtime clock, and a timer to wait on (the producer's pacing and backoff).
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    async fn sleep_until(&self, at_ms: i64) {
        let wait = at_ms - now_ms();
        if wait > 0 {
            Delay::from(std::time::Duration::from_millis(wait as u64)).await;
        }
    }
}

/// A random token that tells two invocations apart (the producer's lease owner): a version-4
/// UUID, 122 random bits from the platform's CSPRNG (`crypto.getRandomValues` in a Worker), as
/// 32 hex digits. Unlike every id the core derives, it must never repeat.
pub fn token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A seed for the core's jitter source.
pub fn entropy() -> u64 {
    (js_sys::Math::random() * (u64::MAX as f64)) as u64 ^ now_ms() as u64
}
