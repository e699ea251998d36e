//! Runtime configuration read from a Worker's `[vars]`, validated in one place so a bad value
//! is refused at the first request with a message naming the variable, instead of surfacing
//! later as odd behaviour.

use std::fmt;
use std::str::FromStr;

use crate::backoff::RetryPolicy;
use crate::elite::EliteRole;
use crate::limits::{self, HEADROOM_PERCENT, QUEUE_SEND_BATCH_MESSAGES, QUEUE_SEND_RATE_PER_S};
use crate::names::{var, Environment};
use crate::pipeline::budget::connection_budget;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration variable {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Reads one variable through `lookup` (the Worker's env, or a map in tests).
fn required(lookup: &dyn Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    lookup(name).ok_or_else(|| ConfigError { variable: name, problem: "is not set".into() })
}

/// Reads a number within `min..=max`, using `default` when the variable is absent.
fn number<T>(lookup: &dyn Fn(&str) -> Option<String>, name: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Copy + fmt::Display,
{
    let Some(raw) = lookup(name) else { return Ok(default) };
    let value: T = raw.trim().parse().map_err(|_| ConfigError { variable: name, problem: format!("{raw:?} is not a whole number") })?;
    if value < min || value > max {
        return Err(ConfigError { variable: name, problem: format!("{value} is outside {min}..={max}") });
    }
    Ok(value)
}

/// Reads `ENVIRONMENT`, which every Worker needs.
pub fn environment(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Environment, ConfigError> {
    let raw = required(lookup, var::ENVIRONMENT)?;
    Environment::parse(&raw).ok_or_else(|| ConfigError {
        variable: var::ENVIRONMENT,
        problem: format!("{raw:?} is not one of local, dev, staging, production"),
    })
}

/// How long after a monthly report's slot the dispatcher still catches it up when it did not
/// run (`CATCH_UP_WINDOW_HOURS`, default 72, at most four weeks).
pub fn catch_up_window_hours(lookup: &dyn Fn(&str) -> Option<String>) -> Result<u32, ConfigError> {
    number(lookup, var::CATCH_UP_WINDOW_HOURS, 72, 1, 24 * 28)
}

/// The dead-letter store's size at which the dead-letters consumer and the admin API say it
/// nears capacity (`DEAD_LETTER_WARN_ROWS`, default [`DEFAULT_DEAD_LETTER_WARN_ROWS`]). The
/// store never drops an entry to make room: this only decides when it asks for some.
pub fn dead_letter_warn_rows(lookup: &dyn Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    number(lookup, var::DEAD_LETTER_WARN_ROWS, DEFAULT_DEAD_LETTER_WARN_ROWS, 1, MAX_DEAD_LETTER_WARN_ROWS)
}

/// A switch: `on` or `off`, `default` when unset; anything else is an error naming `variable`.
fn on_off(lookup: &dyn Fn(&str) -> Option<String>, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
    match lookup(variable).as_deref().map(str::trim) {
        None => Ok(default),
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(other) => {
            let problem = format!("must be \"on\" or \"off\", not {:?}", crate::api::truncated(other, 40));
            Err(ConfigError { variable, problem })
        }
    }
}

/// Whether the optimizer asks the elite circuit breakers before its claims and tells them its
/// calls (`BREAKERS_ENABLED`, `on` when unset): `off` is the breakers' off switch, every job
/// then worked as if every role were closed (`crate::breaker`).
pub fn breakers_enabled(lookup: &dyn Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    on_off(lookup, var::BREAKERS_ENABLED, true)
}

/// Default of `DEAD_LETTER_WARN_ROWS`.
pub const DEFAULT_DEAD_LETTER_WARN_ROWS: u64 = 100_000;
/// Largest accepted `DEAD_LETTER_WARN_ROWS`: a D1 database holds at most 10 GB, which ten
/// million rows of a kilobyte already fill, so a larger threshold could never warn in time.
const MAX_DEAD_LETTER_WARN_ROWS: u64 = 10_000_000;

/// The dispatcher's `[limits] subrequests` in every deployed environment (the configuration
/// check requires at least this): a fan-out of N sites makes about N / 100 sends, N / 2,000
/// page reads and cursor records, so 1,000,000 sites need about 11,000, over the platform's
/// default of [`limits::SUBREQUESTS_DEFAULT`]; 20,000 keeps 1,000,000 sites within the
/// design's headroom (80 %: 16,000, about 1,450,000 sites). The dispatcher's meter counts
/// against it. Raisable up to [`limits::SUBREQUESTS_MAX`]; subrequests are not billed.
pub const DISPATCHER_SUBREQUESTS: u64 = 20_000;

/// Configuration of the producer (the dispatcher's fan-outs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Messages per second the producer sends to a queue (`QUEUE_SEND_RATE_PER_S`, default
    /// [`ProducerConfig::DEFAULT_SEND_RATE_PER_S`]); 0 sends unpaced, which only a local stack
    /// accepts (the bench measures the dispatcher's own overhead that way).
    pub send_rate_per_s: u32,
    /// Whether the dispatcher replays the dead letters a healed elite outage caused once its
    /// breaker closes (`BREAKER_AUTO_REPLAY` = `on`; off when unset; `crate::breaker::replay`).
    pub auto_replay: bool,
}

impl ProducerConfig {
    /// The design's share ([`crate::limits::HEADROOM_PERCENT`]) of a queue's throughput.
    pub const DEFAULT_SEND_RATE_PER_S: u32 = (QUEUE_SEND_RATE_PER_S * HEADROOM_PERCENT / 100) as u32;
    /// The highest rate accepted: a paced window may hold one batch more than the rate, and
    /// must still stay under the queue's cap.
    pub const MAX_SEND_RATE_PER_S: u32 = (QUEUE_SEND_RATE_PER_S - QUEUE_SEND_BATCH_MESSAGES) as u32;

    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let local = environment(lookup)? == Environment::Local;
        let min = if local { 0 } else { 1 };
        let send_rate_per_s = number(lookup, var::QUEUE_SEND_RATE_PER_S, Self::DEFAULT_SEND_RATE_PER_S, min, Self::MAX_SEND_RATE_PER_S)?;
        let auto_replay = on_off(lookup, var::BREAKER_AUTO_REPLAY, false)?;
        Ok(Self { send_rate_per_s, auto_replay })
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self { send_rate_per_s: Self::DEFAULT_SEND_RATE_PER_S, auto_replay: false }
    }
}

/// Configuration of the optimizer consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    pub environment: Environment,
    /// Each elite call is abandoned (as a transient failure) after this long.
    pub elite_timeout_ms: u32,
    /// A job failing transiently this many times is dead-lettered.
    pub max_attempts: u32,
    pub retry: RetryPolicy,
    /// Most elite calls (and other connections: the work step's R2 calls, the per-shard ledger
    /// requests) one invocation keeps open at once. At most
    /// [`connection_budget`](crate::pipeline::budget::connection_budget) (4 of the platform's
    /// [`limits::CONNECTIONS`]: beyond 6 the platform makes further calls wait, and a call's
    /// timeout would run while it waits; the rest is the design's headroom). At least one job's
    /// calls ([`ELITE_CALLS_PER_JOB`]), which one job makes at once.
    pub elite_calls_in_flight: u32,
}

/// The elite calls of one optimization job, made at once: one per role.
pub const ELITE_CALLS_PER_JOB: u32 = EliteRole::ALL.len() as u32;

impl ConsumerConfig {
    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let base_s = number(lookup, var::RETRY_BASE_SECONDS, 5, 1, 3_600)?;
        let max_s = number(lookup, var::RETRY_MAX_SECONDS, 300, 1, RetryPolicy::QUEUE_MAX_DELAY_S)?;
        if max_s < base_s {
            return Err(ConfigError {
                variable: var::RETRY_MAX_SECONDS,
                problem: format!("{max_s} is below {} ({base_s})", var::RETRY_BASE_SECONDS),
            });
        }
        Ok(Self {
            environment: environment(lookup)?,
            elite_timeout_ms: number(lookup, var::ELITE_TIMEOUT_MS, 10_000, 100, 600_000)?,
            max_attempts: number(lookup, var::MAX_ATTEMPTS, 5, 1, 50)?,
            retry: RetryPolicy { base_s, max_s },
            elite_calls_in_flight: number(
                lookup,
                var::ELITE_CALLS_IN_FLIGHT,
                connection_budget(),
                ELITE_CALLS_PER_JOB,
                connection_budget(),
            )?,
        })
    }

    /// How long a claim holds a job before another delivery may take it over: long enough for
    /// the three concurrent elite calls and the R2 write, short enough to recover quickly
    /// from a consumer that died mid-job.
    pub fn lease_ms(&self) -> i64 {
        i64::from(self.elite_timeout_ms) + 20_000
    }
}

