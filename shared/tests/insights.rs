//! Cross-customer insights end to end over the in-memory twins: November's monthly analytics
//! (the report job kind, over the ledger twin) reads each customer's first optimization of the
//! month back from R2, finds what worked, stores it in the report and writes the platform
//! context; then a December optimization batch reads that context once and every elite call of
//! the batch carries it to the elite stand-in's model, which records what arrived.

use chrono::{TimeZone, Utc};
use code24_shared::elite::{EliteResponse, EliteRole, Impact, PlatformContext, Recommendation};
use code24_shared::ids::{CustomerId, RunId};
use code24_shared::optimization::{optimization_key, OptimizationResult};
use code24_shared::pipeline::consumer::Action;
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::ports::ResultStore;
use code24_shared::reports::analytics::{DailyRollup, MonthlyReport};
use code24_shared::reports::insights::context_key;
use code24_shared::reports::jobs::{monthly_run_id, ReportJob, ReportWork};
use code24_shared::reports::period::Month;
use code24_shared::schedule::{Task, MONTHLY_ANALYTICS};
use code24_shared::site::{Plan, SiteUrl};
use code24_shared::testkit::world::World;
use code24_shared::wire::OptimizeJob;
use futures::executor::block_on;

const NOV: Month = Month { year: 2026, month: 11 };
/// 2026-12-01T15:00:00Z, November's analytics slot.
const SLOT_MS: i64 = 1_796_137_200_000;
const LAZY: (&str, &str) = ("performance", "lazy-load below-the-fold images");
const CSS: (&str, &str) = ("performance", "inline critical CSS");
const HEADLINE: (&str, &str) = ("brand", "tighten the headline");

/// Fresh twins, the clock a second after the analytics slot.
fn world() -> World {
    World::at(SLOT_MS + 1_000)
}

/// The insights' own move over the shared world.
trait Customers {
    fn customer(&self, id: &str, plan: Plan, advice: &[(EliteRole, (&str, &str))], first: [u8; 3], last: [u8; 3]);
}

impl Customers for World {
    fn customer(&self, id: &str, plan: Plan, advice: &[(EliteRole, (&str, &str))], first: [u8; 3], last: [u8; 3]) {
        let first_at = Utc.with_ymd_and_hms(2026, 11, 2, 0, 3, 0).unwrap();
        self.store.plans.borrow_mut().insert(id.into(), plan);
        self.store.rollups.borrow_mut().push(DailyRollup {
            runs: 2,
            successes: 2,
            scored: 2,
            first_scores: Some(first),
            first_at_ms: Some(first_at.timestamp_millis()),
            last_scores: Some(last),
            last_at_ms: Some(first_at.timestamp_millis() + 86_400_000),
            ..code24_shared::ledger::rollups::empty(id, "2026-11-02")
        });
        let answer = |role: EliteRole| EliteResponse {
            v: 1,
            role,
            score: 50,
            summary: String::new(),
            recommendations: advice
                .iter()
                .filter(|(r, _)| *r == role)
                .map(|(_, (area, action))| Recommendation { area: (*area).into(), action: (*action).into(), impact: Impact::High })
                .collect(),
        };
        let result = OptimizationResult {
            v: 1,
            job_id: format!("local.optimize.20261102T000300Z.{id}"),
            sweep_id: "local.optimize.20261102T000300Z".into(),
            customer_id: id.into(),
            site_url: format!("https://{id}.example"),
            scheduled_at: "2026-11-02T00:03:00Z".into(),
            attempt: 1,
            generated_at: "2026-11-02T00:03:05Z".into(),
            brand: answer(EliteRole::Brand),
            designer: answer(EliteRole::Designer),
            developer: answer(EliteRole::Developer),
        };
        let key = optimization_key(&CustomerId::parse(id).unwrap(), first_at);
        block_on(self.results.put(&key, serde_json::to_vec(&result).unwrap(), &result.job_id)).unwrap();
    }
}

