//! The reports consumer over the in-memory twins: each kind of job, the fan-in across
//! duplicate deliveries and a lost send, failing writes, refused bodies. The ledger twin runs
//! the Durable Object's own decisions; runs are opened as the dispatcher opens them.

use super::fan_in::FINALIZE_RESEND_AFTER_MS;
use crate::error::ErrorClass;
use crate::ids::CustomerId;
use crate::ledger::JobState;
use crate::pipeline::consumer::Action;
use crate::reports::analytics::{
    customer_section, monthly_report, platform_report, sections_of, CustomerMonthly, DailyRollup, MonthlyReport,
};
use crate::reports::health::{HealthReport, HealthStatus, PROBE_KEY};
use crate::reports::jobs::{health_run_id, monthly_run_id, ReportJob, ReportWork};
use crate::reports::period::{health_check_key, Month};
use crate::reports::revenue::{revenue_metrics, BillingEvent};
use crate::reports::summary::{executive_summary, ExecutiveSummary, FinalReport};
use crate::schedule::{END_OF_MONTH, MONTHLY_ANALYTICS};
use crate::site::{Site, SiteUrl};
use crate::testkit::world::World;

/// 2026-12-01T15:00:00Z, the slot of November's analytics.
const SLOT_MS: i64 = 1_796_137_200_000;
const NOV: Month = Month { year: 2026, month: 11 };

/// Fresh twins, the clock a second after the analytics slot.
fn world() -> World {
    World::at(SLOT_MS + 1_000)
}

fn rollup(customer: &str, day: &str, successes: u64, first: u8, last: u8) -> DailyRollup {
    let mut r = crate::ledger::rollups::empty(customer, day);
    r.duration_buckets[3] = successes + 1;
    DailyRollup {
        runs: successes + 1,
        successes,
        transient_failures: 1,
        duration_ms_sum: 900 * (successes as i64 + 1),
        score_sums: [u64::from(last) * successes; 3],
        scored: successes,
        first_scores: Some([first; 3]),
        last_scores: Some([last; 3]),
        ..r
    }
}

fn customer_job(run: &str, customer: &str) -> String {
    ReportJob::monthly_customer(run, NOV, SLOT_MS, CustomerId::parse(customer).unwrap()).encode()
}

/// November's analytics for three customers, rollups of October ignored.
fn analytics_world() -> (World, String) {
    let w = world();
    w.store.rollups.borrow_mut().extend([
        rollup("acme", "2026-11-01", 10, 50, 60),
        rollup("acme", "2026-11-02", 10, 60, 70),
        rollup("blue", "2026-11-03", 5, 80, 70),
        rollup("cobalt", "2026-11-30", 1, 40, 40),
        rollup("acme", "2026-10-31", 99, 1, 1),
    ]);
    let run = monthly_run_id("local", MONTHLY_ANALYTICS, NOV);
    w.open_run(&run, MONTHLY_ANALYTICS, SLOT_MS, 3);
    (w, run)
}

#[test]
fn the_fan_in_enqueues_the_finalize_job_once_across_duplicate_deliveries() {
    let (w, run) = analytics_world();
    let (a, b, c) = (customer_job(&run, "acme"), customer_job(&run, "blue"), customer_job(&run, "cobalt"));
    // A copy delivered in the same batch waits out the first one's lease.
    let lease_s = ((w.config.lease_ms() + super::EXTRA_LEASE_MS) / 1000) as u32;
    let busy = Action::Retry { delay_s: lease_s };
    assert_eq!(w.deliver_reports(&[&a, &a, &b]), [Action::Ack, busy, Action::Ack]);
    assert!(w.enqueued().is_empty(), "cobalt has not ended yet");
    // The last job, delivered twice in one batch and again in the next: one finalize job.
    assert_eq!(w.deliver_reports(&[&c, &c, &b]), [Action::Ack, busy, Action::Ack]);
    assert_eq!(w.deliver_reports(&[&a, &b, &c]), [Action::Ack; 3]);
    let enqueued = w.enqueued();
    assert_eq!(enqueued, vec![ReportJob::single(&run, Some(NOV), SLOT_MS, ReportWork::MonthlyFinalize)]);

    let sections = w.store.sections.borrow().clone();
    assert_eq!(sections.len(), 3);
    let acme = CustomerMonthly { insight_sample: Some(Default::default()), ..customer_section("acme", &w.store.rollups.borrow()[..2]) };
    assert_eq!(sections[&(run.clone(), "acme".into())], acme, "October's rollups are not November's");

    // The finalize job writes the platform report from every section, sorted by customer.
    assert_eq!(w.deliver_reports(&[&enqueued[0].encode()]), [Action::Ack]);
    let report: MonthlyReport = w.object(&NOV.analytics_key());
    let expected = monthly_report("2026-11", &report.generated_at, sections.into_values().collect());
    assert_eq!(report, expected);
    assert_eq!(report.customers.iter().map(|s| s.customer_id.as_str()).collect::<Vec<_>>(), ["acme", "blue", "cobalt"]);
    assert_eq!(w.results.objects.borrow()[&NOV.analytics_key()].job_id, enqueued[0].job_id);

    // Much later, another duplicate: the report is written, nothing is sent again.
    w.advance(FINALIZE_RESEND_AFTER_MS * 2);
    assert_eq!(w.deliver_reports(&[&a]), [Action::Ack]);
    assert_eq!(w.enqueued().len(), 1);
    // One data point per finished job: three sections and the finalize.
    let finished = w.metrics.finished.borrow();
    assert_eq!(finished.iter().filter(|f| f.succeeded && f.run_id == run).count(), 4, "{finished:?}");
    assert_eq!(w.ledger.progress(&run).unwrap().succeeded, 4);
}

