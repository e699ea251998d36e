//! Daily rollups as D1 holds them (the ledger shards' flushed copy), read-only, for operators
//! and tests: `GET /api/rollups?customer_id=C&month=YYYY-MM` → `{"rollups": [...]}`, one
//! entry per day of the month with a run, ordered by day. The copy lags the ledger by up to
//! `ROLLUP_FLUSH_SECONDS` (the shards' flush alarm: an hour deployed, 30 s locally), and
//! `GET /api/rollups/freshness` says by how much: every job shard's write-behind
//! ([`Freshness`]), read from its stats.

use code24_runtime::env::now_ms;
use code24_runtime::http::{error, json};
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::rollups::month_rollups;
use code24_shared::ids::CustomerId;
use code24_shared::ledger::freshness::{FlushState, Freshness};
use code24_shared::ledger::shard_map::{ShardMap, MAPS};
use code24_shared::names::binding;
use code24_shared::reports::period::Month;
use serde_json::json as j;
use worker::Response;

use super::Call;

pub(super) async fn list(call: &Call<'_>) -> worker::Result<Response> {
    let (customer_id, month) = match parse(call.query("customer_id"), call.query("month")) {
        Ok(params) => params,
        Err(message) => return error(400, message),
    };
    match month_rollups(&call.env.d1(binding::DB)?, customer_id.as_str(), month).await {
        Ok(rollups) => json(200, &j!({ "rollups": rollups })),
        Err(e) => error(502, e.to_string()),
    }
}

/// Every job shard's flush state (of every shard map's shards: 8 with the build's one map), one
/// shard at a time; a shard that cannot be read is named with its error, and leaves the
/// freshness unknown.
pub(super) async fn freshness(call: &Call<'_>) -> worker::Result<Response> {
    let ledger = DurableLedger::from_env(call.env)?;
    let mut read = Vec::new();
    for shard in (0..ShardMap::slots(MAPS)).filter_map(|slot| ShardMap::slot_object(MAPS, slot)) {
        let state: Result<FlushState, String> = match ledger.stats(&shard).await {
            Ok(stats) => stats.rollups.ok_or_else(|| "the shard could not read its flush state".to_owned()),
            Err(e) => Err(e.message),
        };
        read.push((shard, state));
    }
    json(200, &Freshness::of(now_ms(), read))
}

/// Both parameters are required and validated.
fn parse(customer_id: Option<String>, month: Option<String>) -> Result<(CustomerId, Month), String> {
    let customer_id = customer_id.ok_or("customer_id is required")?;
    let customer_id = CustomerId::parse(&customer_id).map_err(|e| format!("customer_id {customer_id:?}: {e}"))?;
    let month = month.ok_or("month is required, as YYYY-MM")?;
    let month = Month::parse(&month).ok_or_else(|| format!("month {month:?} is not a month as YYYY-MM (e.g. 2026-11)"))?;
    Ok((customer_id, month))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(customer_id: Option<&str>, month: Option<&str>, expected: Result<(&str, &str), &str>) {
        let got = parse(customer_id.map(str::to_owned), month.map(str::to_owned));
        let got = got.as_ref().map(|(c, m)| (c.as_str().to_owned(), m.label())).map_err(String::as_str);
        let expected = expected.map(|(c, m)| (c.to_owned(), m.to_owned()));
        assert!(
            match (&got, &expected) {
                (Ok(g), Ok(e)) => g == e,
                (Err(g), Err(e)) => g.starts_with(e),
                _ => false,
            },
            "{customer_id:?} {month:?}: {got:?}"
        );
    }

    #[test]
    fn both_parameters_are_required_and_validated() {
        check(Some("acme-bakery"), Some("2026-11"), Ok(("acme-bakery", "2026-11")));
        check(None, Some("2026-11"), Err("customer_id is required"));
        check(Some("a b"), Some("2026-11"), Err("customer_id \"a b\":"));
        check(Some("acme"), None, Err("month is required"));
        check(Some("acme"), Some("2026-13"), Err("month \"2026-13\" is not a month"));
        check(Some("acme"), Some("2026-11-01"), Err("month \"2026-11-01\" is not a month"));
    }
}