#[test]
fn insight_context_of_the_monthly_analytics_reaches_the_elite_workers() {
    use EliteRole::{Brand, Developer};
    let w = world();
    // The seeded month of `reports::insights`' unit test, through the whole report path.
    w.customer("a", Plan::Growth, &[(Developer, LAZY), (Brand, HEADLINE)], [50, 50, 50], [52, 50, 60]);
    w.customer("b", Plan::Growth, &[(Developer, LAZY)], [50, 50, 40], [50, 50, 46]);
    w.customer("c", Plan::Growth, &[(Developer, LAZY), (Brand, HEADLINE)], [60, 60, 60], [58, 60, 62]);
    w.customer("d", Plan::Starter, &[(Developer, LAZY)], [50, 50, 50], [50, 50, 49]);
    w.customer("e", Plan::Starter, &[(Developer, CSS), (Brand, HEADLINE)], [40, 40, 40], [45, 40, 40]);
    w.customer("f", Plan::Starter, &[(Developer, CSS)], [40, 40, 40], [40, 40, 41]);
    w.customer("g", Plan::Enterprise, &[(Developer, CSS), (Brand, HEADLINE)], [70, 70, 70], [71, 70, 69]);
    let run = monthly_run_id("local", MONTHLY_ANALYTICS, NOV);
    let ids = ["a", "b", "c", "d", "e", "f", "g"];
    w.open_run(&run, MONTHLY_ANALYTICS, SLOT_MS, ids.len() as u64);
    let jobs: Vec<String> =
        ids.iter().map(|c| ReportJob::monthly_customer(&run, NOV, SLOT_MS, CustomerId::parse(c).unwrap()).encode()).collect();
    assert_eq!(w.deliver(w.report_jobs(), &jobs, "test"), vec![Action::Ack; ids.len()]);
    // Two Analytics Engine points per customer job (its job point and its month's aggregate): a
    // full reports batch of 10 writes 20, far within one invocation's 250.
    assert_eq!(w.metrics.finished.borrow().len() + w.metrics.aggregates.borrow().len(), 2 * ids.len());
    let finalize = ReportJob::single(&run, Some(NOV), SLOT_MS, ReportWork::MonthlyFinalize).encode();
    assert_eq!(w.queue.sent.borrow().clone(), vec![finalize.clone()]);
    assert_eq!(w.deliver(w.report_jobs(), &[finalize], "test"), [Action::Ack]);

    // The report stores the hand-computed answer; the context is its top, in R2.
    let report: MonthlyReport = w.object(&NOV.analytics_key());
    let found: Vec<(&str, &str, u64, i64)> =
        report.insights.iter().map(|i| (i.cohort.as_str(), i.action.as_str(), i.customers, i.mean_gain_hundredths)).collect();
    assert_eq!(found, [("plan:growth", LAZY.1, 3, 600), ("all", LAZY.1, 4, 425), ("all", HEADLINE.1, 4, 150)]);
    let context: Option<PlatformContext> = w.object(&context_key(NOV));
    let context = context.expect("November taught something");
    assert_eq!((context.month.as_str(), context.insights.len()), ("2026-11", 3));
    assert_eq!(context.insights[0].claim, report.insights[0].claim);
    // Each customer and the platform wrote their month to Analytics Engine.
    let points = w.metrics.aggregates.borrow();
    assert_eq!(points.iter().filter(|p| p.blobs[0] == "monthly-customer").count(), ids.len());
    assert_eq!(points.iter().filter(|p| p.blobs[0] == "monthly-platform").map(|p| p.doubles[9]).collect::<Vec<_>>(), [3.0]);

    // December's first sweep: two sites in one batch, one read of the context for the batch.
    let scheduled = Utc.with_ymd_and_hms(2026, 12, 1, 0, 3, 0).unwrap();
    let sweep = RunId::new("local", Task::Optimize, scheduled);
    let bodies: Vec<String> = ["a", "h"]
        .iter()
        .map(|c| {
            OptimizeJob::new(
                sweep.clone(),
                scheduled,
                CustomerId::parse(c).unwrap(),
                SiteUrl::parse(&format!("https://{c}.example")).unwrap(),
            )
            .encode()
        })
        .collect();
    let reads = w.results.reads.get();
    assert_eq!(w.deliver(OptimizeJobs::new(&w.elite, &w.results, &w.config), &bodies, "test"), [Action::Ack; 2]);
    assert_eq!(w.results.reads.get() - reads, 1, "the context is read once per batch, not per message");
    let stats = w.elite.standin.borrow().stats();
    assert_eq!(stats.platform_context_calls.get("2026-11"), Some(&6), "every one of the 2 × 3 elite calls carried it");
    assert_eq!(stats.last_platform_context, Some(context));
}

#[test]
fn insight_context_is_absent_when_the_month_before_has_none() {
    let w = world();
    let scheduled = Utc.with_ymd_and_hms(2027, 3, 1, 0, 3, 0).unwrap();
    let sweep = RunId::new("local", Task::Optimize, scheduled);
    let body = OptimizeJob::new(sweep, scheduled, CustomerId::parse("a").unwrap(), SiteUrl::parse("https://a.example").unwrap()).encode();
    assert_eq!(w.deliver(OptimizeJobs::new(&w.elite, &w.results, &w.config), &[body], "test"), [Action::Ack]);
    let stats = w.elite.standin.borrow().stats();
    assert!(stats.platform_context_calls.is_empty() && stats.last_platform_context.is_none(), "{stats:?}");
    assert_eq!(stats.total_calls, 3);
}