#[test]
fn a_finalize_job_whose_send_failed_is_sent_by_the_retry() {
    let (w, run) = analytics_world();
    w.deliver_reports(&[&customer_job(&run, "acme"), &customer_job(&run, "blue")]);
    w.queue.fail_after.set(Some(0));
    let last = customer_job(&run, "cobalt");
    assert_eq!(w.deliver_reports(&[&last]), [Action::Retry { delay_s: (FINALIZE_RESEND_AFTER_MS / 1000) as u32 }]);
    assert!(w.enqueued().is_empty());
    w.queue.fail_after.set(None);
    // A duplicate delivered before the resend delay leaves the decision to the retry.
    assert_eq!(w.deliver_reports(&[&customer_job(&run, "acme")]), [Action::Ack]);
    assert!(w.enqueued().is_empty());
    w.advance(FINALIZE_RESEND_AFTER_MS);
    assert_eq!(w.deliver_reports(&[&last]), [Action::Ack]);
    assert_eq!(w.enqueued().iter().map(|j| j.subject().to_owned()).collect::<Vec<_>>(), ["finalize"]);
}

#[test]
fn a_failing_section_write_is_retried_and_then_succeeds() {
    let (w, run) = analytics_world();
    w.store.failing_section_writes.set(1);
    let a = customer_job(&run, "acme");
    let actions = w.deliver_reports(&[&a]);
    assert!(matches!(actions[..], [Action::Retry { .. }]), "{actions:?}");
    assert!(w.store.sections.borrow().is_empty());
    assert_eq!(w.ledger.job(&format!("{run}.acme")).unwrap().state, JobState::Retrying);
    assert_eq!(w.deliver_reports(&[&a]), [Action::Ack]);
    let job = w.ledger.job(&format!("{run}.acme")).unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Succeeded, 2));
    assert_eq!(w.store.section_writes.get(), 1);
    assert!(w.dead.letters.borrow().is_empty());
}

#[test]
fn a_job_failing_every_attempt_is_dead_lettered_and_still_ends_its_run() {
    let (w, run) = analytics_world();
    w.store.reads_down.set(true);
    let a = customer_job(&run, "acme");
    for _ in 1..w.config.max_attempts {
        assert!(matches!(w.deliver_reports(&[&a])[..], [Action::Retry { .. }]));
        w.advance(60_000);
    }
    assert_eq!(w.deliver_reports(&[&a]), [Action::Ack]);
    let letters = w.dead.letters.borrow().clone();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].job_id.as_deref(), letters[0].attempts, letters[0].body.as_str()),
        (Some(&*format!("{run}.acme")), 3, a.as_str())
    );
    assert_eq!(letters[0].origin_queue, crate::names::REPORTS_QUEUE);
    assert!(letters[0].error.message.contains("simulated D1 outage"), "{:?}", letters[0].error);
    assert!(w.metrics.finished.borrow().iter().any(|f| !f.succeeded && f.attempts == 3));
    // The dead job counts as ended: the run's other jobs complete it and it is finalized.
    w.store.reads_down.set(false);
    w.deliver_reports(&[&customer_job(&run, "blue"), &customer_job(&run, "cobalt")]);
    assert_eq!(w.enqueued().len(), 1);
}

