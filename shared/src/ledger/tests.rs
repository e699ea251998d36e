//! Every ledger transition, driven through the in-memory tables with explicit times.

use super::jobs::{claim, complete, settle, JobTable};
use super::runs::{finish_fanout, open, progress, record_page, request_finalize, RunTable};
use super::*;
use crate::error::JobError;
use crate::testkit::ledger::{MemoryJobTable, MemoryRunTable};

const LEASE: i64 = 30_000;

fn job_claim(sweep: &str, customer: &str, scheduled_ms: i64) -> JobClaim {
    JobClaim {
        job_id: format!("{sweep}.{customer}"),
        run_id: sweep.into(),
        subject: customer.into(),
        scheduled_ms,
        replay: false,
        replay_at_ms: None,
    }
}

fn outcome(c: &JobClaim, attempt: u32, error: Option<JobError>) -> JobOutcome {
    JobOutcome { job_id: c.job_id.clone(), attempt, error, superseded: false, metrics: None }
}

/// Claims `c` at `now` and checks the decision.
fn check_claim(t: &mut MemoryJobTable, c: &JobClaim, now: i64, expected: ClaimDecision) {
    assert_eq!(claim(t, c, now, LEASE).unwrap(), expected, "claim of {} at {now}", c.job_id);
}

fn check_complete(t: &mut MemoryJobTable, o: &JobOutcome, now: i64, expected: Verdict) {
    assert_eq!(complete(t, o, now, 3).unwrap(), expected, "complete of {} at {now}", o.job_id);
}

#[test]
fn fresh_job_is_worked_then_redelivery_is_a_duplicate() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", 1_000);
    check_claim(&mut t, &c, 10, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&c, 1, None), 20, Verdict::Ack);
    check_claim(&mut t, &c, 30, ClaimDecision::Duplicate);
    let counts = t.counts("l.optimize.s1").unwrap();
    assert_eq!((counts.succeeded, counts.in_flight, counts.duplicates), (1, 0, 1));
    assert_eq!(counts.last_terminal_ms, Some(20));
}

#[test]
fn concurrent_redelivery_waits_for_the_lease() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", 1_000);
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &c, 5_000, ClaimDecision::Busy { retry_after_ms: LEASE - 5_000 });
    // The holder died without reporting: after the lease, the job is recovered.
    check_claim(&mut t, &c, LEASE + 1, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookFirst });
    assert_eq!(t.counts("l.optimize.s1").unwrap().in_flight, 1);
}

#[test]
fn transient_failures_retry_then_die_at_max_attempts() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", 1_000);
    let boom = || Some(JobError::transient("elite brand answered HTTP 503"));
    for attempt in 1..=2 {
        check_claim(&mut t, &c, attempt as i64 * 100, ClaimDecision::Work { attempt, recovery: Recovery::Fresh });
        check_complete(&mut t, &outcome(&c, attempt, boom()), attempt as i64 * 100 + 1, Verdict::Retry { attempt });
        assert_eq!(t.counts("l.optimize.s1").unwrap().retrying, 1);
    }
    check_claim(&mut t, &c, 300, ClaimDecision::Work { attempt: 3, recovery: Recovery::Fresh });
    let verdict = complete(&mut t, &outcome(&c, 3, boom()), 301, 3).unwrap();
    let Verdict::Dead { attempts: 3, error } = verdict else { panic!("expected dead, got {verdict:?}") };
    assert!(error.message.contains("gave up after 3 attempts"), "{}", error.message);
    let counts = t.counts("l.optimize.s1").unwrap();
    assert_eq!((counts.dead, counts.retrying, counts.in_flight), (1, 0, 0));
    // A redelivery of a dead job re-sends its dead letter instead of working it.
    let again = claim(&mut t, &c, 400, LEASE).unwrap();
    assert!(matches!(&again, ClaimDecision::AlreadyDead { attempts: 3, error } if error.message.contains("gave up")), "{again:?}");
}

