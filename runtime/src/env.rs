//! Reading a Worker's `[vars]` for the core's configuration parsers.

use worker::Env;

/// A lookup function over the Worker's plain-text vars, as `code24_shared::config` expects.
pub fn vars(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| env.var(name).ok().map(|v| v.to_string())
}

/// Epoch milliseconds now, from the runtime clock. The only clock the Workers read; the core
/// receives its value as a parameter.
pub fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// A random hex token, unique enough to tell two invocations apart (producer lease owners).
pub fn token() -> String {
    format!("{:016x}", entropy())
}

/// A seed for the core's jitter source.
pub fn entropy() -> u64 {
    (js_sys::Math::random() * (u64::MAX as f64)) as u64 ^ now_ms() as u64
}