#[test]
fn undecodable_and_newer_bodies_are_dead_lettered_or_retried_alone() {
    let (w, run) = analytics_world();
    let newer = customer_job(&run, "blue").replace("\"v\":1", "\"v\":2");
    let actions = w.deliver_reports(&["{not json", &newer, &customer_job(&run, "acme")]);
    assert_eq!(actions[0], Action::Ack);
    assert!(matches!(actions[1], Action::Retry { .. }), "{actions:?}");
    assert_eq!(actions[2], Action::Ack);
    let letters = w.dead.letters.borrow();
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].body.as_str(), letters[0].job_id.as_ref(), letters[0].error.class), ("{not json", None, ErrorClass::Permanent));
    assert!(letters[0].error.message.contains("undecodable report job"), "{:?}", letters[0].error);
    assert_eq!(w.store.sections.borrow().len(), 1);
}

#[test]
fn the_end_of_month_report_and_its_summary_agree() {
    let w = world();
    let day = |m: Month, d: i64| m.start().timestamp_millis() + d * 86_400_000;
    let ev = |c: &str, at_ms, mrr_cents| BillingEvent { customer_id: c.into(), at_ms, mrr_cents };
    w.store.billing.borrow_mut().extend([
        ev("acme", day(NOV.previous(), -20), 4_900),
        ev("blue", day(NOV.previous(), 3), 14_900),
        ev("acme", day(NOV, 4), 14_900),
        ev("blue", day(NOV, 9), 0),
        ev("cobalt", day(NOV, 12), 49_900),
        ev("cobalt", day(NOV.next(), 1), 0),
    ]);
    w.store.rollups.borrow_mut().extend([rollup("acme", "2026-11-05", 20, 50, 70), rollup("acme", "2026-10-05", 10, 40, 50)]);
    let run = monthly_run_id("local", END_OF_MONTH, NOV);
    w.open_run(&run, END_OF_MONTH, SLOT_MS, 1);
    let job = ReportJob::single(&run, Some(NOV), SLOT_MS, ReportWork::EndOfMonth);
    assert_eq!(w.deliver_reports(&[&job.encode()]), [Action::Ack]);

    let report: FinalReport = w.object(&NOV.final_report_key());
    let billing = w.store.billing.borrow().clone();
    let (start, end) = (NOV.start().timestamp_millis(), NOV.end().timestamp_millis());
    assert_eq!(report.revenue, revenue_metrics(&billing, start, end));
    assert_eq!((report.revenue.starting_mrr_cents, report.revenue.ending_mrr_cents), (4_900 + 14_900, 14_900 + 49_900));
    assert_eq!(report.previous_revenue.new_mrr_cents, 14_900);
    assert_eq!((report.technical.runs, report.previous_technical.runs), (21, 11));
    let summary: ExecutiveSummary = w.object(&NOV.executive_summary_key());
    assert_eq!(summary, executive_summary(&report));
    assert!(w.ledger.progress(&run).unwrap().complete);
    assert!(w.enqueued().is_empty(), "only monthly analytics fan in");
}

#[test]
fn the_end_of_month_report_reads_every_customer_in_pages() {
    // Many customers over both months, read in pages of 5 rows (whole customers each): the
    // technical performance equals the sections of every rollup read at once.
    let customers: Vec<String> = (0..23).map(|i| format!("c{i:02}")).collect();
    let rollups: Vec<DailyRollup> = customers
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            let days = 1 + i % 4;
            (1..=days).flat_map(move |d| {
                [rollup(c, &format!("2026-11-{d:02}"), (i + d) as u64, 40, 60), rollup(c, &format!("2026-10-{d:02}"), 1, 50, 50)]
            })
        })
        .collect();
    let w = world();
    w.store.rollups.borrow_mut().extend(rollups.iter().rev().cloned());
    w.store.page_rows.set(Some(5));
    let run = monthly_run_id("local", END_OF_MONTH, NOV);
    w.open_run(&run, END_OF_MONTH, SLOT_MS, 1);
    let job = ReportJob::single(&run, Some(NOV), SLOT_MS, ReportWork::EndOfMonth);
    assert_eq!(w.deliver_reports(&[&job.encode()]), [Action::Ack]);

    let report: FinalReport = w.object(&NOV.final_report_key());
    let (nov, oct): (Vec<DailyRollup>, Vec<DailyRollup>) = rollups.into_iter().partition(|r| r.day.starts_with("2026-11"));
    assert_eq!(report.technical, platform_report(&sections_of(&nov)));
    assert_eq!(report.previous_technical, platform_report(&sections_of(&oct)));
    assert_eq!((report.technical.customers, report.previous_technical.customers), (23, 23));
}