/// Configuration of the ledger host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Finished sweeps (and their job rows) older than this are pruned by the alarm.
    pub retention_hours: u32,
    /// How long changed rollups wait for the alarm's flush to D1 (`ROLLUP_FLUSH_SECONDS`): the
    /// D1 copy lags the shard by about this much, and D1 takes one upsert per customer and
    /// day per flush.
    pub rollup_flush_s: u32,
}

/// The shortest job retention that outlives every message of a queue keeping messages
/// `queue_retention_s`: the retention rounded up to whole hours, plus a day of margin (a
/// message's delivery delay and clock skew). A shorter one could let a late redelivery of a
/// pruned, succeeded job run again.
pub const fn min_job_retention_hours(queue_retention_s: u64) -> u32 {
    (queue_retention_s.div_ceil(3_600) + 24) as u32
}

/// The message retention of the queues a consumer reads (`QUEUE_RETENTION_SECONDS`, required,
/// from a minute to Cloudflare's maximum). wrangler.toml has no key for it: `cargo xtask
/// deploy` applies it to each queue, and the configuration check compares it with the ledger's
/// job retention.
pub fn queue_retention_s(lookup: &dyn Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    required(lookup, var::QUEUE_RETENTION_SECONDS)?;
    number(lookup, var::QUEUE_RETENTION_SECONDS, 0, 60, limits::QUEUE_RETENTION_MAX_S)
}