#[test]
fn permanent_failure_dies_at_once_and_a_replay_revives_it() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", 1_000);
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    let err = JobError::permanent("elite designer answered HTTP 400");
    check_complete(&mut t, &outcome(&c, 1, Some(err.clone())), 1, Verdict::Dead { attempts: 1, error: err.clone() });
    let replay = JobClaim { replay: true, ..c.clone() };
    check_claim(&mut t, &replay, 2, ClaimDecision::Work { attempt: 2, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&c, 2, None), 3, Verdict::Ack);
    let counts = t.counts("l.optimize.s1").unwrap();
    assert_eq!((counts.dead, counts.succeeded), (0, 1));
    // A replay planned at 10 revives the death at 1 (once): a copy of it after the job died
    // again at 12 is a redelivery; a replay planned after that death revives it.
    let (mut t, planned) = (MemoryJobTable::default(), |at| JobClaim { replay: true, replay_at_ms: Some(at), ..c.clone() });
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&c, 1, Some(err.clone())), 1, Verdict::Dead { attempts: 1, error: err.clone() });
    check_claim(&mut t, &planned(10), 11, ClaimDecision::Work { attempt: 2, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&c, 2, Some(err.clone())), 12, Verdict::Dead { attempts: 2, error: err.clone() });
    check_claim(&mut t, &planned(10), 13, ClaimDecision::AlreadyDead { attempts: 2, error: err });
    check_claim(&mut t, &planned(14), 15, ClaimDecision::Work { attempt: 3, recovery: Recovery::Fresh });
}

#[test]
fn older_sweep_is_superseded_by_a_newer_claim() {
    let mut t = MemoryJobTable::default();
    let old = job_claim("l.optimize.s1", "acme", 1_000);
    let new = job_claim("l.optimize.s2", "acme", 181_000);
    check_claim(&mut t, &new, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &old, 1, ClaimDecision::Superseded);
    check_claim(&mut t, &old, 2, ClaimDecision::Duplicate);
    assert_eq!(t.counts("l.optimize.s1").unwrap().superseded, 1);
    // A replay of the old sweep is never superseded, but still waits for the site.
    let replay = JobClaim { replay: true, ..job_claim("l.optimize.s1", "acme", 1_000) };
    check_claim(&mut t, &replay, 3, ClaimDecision::Duplicate);
}

#[test]
fn newer_sweep_waits_while_an_older_job_holds_the_site() {
    let mut t = MemoryJobTable::default();
    let old = job_claim("l.optimize.s1", "acme", 1_000);
    let new = job_claim("l.optimize.s2", "acme", 181_000);
    check_claim(&mut t, &old, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &new, 10, ClaimDecision::Busy { retry_after_ms: LEASE - 10 });
    check_complete(&mut t, &outcome(&old, 1, None), 20, Verdict::Ack);
    check_claim(&mut t, &new, 30, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
}

#[test]
fn stale_outcomes_do_not_override_the_current_attempt() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", 1_000);
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &c, LEASE + 1, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookFirst });
    // Attempt 1 reports a failure late: attempt 2 owns the job, so it is just acked.
    check_complete(&mut t, &outcome(&c, 1, Some(JobError::transient("late"))), LEASE + 2, Verdict::Ack);
    assert_eq!(t.job(&c.job_id).unwrap().unwrap().state, JobState::InFlight);
    // Attempt 1's late success still counts: its result was written.
    check_complete(&mut t, &outcome(&c, 1, None), LEASE + 3, Verdict::Ack);
    check_complete(&mut t, &outcome(&c, 2, None), LEASE + 4, Verdict::Ack);
    assert_eq!(t.counts("l.optimize.s1").unwrap().succeeded, 1);
}

fn open_req(sweep: &str, now: i64) -> OpenRun {
    OpenRun {
        run_id: sweep.into(),
        owner: format!("p{now}"),
        task: "optimize".into(),
        scheduled_ms: 0,
        expected: 3,
        now_ms: now,
        lease_ms: LEASE,
        work_fronts: Vec::new(),
        unread_shards: 0,
    }
}

fn page(sweep: &str, owner: &str, cursor: &str, added: u64, now: i64) -> PageDone {
    PageDone { run_id: sweep.into(), owner: owner.into(), cursor: cursor.into(), added, now_ms: now, lease_ms: LEASE }
}

fn finish(sweep: &str, owner: &str, now: i64) -> FanoutDone {
    FanoutDone { run_id: sweep.into(), owner: owner.into(), now_ms: now }
}

