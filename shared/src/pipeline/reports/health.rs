//! The dev health check's probes, each timed with the injected clock: every elite worker's
//! `/health`, an R2 write/read/delete round trip, a D1 query, the active customer sites' HTTP
//! status (at most [`MAX_SITES`], [`SITE_CONCURRENCY`] at a time, each bounded by the probe's
//! own timeout), and one canary optimization: the three elite calls for a canary request, with
//! no ledger and no result written. A probe that fails is a failed check with its error, never
//! a failed job: the report is written either way.
//!
//! The probes run in four phases so that at most [`CONNECTIONS`] are open at once (within the
//! design's share of the platform's per-invocation bound, `budget::connection_budget`: a probe
//! waiting for a connection would measure the wait, and its timeout would run meanwhile): the
//! three elite `/health` calls; the canary's three elite calls; R2 and D1; the sites.

use std::future::Future;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use futures::{join, StreamExt};

use crate::elite::{EliteRequest, EliteRole, ELITE_CONTRACT_VERSION};
use crate::error::JobError;
use crate::ids::rfc3339;
use crate::ports::HealthProbes;
use crate::reports::health::{
    sites_check, Check, CheckGroup, SiteCheck, CANARY_CUSTOMER, CANARY_SITE_URL, MAX_SITES, PROBE_KEY, SITE_CONCURRENCY,
};

/// Service-binding calls of one health check: each elite worker's `/health` and the canary's
/// optimization call to each.
pub(super) const SERVICE_BINDING_CALLS: u32 = 2 * EliteRole::ALL.len() as u32;

/// The most connections one health check holds open at once: its widest phase.
pub(super) const CONNECTIONS: u32 = {
    let elite = EliteRole::ALL.len() as u32;
    let sites = SITE_CONCURRENCY as u32;
    if elite > sites {
        elite
    } else {
        sites
    }
};

/// Every check, and each site's.
pub(super) struct Checks {
    pub(super) checks: Vec<Check>,
    pub(super) sites: Vec<SiteCheck>,
}

/// Awaits `probe` and measures it.
async fn timed<T>(now: &dyn Fn() -> i64, probe: impl Future<Output = T>) -> (T, i64) {
    let started = now();
    let value = probe.await;
    (value, now() - started)
}

/// A check from a probe's result: its detail on success, its error on failure.
fn check(name: &str, group: CheckGroup, (result, latency_ms): (Result<String, JobError>, i64)) -> Check {
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(e) => (false, e.message),
    };
    Check { name: name.to_owned(), group, ok, latency_ms, detail }
}

/// Runs every probe of one health check.
pub(super) async fn run_checks(probes: &impl HealthProbes, run_id: &str, scheduled: DateTime<Utc>, now: &dyn Fn() -> i64) -> Checks {
    let elite = join_all(EliteRole::ALL.map(|role| timed(now, elite(probes, role)))).await;
    let canary = timed(now, canary(probes, run_id, scheduled)).await;
    let (r2, d1) = join!(
        timed(now, round_trip(probes, run_id, now())),
        timed(now, async { probes.db_ping().await.map(|()| "SELECT 1 answered".to_owned()) }),
    );
    let (sites, sites_latency, active) = check_sites(probes, now).await;
    let mut checks: Vec<Check> = EliteRole::ALL
        .iter()
        .zip(elite)
        .map(|(role, result)| check(&format!("elite_{}", role.as_str()), CheckGroup::Elite, result))
        .collect();
    checks.push(check("r2_round_trip", CheckGroup::Platform, r2));
    checks.push(check("d1", CheckGroup::Platform, d1));
    checks.push(check("canary", CheckGroup::Platform, canary));
    let sites = match sites {
        Ok(sites) => {
            checks.push(sites_check(&sites, active.unwrap_or(sites.len() as u64) as usize, sites_latency));
            sites
        }
        Err(e) => {
            let detail = format!("the active sites could not be listed: {}", e.message);
            checks.push(Check { name: "sites".into(), group: CheckGroup::Sites, ok: false, latency_ms: sites_latency, detail });
            Vec::new()
        }
    };
    Checks { checks, sites }
}