/// The longest retention of optimization results a deployment may declare, in days (ten
/// years: beyond it the rule is no rule).
pub const MAX_OPTIMIZATIONS_RETENTION_DAYS: u64 = 3_650;

/// How long the results bucket keeps optimization results (`OPTIMIZATIONS_RETENTION_DAYS`,
/// required, declared by the optimizer, the Worker that writes them): the bucket's lifecycle
/// rule expires `optimization::OPTIMIZATIONS_PREFIX` after it (reports and health checks are
/// kept). wrangler.toml has no key for it: `cargo xtask deploy` applies it. Nothing in the
/// pipeline reads an old result back (a recovery looks only at its own sweep's object, within a
/// lease), so one day is the shortest it may be.
pub fn optimizations_retention_days(lookup: &dyn Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    required(lookup, var::OPTIMIZATIONS_RETENTION_DAYS)?;
    number(lookup, var::OPTIMIZATIONS_RETENTION_DAYS, 0, 1, MAX_OPTIMIZATIONS_RETENTION_DAYS)
}

impl LedgerConfig {
    /// A job row must outlive every message that could still name it, whatever retention a
    /// queue is given: the longest a queue may keep a message ([`limits::QUEUE_RETENTION_MAX_S`])
    /// plus a day. The replay window of dead letters relies on it too.
    pub const MIN_RETENTION_HOURS: u32 = min_job_retention_hours(limits::QUEUE_RETENTION_MAX_S);

    /// The flush delay when none is set: an hour, so at 100,000 customers D1 takes about 28
    /// upserts a second (100,000 an hour) instead of one per job (556 a second).
    pub const DEFAULT_ROLLUP_FLUSH_S: u32 = 3_600;