#[test]
fn sweep_opens_once_and_duplicate_firings_enqueue_nothing() {
    let mut t = MemoryRunTable::default();
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 0)).unwrap(), OpenDecision::Start { origin: None, by_shard: false });
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 1)).unwrap(), OpenDecision::InProgress { lease_until_ms: LEASE });
    record_page(&mut t, &page("l.optimize.s1", "p0", "c", 3, 2)).unwrap();
    finish_fanout(&mut t, &finish("l.optimize.s1", "p0", 3)).unwrap();
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 4)).unwrap(), OpenDecision::AlreadyEnqueued);
    let row = t.run("l.optimize.s1").unwrap().unwrap();
    assert_eq!((row.firings, row.enqueued, row.expected, row.phase), (3, 3, 3, RunPhase::Enqueued));
}

#[test]
fn a_stalled_sweep_fired_again_long_after_its_fan_out_is_re_driven_without_counting() {
    let mut t = MemoryRunTable::default();
    open(&mut t, &open_req("l.optimize.s1", 0)).unwrap();
    record_page(&mut t, &page("l.optimize.s1", "p0", "c", 3, 2)).unwrap();
    finish_fanout(&mut t, &finish("l.optimize.s1", "p0", 3)).unwrap();
    // (now, decision): a duplicate within one lease of the fan-out's end is absorbed; a later
    // one re-drives the incomplete sweep.
    for (now, decision) in [
        (3 + LEASE, OpenDecision::AlreadyEnqueued),
        (4 + LEASE, OpenDecision::Redrive { origin: None, by_shard: false }),
        (10 * LEASE, OpenDecision::Redrive { origin: None, by_shard: false }),
    ] {
        assert_eq!(open(&mut t, &open_req("l.optimize.s1", now)).unwrap(), decision, "at {now}");
    }
    let row = t.run("l.optimize.s1").unwrap().unwrap();
    assert_eq!((row.firings, row.enqueued, row.expected, row.phase), (4, 3, 3, RunPhase::Enqueued), "a re-drive counts nothing");
    // Once seen complete, a late firing is only a duplicate.
    let done = [ShardCounts { run_id: "l.optimize.s1".into(), succeeded: 3, last_terminal_ms: Some(50), ..ShardCounts::default() }];
    t.put_run(&progress(&row, &done).1.expect("the finish to record")).unwrap();
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 20 * LEASE)).unwrap(), OpenDecision::AlreadyEnqueued);
    // Report runs are never re-driven.
    open(&mut t, &open_req("l.monthly-analytics.2027-01", 0)).unwrap();
    finish_fanout(&mut t, &finish("l.monthly-analytics.2027-01", "p0", 3)).unwrap();
    assert_eq!(open(&mut t, &open_req("l.monthly-analytics.2027-01", 10 * LEASE)).unwrap(), OpenDecision::AlreadyEnqueued);
}

#[test]
fn dead_producer_is_resumed_from_its_cursor() {
    let mut t = MemoryRunTable::default();
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 0)).unwrap(), OpenDecision::Start { origin: None, by_shard: false });
    record_page(&mut t, &page("l.optimize.s1", "p0", "b", 2, 10)).unwrap();
    // The producer dies. Its lease lapses; the next firing resumes after "b".
    let later = 10 + LEASE + 1;
    let decision = open(&mut t, &open_req("l.optimize.s1", later)).unwrap();
    assert_eq!(decision, OpenDecision::Resume { cursor: Some("b".into()), enqueued: 2, origin: None, by_shard: false });
    let owner = format!("p{later}");
    // A page at or before the cursor (re-sent by the resumed producer) counts nothing twice.
    record_page(&mut t, &page("l.optimize.s1", &owner, "b", 2, LEASE + 20)).unwrap();
    record_page(&mut t, &page("l.optimize.s1", &owner, "c", 1, LEASE + 21)).unwrap();
    assert_eq!(t.run("l.optimize.s1").unwrap().unwrap().enqueued, 3);
    // The first producer, if it was only slow, may no longer report anything.
    let refused = record_page(&mut t, &page("l.optimize.s1", "p0", "d", 5, LEASE + 22)).unwrap_err();
    assert!(refused.0.contains("taken over"), "{refused}");
    assert!(finish_fanout(&mut t, &finish("l.optimize.s1", "p0", LEASE + 23)).is_err());
    assert_eq!(t.run("l.optimize.s1").unwrap().unwrap().enqueued, 3);
}

