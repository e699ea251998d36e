//! The subcommands, one module per API area: [`audit`] (the audit log), [`breakers`] (the
//! elite circuit breakers), [`dlq`] (dead letters: list, show), [`selection`]
//! (replay and purge), [`sweeps`] and [`sites`]. Each validates its arguments with the shared
//! API types first and asks [`Ctx`] for a client only then, so a bad argument exits 2 before
//! any configuration is read or any request is sent.
//!
//! This module also holds what several commands share: the dead-letter filter flags and the
//! argument parsers built on `code24_shared`'s validating types.

pub(crate) mod audit;
pub(crate) mod breakers;
pub(crate) mod dlq;
pub(crate) mod selection;
pub(crate) mod sites;
pub(crate) mod sweeps;

use std::cell::OnceCell;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use code24_shared::api::MAX_LIMIT;
use code24_shared::dead_letters::query::{DeadLetterFilter, DeadLetterStatus};
use code24_shared::dead_letters::record::valid_entry_id;
use code24_shared::error::ErrorClass;
use code24_shared::ids::{CustomerId, RunId};
use serde_json::Value;

use crate::client::Client;
use crate::config::Target;
use crate::error::{CliError, Exit};

/// What a command runs with: the output mode and a client made on first use.
pub(crate) struct Ctx {
    /// Print the API's JSON instead of tables.
    pub(crate) json: bool,
    /// Resolves the target; called at most once, when a command first needs the API.
    resolve: Box<dyn Fn() -> Result<Target, CliError>>,
    client: OnceCell<Client>,
}

impl Ctx {
    pub(crate) fn new(json: bool, resolve: Box<dyn Fn() -> Result<Target, CliError>>) -> Self {
        Self { json, resolve, client: OnceCell::new() }
    }

    /// The API client, resolving URL and token on first use.
    pub(crate) fn client(&self) -> Result<&Client, CliError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = Client::new((self.resolve)()?);
        Ok(self.client.get_or_init(|| client))
    }

    /// Prints a 2xx body for scripts: pretty JSON, or an error when it is not JSON.
    pub(crate) fn print_json(&self, body: &str) -> Result<(), CliError> {
        let value: Value = crate::client::decode(body, "JSON")?;
        print_value(&value);
        Ok(())
    }
}

/// Prints a JSON value for scripts.
pub(crate) fn print_value(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    crate::output::emit(&format!("{text}\n"));
}

/// The filter flags of `dlq list`, `replay` and `purge`; each narrows the selection.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "filter", multiple = true)]
pub(crate) struct FilterArgs {
    /// Only entries whose job came from this queue (e.g. code24-optimize)
    #[arg(long, value_name = "QUEUE")]
    pub(crate) origin_queue: Option<String>,
    /// Only this customer's entries
    #[arg(long, visible_alias = "customer", value_name = "ID", value_parser = customer_id)]
    pub(crate) customer_id: Option<CustomerId>,
    /// Only entries of this sweep (e.g. local.optimize.20261129T011500Z)
    #[arg(long, visible_alias = "sweep", value_name = "ID", value_parser = sweep_id)]
    pub(crate) sweep_id: Option<RunId>,
    /// Only entries whose last error has this class
    #[arg(long, value_name = "CLASS", value_parser = error_class)]
    pub(crate) error_class: Option<ErrorClass>,
    /// Only entries in this status (default: dead and replayed; purged ones only when asked)
    #[arg(long, value_name = "STATUS", value_parser = status)]
    pub(crate) status: Option<DeadLetterStatus>,
    /// Last failure at or after TIME: RFC 3339, a date (UTC midnight), epoch ms, or an age
    /// such as 30m, 6h, 7d
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub(crate) from: Option<i64>,
    /// Last failure before TIME (same forms as --from)
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub(crate) to: Option<i64>,
}

impl FilterArgs {
    /// The API's filter, checked with the dispatcher's own rules (queue names, time order).
    pub(crate) fn to_filter(&self) -> Result<DeadLetterFilter, CliError> {
        let filter = DeadLetterFilter {
            origin_queue: self.origin_queue.clone(),
            customer_id: self.customer_id.clone(),
            run_id: self.sweep_id.clone(),
            error_class: self.error_class,
            status: self.status,
            from_ms: self.from,
            to_ms: self.to,
        };
        filter.check().map_err(|e| CliError::usage(e, "fix the filter flags; `code24-ops dlq list --help` describes them"))?;
        Ok(filter)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.to_filter().is_ok_and(|f| f == DeadLetterFilter::default())
    }
}

/// The query pairs of a filter: its JSON fields are exactly the API's parameter names.
pub(crate) fn filter_query(filter: &DeadLetterFilter) -> Vec<(&'static str, String)> {
    let Ok(Value::Object(fields)) = serde_json::to_value(filter) else { return Vec::new() };
    code24_shared::dead_letters::query::FILTER_PARAMS
        .iter()
        .filter_map(|name| {
            let value = fields.get(*name)?;
            Some((*name, value.as_str().map_or_else(|| value.to_string(), str::to_owned)))
        })
        .collect()
}

/// Checks a `--limit` against the API's bounds.
pub(crate) fn check_limit(limit: Option<u32>) -> Result<Option<u32>, CliError> {
    match limit {
        Some(n) if n == 0 || n > MAX_LIMIT => Err(CliError::usage(
            format!("--limit must be in 1..={MAX_LIMIT}, not {n}"),
            "pass a smaller --limit (list commands also take --all to follow every page)",
        )),
        other => Ok(other),
    }
}