    pub fn from_vars(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            retention_hours: number(lookup, var::SWEEP_RETENTION_HOURS, 360, Self::MIN_RETENTION_HOURS, 24 * 90)?,
            rollup_flush_s: number(lookup, var::ROLLUP_FLUSH_SECONDS, Self::DEFAULT_ROLLUP_FLUSH_S, 1, 86_400)?,
        })
    }

    /// The flush delay in milliseconds.
    pub fn rollup_flush_ms(&self) -> i64 {
        i64::from(self.rollup_flush_s) * 1_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn consumer_config_defaults_and_overrides() {
        let c = ConsumerConfig::from_vars(&vars(&[("ENVIRONMENT", "local"), ("MAX_ATTEMPTS", "3")])).unwrap();
        assert_eq!(c.environment, Environment::Local);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.elite_timeout_ms, 10_000);
        assert_eq!(c.retry, RetryPolicy { base_s: 5, max_s: 300 });
    }

    #[test]
    fn limits_producer_config_paces_under_the_queue_cap() {
        let rate = |pairs: &[(&str, &str)]| ProducerConfig::from_vars(&vars(pairs)).map(|c| c.send_rate_per_s);
        assert_eq!(rate(&[("ENVIRONMENT", "production")]), Ok(4_000));
        assert_eq!(rate(&[("ENVIRONMENT", "local"), ("QUEUE_SEND_RATE_PER_S", "0")]), Ok(0));
        for (env, value) in [("production", "0"), ("local", "4901"), ("dev", "fast")] {
            let err = rate(&[("ENVIRONMENT", env), ("QUEUE_SEND_RATE_PER_S", value)]).unwrap_err();
            assert_eq!(err.variable, "QUEUE_SEND_RATE_PER_S", "{env} {value}");
        }
    }

    fn check_error(pairs: &[(&str, &str)], variable: &str, fragment: &str) {
        let err = ConsumerConfig::from_vars(&vars(pairs)).unwrap_err();
        assert_eq!(err.variable, variable);
        assert!(err.to_string().contains(fragment), "{err}");
    }

    #[test]
    fn job_retention_is_derived_from_the_queue_retention() {
        assert_eq!(LedgerConfig::MIN_RETENTION_HOURS, 15 * 24, "14 days of queue retention and a day");
        assert_eq!(min_job_retention_hours(345_600), 5 * 24);
        assert_eq!(min_job_retention_hours(3_601), 26);
        assert_eq!(queue_retention_s(&vars(&[("QUEUE_RETENTION_SECONDS", "345600")])), Ok(345_600));
        assert_eq!(queue_retention_s(&vars(&[])).unwrap_err().problem, "is not set");
        let too_long = queue_retention_s(&vars(&[("QUEUE_RETENTION_SECONDS", "1209601")])).unwrap_err();
        assert!(too_long.problem.contains("outside 60..=1209600"), "{too_long}");
    }

    #[test]
    fn the_optimizations_retention_is_required_and_bounded() {
        assert_eq!(optimizations_retention_days(&vars(&[("OPTIMIZATIONS_RETENTION_DAYS", "30")])), Ok(30));
        assert_eq!(optimizations_retention_days(&vars(&[])).unwrap_err().problem, "is not set");
        for bad in ["0", "3651", "a month"] {
            let err = optimizations_retention_days(&vars(&[("OPTIMIZATIONS_RETENTION_DAYS", bad)])).unwrap_err();
            assert_eq!(err.variable, "OPTIMIZATIONS_RETENTION_DAYS", "{bad}");
        }
    }

    #[test]
    fn elite_calls_in_flight_stay_within_the_connections_and_above_one_job() {
        let read = |v: &str| ConsumerConfig::from_vars(&vars(&[("ENVIRONMENT", "dev"), ("ELITE_CALLS_IN_FLIGHT", v)]));
        assert_eq!(read("3").unwrap().elite_calls_in_flight, 3);
        assert_eq!(ConsumerConfig::from_vars(&vars(&[("ENVIRONMENT", "dev")])).unwrap().elite_calls_in_flight, 4);
        assert!(read("2").unwrap_err().problem.contains("outside 3..=4"));
        // Five or six fit the platform's six, but not the design's headroom.
        assert!(read("5").unwrap_err().problem.contains("outside 3..=4"));
    }

    #[test]
    fn retention_cannot_undercut_the_queue_retention() {
        let err = LedgerConfig::from_vars(&vars(&[("SWEEP_RETENTION_HOURS", "24")])).unwrap_err();
        assert_eq!(err.variable, "SWEEP_RETENTION_HOURS");
        assert_eq!(LedgerConfig::from_vars(&vars(&[])).unwrap().retention_hours, 360);
        assert_eq!(LedgerConfig::from_vars(&vars(&[])).unwrap().rollup_flush_s, 3_600);
        assert_eq!(LedgerConfig::from_vars(&vars(&[("ROLLUP_FLUSH_SECONDS", "30")])).unwrap().rollup_flush_ms(), 30_000);
        assert_eq!(LedgerConfig::from_vars(&vars(&[("ROLLUP_FLUSH_SECONDS", "0")])).unwrap_err().variable, "ROLLUP_FLUSH_SECONDS");
    }

    #[test]
    fn the_dead_letter_warning_size_is_read_or_refused_never_guessed() {
        let check = |pairs: &[(&str, &str)], expected: Result<u64, &str>| {
            let got = dead_letter_warn_rows(&vars(pairs)).map_err(|e| {
                assert_eq!(e.variable, "DEAD_LETTER_WARN_ROWS");
                e.to_string()
            });
            match expected {
                Ok(rows) => assert_eq!(got, Ok(rows), "{pairs:?}"),
                Err(fragment) => assert!(got.as_ref().is_err_and(|e| e.contains(fragment)), "{pairs:?}: {got:?}"),
            }
        };
        check(&[], Ok(100_000));
        check(&[("DEAD_LETTER_WARN_ROWS", "250")], Ok(250));
        check(&[("DEAD_LETTER_WARN_ROWS", " 250 ")], Ok(250));
        check(&[("DEAD_LETTER_WARN_ROWS", "lots")], Err("\"lots\" is not a whole number"));
        check(&[("DEAD_LETTER_WARN_ROWS", "-5")], Err("\"-5\" is not a whole number"));
        check(&[("DEAD_LETTER_WARN_ROWS", "")], Err("\"\" is not a whole number"));
        check(&[("DEAD_LETTER_WARN_ROWS", "0")], Err("0 is outside 1..=10000000"));
        check(&[("DEAD_LETTER_WARN_ROWS", "20000000")], Err("outside"));
    }

    #[test]
    fn bad_config_is_refused_with_the_variable_named() {
        check_error(&[], "ENVIRONMENT", "is not set");
        check_error(&[("ENVIRONMENT", "prod")], "ENVIRONMENT", "not one of");
        check_error(&[("ENVIRONMENT", "dev"), ("MAX_ATTEMPTS", "x")], "MAX_ATTEMPTS", "not a whole number");
        check_error(&[("ENVIRONMENT", "dev"), ("MAX_ATTEMPTS", "0")], "MAX_ATTEMPTS", "outside 1..=50");
        check_error(&[("ENVIRONMENT", "dev"), ("RETRY_BASE_SECONDS", "60"), ("RETRY_MAX_SECONDS", "10")], "RETRY_MAX_SECONDS", "below");
    }

    #[test]
    fn switches_are_on_or_off_and_the_breakers_are_on_by_default() {
        assert!(breakers_enabled(&vars(&[])).unwrap());
        assert!(!breakers_enabled(&vars(&[("BREAKERS_ENABLED", " off ")])).unwrap());
        assert!(breakers_enabled(&vars(&[("BREAKERS_ENABLED", "on")])).unwrap());
        let err = breakers_enabled(&vars(&[("BREAKERS_ENABLED", "false")])).unwrap_err();
        assert_eq!((err.variable, err.problem.as_str()), ("BREAKERS_ENABLED", "must be \"on\" or \"off\", not \"false\""));
        let producer =
            |v: &str| ProducerConfig::from_vars(&vars(&[("ENVIRONMENT", "dev"), ("BREAKER_AUTO_REPLAY", v)])).map(|c| c.auto_replay);
        assert_eq!((producer("on"), producer("off")), (Ok(true), Ok(false)));
        assert_eq!(producer("yes").unwrap_err().variable, "BREAKER_AUTO_REPLAY");
    }
}