#[test]
fn progress_sums_shards_and_records_the_finish_once() {
    let mut t = MemoryRunTable::default();
    open(&mut t, &open_req("l.optimize.s1", 0)).unwrap();
    record_page(&mut t, &page("l.optimize.s1", "p0", "c", 3, 1)).unwrap();
    let row = t.run("l.optimize.s1").unwrap().unwrap();
    let shard = |succeeded, dead, last| ShardCounts {
        run_id: "l.optimize.s1".into(),
        succeeded,
        dead,
        last_terminal_ms: Some(last),
        ..ShardCounts::default()
    };
    let shards = [shard(2, 0, 50), shard(0, 1, 70)];
    let (p, update) = progress(&row, &shards);
    assert!(!p.complete, "fan-out not finished yet");
    assert_eq!(update, None);
    finish_fanout(&mut t, &finish("l.optimize.s1", "p0", 5)).unwrap();
    let row = t.run("l.optimize.s1").unwrap().unwrap();
    let (p, update) = progress(&row, &shards);
    assert!(p.complete);
    assert_eq!((p.succeeded, p.dead, p.expected, p.finished_ms), (2, 1, 3, Some(70)));
    let stored = update.expect("finish time to store");
    assert_eq!(progress(&stored, &shards).1, None, "finish recorded only once");
}

#[test]
fn crashed_older_job_is_recovered_not_superseded_blindly() {
    let mut t = MemoryJobTable::default();
    let old = job_claim("l.optimize.s1", "acme", 1_000);
    let new = job_claim("l.optimize.s2", "acme", 181_000);
    check_claim(&mut t, &old, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    // The holder crashed; after its lease the newer sweep takes the site.
    check_claim(&mut t, &new, LEASE + 1, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&new, 1, None), LEASE + 2, Verdict::Ack);
    // The old job's redelivery must look for the crashed attempt's result.
    check_claim(&mut t, &old, LEASE + 3, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookOnly });
    let found_nothing = JobOutcome { superseded: true, ..outcome(&old, 2, None) };
    check_complete(&mut t, &found_nothing, LEASE + 4, Verdict::Ack);
    let counts = t.counts("l.optimize.s1").unwrap();
    assert_eq!((counts.superseded, counts.in_flight, counts.succeeded), (1, 0, 0));
}

#[test]
fn a_stale_fan_out_is_abandoned_when_the_next_sweep_starts() {
    let mut t = MemoryRunTable::default();
    let mut first = open_req("l.optimize.s1", 0);
    first.scheduled_ms = 0;
    open(&mut t, &first).unwrap();
    record_page(&mut t, &page("l.optimize.s1", "p0", "b", 2, 10)).unwrap();
    // The producer died; the next sweep starts after its lease lapsed.
    let mut second = open_req("l.optimize.s2", 180_000);
    second.scheduled_ms = 180_000;
    // It starts where the dead fan-out stopped, so the sites after "b" are sent first.
    assert_eq!(open(&mut t, &second).unwrap(), OpenDecision::Start { origin: Some("b".into()), by_shard: false });
    let row = t.run("l.optimize.s1").unwrap().unwrap();
    assert_eq!((row.phase, row.expected), (RunPhase::Abandoned, 2));
    let shards = [ShardCounts { run_id: "l.optimize.s1".into(), succeeded: 2, last_terminal_ms: Some(50), ..ShardCounts::default() }];
    assert!(progress(&row, &shards).0.complete, "an abandoned sweep completes over what it enqueued");
    assert_eq!(open(&mut t, &open_req("l.optimize.s1", 200_000)).unwrap(), OpenDecision::AlreadyEnqueued);
}

