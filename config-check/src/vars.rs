//! The vars each Worker must set explicitly in every environment (defaults in code are for
//! tests; a deployed environment states its values), and each Worker's own parser of them, so
//! a value the Worker would refuse at run time is refused by the check first. Read by the
//! table of Workers (`workers.rs`).

use code24_shared::config::{self, ConfigError, ConsumerConfig, LedgerConfig};
use code24_shared::names::var;

use crate::workers::Lookup;

/// The vars of the Workers that read the dead-letter store's warning size: the dead-letters
/// consumer and the dispatcher's admin API.
fn dead_letter_store_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    config::environment(lookup)?;
    config::dead_letter_warn_rows(lookup).map(drop)
}

/// The optimizer's and the reports consumer's vars: both read a [`ConsumerConfig`], and
/// declare their queue's retention.
pub(crate) fn consumer_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    ConsumerConfig::from_vars(lookup)?;
    config::queue_retention_s(lookup).map(drop)
}

/// The optimizer's vars: a consumer's, the breakers' off switch (`BREAKERS_ENABLED`), and how
/// long its results are kept (the results bucket's lifecycle rule, which `cargo xtask deploy`
/// applies).
pub(crate) fn optimizer_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    consumer_vars(lookup)?;
    config::breakers_enabled(lookup)?;
    config::optimizations_retention_days(lookup).map(drop)
}

/// The dead-letters consumer's vars: the store's warning size and its queues' retention.
pub(crate) fn dead_letters_consumer_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    dead_letter_store_vars(lookup)?;
    config::queue_retention_s(lookup).map(drop)
}

/// The dispatcher's vars: the dead-letter store's warning size (its admin API), its fan-outs'
/// pace ([`config::ProducerConfig`]) and the Access application (both or neither).
pub(crate) fn dispatcher_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    dead_letter_store_vars(lookup)?;
    config::ProducerConfig::from_vars(lookup)?;
    let (team, aud) = (lookup(var::ACCESS_TEAM_DOMAIN), lookup(var::ACCESS_AUD));
    code24_shared::access::config_from(team.as_deref(), aud.as_deref())
        .map(drop)
        .map_err(|problem| ConfigError { variable: var::ACCESS_TEAM_DOMAIN, problem })
}

pub(crate) fn ledger_vars(lookup: Lookup<'_>) -> Result<(), ConfigError> {
    config::environment(lookup)?;
    LedgerConfig::from_vars(lookup).map(drop)
}

/// The vars of a [`ConsumerConfig`] (optimizer, reports), each set explicitly everywhere.
pub(crate) const CONSUMER_VARS: &[&str] = &[
    var::ENVIRONMENT,
    var::ELITE_TIMEOUT_MS,
    var::MAX_ATTEMPTS,
    var::RETRY_BASE_SECONDS,
    var::RETRY_MAX_SECONDS,
    var::ELITE_CALLS_IN_FLIGHT,
    var::QUEUE_RETENTION_SECONDS,
];

/// The optimizer's vars: a consumer's, `OPTIMIZATIONS_RETENTION_DAYS` (it writes the results
/// the bucket's lifecycle rule expires) and `BREAKERS_ENABLED`.
pub(crate) const OPTIMIZER_VARS: &[&str] = &[
    var::ENVIRONMENT,
    var::ELITE_TIMEOUT_MS,
    var::MAX_ATTEMPTS,
    var::RETRY_BASE_SECONDS,
    var::RETRY_MAX_SECONDS,
    var::ELITE_CALLS_IN_FLIGHT,
    var::QUEUE_RETENTION_SECONDS,
    var::OPTIMIZATIONS_RETENTION_DAYS,
    var::BREAKERS_ENABLED,
];