fn health_job() -> (String, ReportJob) {
    let at = crate::ids::from_epoch_ms(SLOT_MS).unwrap();
    let run = health_run_id("local", at);
    (run.clone(), ReportJob::single(&run, None, SLOT_MS, crate::reports::jobs::ReportWork::HealthCheck))
}

fn add_site(w: &World, customer: &str) {
    let url = format!("https://{customer}.example");
    w.probes.registry.add(Site { customer_id: CustomerId::parse(customer).unwrap(), url: SiteUrl::parse(&url).unwrap() }, true);
}

#[test]
fn a_health_check_with_unreachable_sites_is_degraded_and_written() {
    let w = world();
    for c in ["acme", "blue", "cobalt"] {
        add_site(&w, c);
    }
    let (run, job) = health_job();
    w.open_run(&run, crate::schedule::HEALTH_CHECK, SLOT_MS, 1);
    assert_eq!(w.deliver_reports(&[&job.encode()]), [Action::Ack]);
    let key = health_check_key(job.scheduled().unwrap());
    assert_eq!(key, "dev/health-checks/20261201T150000Z.json");
    let report: HealthReport = w.object(&key);
    assert_eq!((report.status, report.elite.summary.as_str()), (HealthStatus::Degraded, "3/3 healthy"));
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["elite_brand", "elite_designer", "elite_developer", "r2_round_trip", "d1", "canary", "sites"]);
    assert!(report.checks.iter().all(|c| c.ok == (c.name != "sites")), "{:?}", report.checks);
    assert_eq!(report.sites.len(), 3);
    assert!(report.sites.iter().all(|s| !s.ok && s.error.as_deref().is_some_and(|e| e.contains("DNS"))));
    assert!(w.probes.objects.borrow().get(PROBE_KEY).is_none(), "the probe object is deleted");
    assert_eq!(w.probes.elite.calls_per_job.borrow()[&format!("{run}.canary")], 3, "one canary: three elite calls");
    assert!(w.results.objects.borrow().keys().all(|k| !k.starts_with("optimizations/")), "the canary writes no result");
}

#[test]
fn a_health_check_says_ok_or_failing_by_what_failed() {
    let w = world();
    add_site(&w, "acme");
    w.probes.site_answers.borrow_mut().insert("https://acme.example".into(), 301);
    let (run, job) = health_job();
    w.open_run(&run, crate::schedule::HEALTH_CHECK, SLOT_MS, 1);
    w.deliver_reports(&[&job.encode()]);
    let key = health_check_key(job.scheduled().unwrap());
    assert_eq!(w.object::<HealthReport>(&key).status, HealthStatus::Ok);

    // A platform failure is `failing`, and the report is still written (the job succeeds).
    let w = world();
    w.probes.unhealthy.borrow_mut().insert(crate::elite::EliteRole::Designer);
    w.probes.db_down.set(true);
    w.open_run(&run, crate::schedule::HEALTH_CHECK, SLOT_MS, 1);
    assert_eq!(w.deliver_reports(&[&job.encode()]), [Action::Ack]);
    let report: HealthReport = w.object(&key);
    assert_eq!((report.status, report.elite.summary.as_str()), (HealthStatus::Failing, "2/3 healthy"));
    let d1 = report.checks.iter().find(|c| c.name == "d1").unwrap();
    assert!(!d1.ok && d1.detail.contains("outage"), "{d1:?}");
    assert!(report.checks.iter().find(|c| c.name == "sites").unwrap().ok, "no active sites: nothing failed");
}

#[test]
fn site_checks_are_bounded_in_number() {
    let w = world();
    for i in 0..60 {
        add_site(&w, &format!("site-{i:02}"));
    }
    let (run, job) = health_job();
    w.open_run(&run, crate::schedule::HEALTH_CHECK, SLOT_MS, 1);
    w.deliver_reports(&[&job.encode()]);
    let report: HealthReport = w.object(&health_check_key(job.scheduled().unwrap()));
    assert_eq!((report.sites.len(), w.probes.site_calls.get()), (50, 50));
    let sites = report.checks.iter().find(|c| c.name == "sites").unwrap();
    assert_eq!(sites.detail, "0/50 reachable (the first 50 of 60 active sites)");
}