#[test]
fn limits_a_sweep_starts_where_the_previous_one_stopped_and_counts_its_wrapped_pages_in_order() {
    let mut t = MemoryRunTable::default();
    let sweep = |k: i64, now: i64| OpenRun { scheduled_ms: k * 180_000, ..open_req(&format!("l.optimize.s{k}"), now) };
    assert_eq!(open(&mut t, &sweep(1, 0)).unwrap(), OpenDecision::Start { origin: None, by_shard: false });
    record_page(&mut t, &page("l.optimize.s1", "p0", "m", 5, 1)).unwrap();
    // Sweep 1's producer dies after "m"; sweep 2 starts after "m" and wraps round to it.
    assert_eq!(open(&mut t, &sweep(2, 180_000)).unwrap(), OpenDecision::Start { origin: Some("m".into()), by_shard: false });
    let owner = "p180000";
    // (cursor, added, enqueued after): "z" then the wrapped "c" and "m" count; a re-sent "x"
    // (before "z" in this order) and a re-sent "c" count nothing.
    for (cursor, added, enqueued) in [("z", 4, 4), ("x", 9, 4), ("c", 2, 6), ("c", 9, 6), ("m", 3, 9)] {
        record_page(&mut t, &page("l.optimize.s2", owner, cursor, added, 180_001)).unwrap();
        assert_eq!(t.run("l.optimize.s2").unwrap().unwrap().enqueued, enqueued, "after {cursor}");
    }
    // The same producer re-opening its own fan-out (a retry) resumes at once, lease or not.
    let again = OpenRun { owner: owner.into(), ..sweep(2, 180_002) };
    let resumed = OpenDecision::Resume { cursor: Some("m".into()), enqueued: 9, origin: Some("m".into()), by_shard: false };
    assert_eq!(open(&mut t, &again).unwrap(), resumed);
    finish_fanout(&mut t, &finish("l.optimize.s2", owner, 180_003)).unwrap();
    // A sweep after a finished one keeps its origin; report runs always start from the first.
    assert_eq!(open(&mut t, &sweep(3, 360_000)).unwrap(), OpenDecision::Start { origin: Some("m".into()), by_shard: false });
    let report = OpenRun { task: "monthly-analytics".into(), ..open_req("l.monthly-analytics.2027-01", 360_001) };
    assert_eq!(open(&mut t, &report).unwrap(), OpenDecision::Start { origin: None, by_shard: false });
}

#[test]
fn a_sweep_after_one_worked_through_is_sent_by_shard_and_keeps_that_on_resume() {
    use super::heads::WorkFront;
    let mut t = MemoryRunTable::default();
    let sweep = |k: i64, now: i64| OpenRun { scheduled_ms: k * 180_000, ..open_req(&format!("l.optimize.s{k}"), now) };
    open(&mut t, &sweep(1, 0)).unwrap();
    record_page(&mut t, &page("l.optimize.s1", "p0", "c", 3, 1)).unwrap();
    finish_fanout(&mut t, &finish("l.optimize.s1", "p0", 2)).unwrap();
    let front = |subject: &str, ended: u64| WorkFront {
        scheduled_ms: 180_000,
        subject: subject.into(),
        at_ms: 3,
        run_id: "l.optimize.s1".into(),
        ended: Some(ended),
    };
    // Two of sweep 1's three jobs ended: sweep 2 goes out in the plain order.
    let busy = OpenRun { work_fronts: vec![front("b", 1), front("c", 1)], ..sweep(2, 180_000) };
    assert_eq!(open(&mut t, &busy).unwrap(), OpenDecision::Start { origin: Some("c".into()), by_shard: false });
    record_page(&mut t, &page("l.optimize.s2", "p180000", "c", 3, 180_001)).unwrap();
    finish_fanout(&mut t, &finish("l.optimize.s2", "p180000", 180_002)).unwrap();
    // All three of sweep 2's ended: sweep 3 goes by shard, and its resume says so too.
    let fronts = vec![WorkFront { scheduled_ms: 360_000, run_id: "l.optimize.s2".into(), ..front("c", 3) }];
    let done = OpenRun { work_fronts: fronts, ..sweep(3, 360_000) };
    assert_eq!(open(&mut t, &done).unwrap(), OpenDecision::Start { origin: Some("c".into()), by_shard: true });
    assert!(t.run("l.optimize.s3").unwrap().unwrap().by_shard);
    let resumed = open(&mut t, &OpenRun { owner: "p360000".into(), ..sweep(3, 360_001) }).unwrap();
    assert_eq!(resumed, OpenDecision::Resume { cursor: None, enqueued: 0, origin: Some("c".into()), by_shard: true });
}

fn settle_req(c: &JobClaim, written: bool, now: i64) -> SettleRequest {
    SettleRequest { claim: c.clone(), written, error: JobError::transient("max_retries exhausted"), now_ms: now }
}