/// One elite worker's `/health`: healthy when it answers status `ok`.
async fn elite(probes: &impl HealthProbes, role: EliteRole) -> Result<String, JobError> {
    let health = probes.elite_health(role).await?;
    if health.status == "ok" {
        Ok(format!("ok, version {}", health.version))
    } else {
        Err(JobError::transient(format!("elite {} reports status {:?} (version {})", role.as_str(), health.status, health.version)))
    }
}

/// Writes a small object, reads it back, compares, deletes it.
async fn round_trip(probes: &impl HealthProbes, run_id: &str, now_ms: i64) -> Result<String, JobError> {
    let body = format!("{run_id} {now_ms}").into_bytes();
    probes.object_put(PROBE_KEY, body.clone()).await?;
    match probes.object_get(PROBE_KEY).await? {
        Some(read) if read == body => {}
        Some(_) => return Err(JobError::transient(format!("{PROBE_KEY} read back different bytes than were written"))),
        None => return Err(JobError::transient(format!("{PROBE_KEY} was not found right after it was written"))),
    }
    probes.object_delete(PROBE_KEY).await?;
    Ok(format!("wrote, read back and deleted {} bytes at {PROBE_KEY}", body.len()))
}

/// The three elite calls of an optimization, for the canary site: the pipeline's real path
/// to the elite workers, minus the ledger and the result write.
async fn canary(probes: &impl HealthProbes, run_id: &str, scheduled: DateTime<Utc>) -> Result<String, JobError> {
    let request = |role| EliteRequest {
        v: ELITE_CONTRACT_VERSION,
        role,
        job_id: format!("{run_id}.canary"),
        customer_id: CANARY_CUSTOMER.to_owned(),
        site_url: CANARY_SITE_URL.to_owned(),
        scheduled_at: rfc3339(scheduled),
        platform_context: None,
    };
    let answers = join_all(EliteRole::ALL.map(|role| async move { probes.optimize(&request(role)).await })).await;
    let mut scores = Vec::new();
    let mut errors = Vec::new();
    for (role, answer) in EliteRole::ALL.iter().zip(answers) {
        match answer {
            Ok(a) => scores.push(format!("{} {}", role.as_str(), a.score)),
            Err(e) => errors.push(e.message),
        }
    }
    if errors.is_empty() {
        Ok(format!("scores: {}", scores.join(", ")))
    } else {
        Err(JobError::transient(errors.join("; ")))
    }
}

/// The first [`MAX_SITES`] active sites' HTTP status, [`SITE_CONCURRENCY`] at a time, with the
/// wall time of them all and how many sites are active (when the count could be read).
async fn check_sites(probes: &impl HealthProbes, now: &dyn Fn() -> i64) -> (Result<Vec<SiteCheck>, JobError>, i64, Option<u64>) {
    let started = now();
    let (page, active) = join!(probes.active_page(None, MAX_SITES), probes.count_active());
    let sites = match page {
        Ok(page) => page.sites,
        Err(e) => return (Err(e), now() - started, None),
    };
    let checks = futures::stream::iter(sites)
        .map(|site| async move {
            let (answer, latency_ms) = timed(now, probes.site_status(site.url.as_str())).await;
            let (http_status, error) = match answer {
                Ok(status) => (Some(status), None),
                Err(e) => (None, Some(e.message)),
            };
            SiteCheck {
                customer_id: site.customer_id.as_str().to_owned(),
                url: site.url.as_str().to_owned(),
                ok: http_status.is_some_and(SiteCheck::status_ok),
                http_status,
                error,
                latency_ms,
            }
        })
        .buffer_unordered(SITE_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    (Ok(checks), now() - started, active.ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn limits_a_health_check_stays_inside_the_per_invocation_limits() {
        assert!(limits::within_headroom(u64::from(CONNECTIONS), limits::CONNECTIONS));
        assert!(CONNECTIONS <= crate::pipeline::budget::connection_budget());
        assert!(limits::within_headroom(u64::from(SERVICE_BINDING_CALLS), limits::SERVICE_BINDING_CALLS));
    }
}