pub(crate) fn customer_id(raw: &str) -> Result<CustomerId, String> {
    CustomerId::parse(raw).map_err(|e| e.to_string())
}

pub(crate) fn sweep_id(raw: &str) -> Result<RunId, String> {
    RunId::parse(raw).ok_or_else(|| format!("{raw:?} is not a sweep id (like local.optimize.20261129T011500Z)"))
}

pub(crate) fn entry_id(raw: &str) -> Result<String, String> {
    if valid_entry_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!("{raw:?} is not a dead-letter id (`code24-ops dlq list` shows them)"))
    }
}

fn error_class(raw: &str) -> Result<ErrorClass, String> {
    match raw {
        "transient" => Ok(ErrorClass::Transient),
        "permanent" => Ok(ErrorClass::Permanent),
        _ => Err(format!("must be transient or permanent, not {raw:?}")),
    }
}

fn status(raw: &str) -> Result<DeadLetterStatus, String> {
    DeadLetterStatus::parse(raw).ok_or_else(|| format!("must be dead, replayed or purged, not {raw:?}"))
}

fn instant(raw: &str) -> Result<i64, String> {
    parse_instant(raw, Utc::now().timestamp_millis())
}

/// An instant in epoch ms from RFC 3339, a UTC date, epoch ms, or an age (`30m`, `6h`, `7d`
/// before `now_ms`).
pub(crate) fn parse_instant(raw: &str, now_ms: i64) -> Result<i64, String> {
    let raw = raw.trim();
    let bad =
        || format!("{raw:?} is not a time; use RFC 3339 (2026-11-29T01:15:00Z), a date (2026-11-29), epoch ms, or an age (30m, 6h, 7d)");
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().map_err(|_| bad());
    }
    if let Some(unit_ms) = raw.chars().last().and_then(|u| match u {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    }) {
        let amount = &raw[..raw.len() - 1];
        if !amount.is_empty() && amount.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = amount.parse().map_err(|_| bad())?;
            return n.checked_mul(unit_ms).and_then(|ago| now_ms.checked_sub(ago)).filter(|t| *t >= 0).ok_or_else(bad);
        }
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.timestamp_millis());
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).ok_or_else(bad);
    }
    Err(bad())
}

/// Asks a yes/no question on the terminal. Without one, refuses with a usage error saying to
/// add `--yes`: a script must state its consent rather than pipe it.
pub(crate) fn confirm(question: &str, refusal: &str) -> Result<bool, CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            format!("{refusal} without confirmation, and there is no terminal to ask on"),
            "add --yes to confirm (run with --dry-run first to see what it selects)",
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::new(Exit::Usage, format!("cannot read the answer: {e}"), "add --yes to confirm without a prompt"))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_914_900_000; // 2026-11-29T01:15:00Z

    #[test]
    fn instants_parse_in_every_documented_form() {
        let check = |raw: &str, expected: i64| assert_eq!(parse_instant(raw, NOW), Ok(expected), "{raw}");
        check("1795914900000", NOW);
        check("2026-11-29T01:15:00Z", NOW);
        check("2026-11-29T02:15:00+01:00", NOW);
        check("2026-11-29", NOW - 4_500_000);
        check("30m", NOW - 1_800_000);
        check("6h", NOW - 21_600_000);
        check("7d", NOW - 604_800_000);
        for bad in ["", "yesterday", "7w", "-5m", "2026-13-01", "h", "99999999999999999999"] {
            let e = parse_instant(bad, NOW).unwrap_err();
            assert!(e.contains("is not a time; use RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn filters_are_checked_with_the_api_rules_and_become_its_query() {
        let args = FilterArgs {
            customer_id: Some(customer_id("acme").unwrap()),
            status: Some(DeadLetterStatus::Dead),
            from: Some(5),
            ..FilterArgs::default()
        };
        let filter = args.to_filter().unwrap();
        assert_eq!(
            filter_query(&filter),
            vec![("customer_id", "acme".to_owned()), ("status", "dead".to_owned()), ("from_ms", "5".to_owned())]
        );
        assert!(!args.is_empty());
        assert!(FilterArgs::default().is_empty());

        let reversed = FilterArgs { from: Some(10), to: Some(5), ..FilterArgs::default() };
        let e = reversed.to_filter().unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("must be before"), "{e}");
        let queue = FilterArgs { origin_queue: Some("a b".into()), ..FilterArgs::default() };
        assert!(queue.to_filter().unwrap_err().message.contains("not a queue name"));
    }

    #[test]
    fn ids_are_validated_with_the_shared_types() {
        assert!(customer_id("ops-cli-1").is_ok());
        assert!(customer_id("../x").unwrap_err().contains("customer id contains '.'"));
        assert!(sweep_id("local.optimize.19990101T000000Z").is_ok());
        assert!(sweep_id("local/optimize").unwrap_err().contains("is not a sweep id"));
        assert!(entry_id("local.optimize.20261129T011500Z.acme").is_ok());
        assert!(entry_id("a b").unwrap_err().contains("not a dead-letter id"));
        assert!(check_limit(Some(0)).is_err());
        assert!(check_limit(Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(check_limit(Some(MAX_LIMIT)), Ok(Some(MAX_LIMIT)));
    }
}