#[test]
fn a_queue_dead_lettered_job_is_settled_in_the_ledger() {
    let mut t = MemoryJobTable::default();
    // Never claimed (the ledger was down for every delivery): dead.
    let never = job_claim("l.optimize.s1", "a", 1_000);
    assert_eq!(settle(&mut t, &settle_req(&never, false, 5)).unwrap(), SettleDecision::Dead { attempts: 0 });
    assert_eq!(t.counts("l.optimize.s1").unwrap().dead, 1);
    // Crashed after writing its result: recorded as succeeded, nothing dead.
    let crashed = job_claim("l.optimize.s1", "b", 1_000);
    check_claim(&mut t, &crashed, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    assert_eq!(settle(&mut t, &settle_req(&crashed, true, 1)).unwrap(), SettleDecision::Busy { retry_after_ms: LEASE - 1 });
    assert_eq!(settle(&mut t, &settle_req(&crashed, true, LEASE)).unwrap(), SettleDecision::Ended { state: JobState::Succeeded });
    let counts = t.counts("l.optimize.s1").unwrap();
    assert_eq!((counts.succeeded, counts.in_flight, counts.dead), (1, 0, 1));
    // Already succeeded through another delivery: nothing to store.
    assert_eq!(settle(&mut t, &settle_req(&crashed, false, LEASE + 1)).unwrap(), SettleDecision::Ended { state: JobState::Succeeded });
}

#[test]
fn a_retrying_older_job_is_recovered_before_being_superseded() {
    let mut t = MemoryJobTable::default();
    let old = job_claim("l.optimize.s1", "acme", 1_000);
    let new = job_claim("l.optimize.s2", "acme", 181_000);
    check_claim(&mut t, &old, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&old, 1, Some(JobError::transient("R2 head failed"))), 1, Verdict::Retry { attempt: 1 });
    check_claim(&mut t, &new, 2, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    // The failure may have come after a write: look in R2 before calling it superseded.
    check_claim(&mut t, &old, 3, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookOnly });
}

#[test]
fn report_jobs_never_wait_for_or_supersede_optimizations() {
    let mut t = MemoryJobTable::default();
    let sweep = job_claim("l.optimize.s2", "acme", 181_000);
    check_claim(&mut t, &sweep, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    // An older report period for the same customer, while the sweep holds the customer.
    let report = job_claim("l.monthly-analytics.2026-10", "acme", 1_000);
    check_claim(&mut t, &report, 1, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    let backfill = job_claim("l.monthly-analytics.2026-09", "acme", 500);
    check_claim(&mut t, &backfill, 2, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    assert_eq!(lane_of("l.optimize.s2", "acme"), "acme");
    assert_eq!(lane_of("l.monthly-analytics.2026-10", "acme"), "l.monthly-analytics.2026-10:acme");
}

// ----- daily rollups -----

/// 2026-11-29T01:15:00Z and later on the same day.
const DAY_MS: i64 = 1_795_914_900_000;

fn measured(c: &JobClaim, attempt: u32, duration_ms: i64, scores: Option<[u8; 3]>, error: Option<JobError>) -> JobOutcome {
    JobOutcome { metrics: Some(JobMetrics { duration_ms, scores }), ..outcome(c, attempt, error) }
}

/// The rollup of `customer` on 2026-11-29, as (runs, successes, transient, permanent).
fn check_rollup(t: &MemoryJobTable, customer: &str, expected: (u64, u64, u64, u64)) -> crate::reports::analytics::DailyRollup {
    let r = t.rollup(customer, "2026-11-29").unwrap().expect("a rollup");
    assert_eq!((r.runs, r.successes, r.transient_failures, r.permanent_failures), expected, "{r:?}");
    r
}

#[test]
fn a_success_counts_its_duration_and_scores() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", DAY_MS);
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &measured(&c, 1, 700, Some([60, 70, 80]), None), 1, Verdict::Ack);
    let r = check_rollup(&t, "acme", (1, 1, 0, 0));
    assert_eq!((r.duration_ms_sum, r.score_sums), (700, [60, 70, 80]));
    assert_eq!(r.duration_buckets[crate::reports::analytics::bucket_of(700)], 1);
    assert_eq!(
        (r.first_scores, r.first_at_ms, r.last_scores, r.last_at_ms),
        (Some([60, 70, 80]), Some(DAY_MS), Some([60, 70, 80]), Some(DAY_MS))
    );
}

#[test]
fn deaths_count_by_their_class_and_retries_count_nothing() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", DAY_MS);
    for attempt in 1..=3 {
        check_claim(&mut t, &c, i64::from(attempt) * 100, ClaimDecision::Work { attempt, recovery: Recovery::Fresh });
        let failed = measured(&c, attempt, 5_000, None, Some(JobError::transient("elite brand answered HTTP 503")));
        let verdict = complete(&mut t, &failed, i64::from(attempt) * 100 + 1, 3).unwrap();
        if attempt < 3 {
            assert_eq!(verdict, Verdict::Retry { attempt });
            assert_eq!(t.rollup("acme", "2026-11-29").unwrap(), None, "a retry is not the end of a run");
        }
    }
    let r = check_rollup(&t, "acme", (1, 0, 1, 0));
    assert_eq!((r.duration_ms_sum, r.score_sums, r.first_scores), (5_000, [0; 3], None));

    let p = job_claim("l.optimize.s1", "bakery", DAY_MS);
    check_claim(&mut t, &p, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    let err = JobError::permanent("elite designer answered HTTP 400");
    check_complete(&mut t, &measured(&p, 1, 300, None, Some(err.clone())), 1, Verdict::Dead { attempts: 1, error: err });
    check_rollup(&t, "bakery", (1, 0, 0, 1));
}

#[test]
fn redeliveries_and_stale_outcomes_never_count_twice() {
    let mut t = MemoryJobTable::default();
    let c = job_claim("l.optimize.s1", "acme", DAY_MS);
    check_claim(&mut t, &c, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &c, LEASE + 1, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookFirst });
    // Both attempts wrote a result and report it; only the first report ends the job.
    check_complete(&mut t, &measured(&c, 1, 900, Some([10, 20, 30]), None), LEASE + 2, Verdict::Ack);
    check_complete(&mut t, &measured(&c, 2, 800, Some([10, 20, 30]), None), LEASE + 3, Verdict::Ack);
    // A redelivery after the end, and a stale failure.
    check_claim(&mut t, &c, LEASE + 4, ClaimDecision::Duplicate);
    check_complete(&mut t, &measured(&c, 1, 1, None, Some(JobError::transient("late"))), LEASE + 5, Verdict::Ack);
    // The queue's backstop dead-lettered a copy: settling an ended job counts nothing either.
    let settled = settle(&mut t, &settle_req(&c, true, LEASE + 6)).unwrap();
    assert_eq!(settled, SettleDecision::Ended { state: JobState::Succeeded });
    let r = check_rollup(&t, "acme", (1, 1, 0, 0));
    assert_eq!((r.duration_ms_sum, r.score_sums), (900, [10, 20, 30]));
}

#[test]
fn first_and_last_scores_follow_scheduled_time_not_completion_order() {
    let mut t = MemoryJobTable::default();
    // Three sweeps of one day, completed out of order; the middle one dies.
    let (early, middle, late) = (
        job_claim("l.optimize.s1", "acme", DAY_MS),
        job_claim("l.optimize.s2", "acme", DAY_MS + 180_000),
        job_claim("l.optimize.s3", "acme", DAY_MS + 360_000),
    );
    let replay = |c: &JobClaim| JobClaim { replay: true, ..c.clone() };
    check_claim(&mut t, &replay(&late), 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &measured(&late, 1, 100, Some([90, 90, 90]), None), 1, Verdict::Ack);
    check_claim(&mut t, &replay(&early), 2, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &measured(&early, 1, 100, Some([40, 50, 60]), None), 3, Verdict::Ack);
    check_claim(&mut t, &replay(&middle), 4, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    let err = JobError::permanent("bad site");
    check_complete(&mut t, &measured(&middle, 1, 100, None, Some(err.clone())), 5, Verdict::Dead { attempts: 1, error: err });
    let r = check_rollup(&t, "acme", (3, 2, 0, 1));
    assert_eq!((r.first_scores, r.first_at_ms), (Some([40, 50, 60]), Some(DAY_MS)));
    assert_eq!((r.last_scores, r.last_at_ms), (Some([90, 90, 90]), Some(DAY_MS + 360_000)));
    assert_eq!(r.score_sums, [130, 140, 150]);
    // A replay revives the dead job: its death is taken back, and its new end counts.
    check_claim(&mut t, &replay(&middle), 6, ClaimDecision::Work { attempt: 2, recovery: Recovery::Fresh });
    check_rollup(&t, "acme", (2, 2, 0, 0));
    check_complete(&mut t, &measured(&middle, 2, 100, Some([70, 70, 70]), None), 7, Verdict::Ack);
    let r = check_rollup(&t, "acme", (3, 3, 0, 0));
    assert_eq!((r.first_at_ms, r.last_at_ms), (Some(DAY_MS), Some(DAY_MS + 360_000)), "the middle run is neither");
}

#[test]
fn only_optimization_runs_that_ended_are_rolled_up() {
    let mut t = MemoryJobTable::default();
    // Superseded: not a run.
    let (old, new) = (job_claim("l.optimize.s1", "acme", DAY_MS), job_claim("l.optimize.s2", "acme", DAY_MS + 180_000));
    check_claim(&mut t, &new, 0, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_claim(&mut t, &old, 1, ClaimDecision::Superseded);
    // A report job: not an optimization.
    let report = job_claim("l.monthly-analytics.2026-10", "bakery", DAY_MS);
    check_claim(&mut t, &report, 2, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
    check_complete(&mut t, &outcome(&report, 1, None), 3, Verdict::Ack);
    assert!(t.rollups.is_empty(), "{:?}", t.rollups);
    // Settled by the dead-letters consumer: a run without measurements, on its own day.
    let never = job_claim("l.optimize.s1", "cafe", DAY_MS - 86_400_000);
    settle(&mut t, &settle_req(&never, false, 4)).unwrap();
    let r = t.rollup("cafe", "2026-11-28").unwrap().expect("a rollup");
    assert_eq!((r.runs, r.transient_failures, r.duration_ms_sum), (1, 1, 0));
}

// ----- fan-in -----

fn finalize(t: &mut MemoryRunTable, now_ms: i64, succeeded: u64) -> FinalizeDecision {
    let shards =
        [ShardCounts { run_id: "l.monthly-analytics.2026-11".into(), succeeded, last_terminal_ms: Some(50), ..ShardCounts::default() }];
    request_finalize(t, &FinalizeRequest { run_id: "l.monthly-analytics.2026-11".into(), now_ms }, &shards).unwrap()
}

#[test]
fn the_final_job_is_enqueued_once_when_the_run_is_complete() {
    let mut t = MemoryRunTable::default();
    assert_eq!(finalize(&mut t, 1, 0), FinalizeDecision::NotComplete, "unknown run");
    open(&mut t, &open_req("l.monthly-analytics.2026-11", 0)).unwrap();
    record_page(&mut t, &page("l.monthly-analytics.2026-11", "p0", "c", 2, 1)).unwrap();
    assert_eq!(finalize(&mut t, 2, 2), FinalizeDecision::NotComplete, "the fan-out is not finished");
    finish_fanout(&mut t, &finish("l.monthly-analytics.2026-11", "p0", 3)).unwrap();
    assert_eq!(finalize(&mut t, 4, 1), FinalizeDecision::NotComplete, "one job is still going");
    assert_eq!(finalize(&mut t, 5, 2), FinalizeDecision::Enqueue);
    assert_eq!(finalize(&mut t, 6, 2), FinalizeDecision::AlreadyRequested { at_ms: 5 });
    // The finalize job is now expected too: the run is complete only once it is done.
    let row = t.run("l.monthly-analytics.2026-11").unwrap().unwrap();
    assert_eq!((row.finalize_requested_ms, row.expected, row.finished_ms), (Some(5), 3, None));
    let shards = |succeeded| [ShardCounts { run_id: row.run_id.clone(), succeeded, last_terminal_ms: Some(60), ..ShardCounts::default() }];
    assert!(!progress(&row, &shards(2)).0.complete, "the finalize job is still going");
    let (done, update) = progress(&row, &shards(3));
    assert_eq!((done.complete, done.succeeded, done.expected), (true, 3, 3));
    assert_eq!(update.and_then(|r| r.finished_ms), Some(60));
}
