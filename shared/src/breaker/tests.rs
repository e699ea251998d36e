//! Every breaker transition, driven with explicit times.

use super::replay::{healed_since, Outage};
use super::*;
use crate::dead_letters::record::DeadLetterRecord;
use crate::error::JobError;

const P: BreakerPolicy = BreakerPolicy::DEFAULT;

fn report(b: &mut Breakers, role: EliteRole, calls: u64, failures: u64, now_ms: i64) {
    let others = EliteRole::ALL.into_iter().filter(|r| *r != role).map(|r| (r, RoleCalls { calls, failures: 0 }));
    let mut all: Vec<(EliteRole, RoleCalls)> = others.collect();
    all.push((role, RoleCalls { calls, failures }));
    b.report(&BreakerReport { calls: all, unused: 0, now_ms });
}

fn gate(b: &mut Breakers, jobs: u32, now_ms: i64) -> GateAnswer {
    b.gate(&GateRequest { jobs, now_ms })
}

#[test]
fn breaker_opens_on_the_failure_rate_of_a_window_not_on_a_few_failures() {
    let mut b = Breakers::new(P, 0);
    // 9 of 9 failing: below the window's minimum of calls.
    report(&mut b, EliteRole::Brand, 9, 9, 1_000);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Closed);
    // A new window forgets the old one: 4 of 10 is under half.
    report(&mut b, EliteRole::Brand, 10, 4, 61_000);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Closed);
    report(&mut b, EliteRole::Brand, 2, 2, 62_000);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Open, "6 of 12 within the window");
    assert_eq!(b.state(EliteRole::Designer), BreakerState::Closed, "one breaker per role");
    let t = &b.transitions[0];
    assert_eq!(
        (t.role, t.from, t.to, t.calls, t.failures, t.at_ms),
        (EliteRole::Brand, BreakerState::Closed, BreakerState::Open, 12, 6, 62_000)
    );
    assert_eq!(t.reason, "6 of 12 calls failed transiently within 60 s");
}

#[test]
fn breaker_open_holds_every_job_until_the_cool_down_then_grants_probes() {
    let mut b = Breakers::new(P, 0);
    report(&mut b, EliteRole::Designer, 10, 10, 1_000);
    let held = gate(&mut b, 8, 11_000);
    assert_eq!((held.admit, held.retry_after_ms, held.held_by), (0, 20_000, vec![EliteRole::Designer]));
    // Cool-down over: half open, two probes between all batches.
    let probe = gate(&mut b, 8, 31_000);
    assert_eq!((probe.admit, probe.held_by.clone()), (2, vec![EliteRole::Designer]));
    assert_eq!(b.state(EliteRole::Designer), BreakerState::HalfOpen);
    assert_eq!(gate(&mut b, 8, 31_500).admit, 0, "every probe is out");
    // A probe whose claim found nothing to work is given back; probes that never report are
    // granted again after the probe timeout.
    b.report(&BreakerReport { calls: Vec::new(), unused: 1, now_ms: 31_600 });
    assert_eq!(gate(&mut b, 8, 31_700).admit, 1);
    assert_eq!(gate(&mut b, 8, 31_800).admit, 0);
    assert_eq!(gate(&mut b, 1, 31_700 + P.probe_timeout_ms).admit, 1);
    // A closed breaker admits everything.
    assert_eq!(gate(&mut Breakers::new(P, 0), 8, 0), GateAnswer { admit: 8, retry_after_ms: 0, held_by: Vec::new() });
}

#[test]
fn breaker_a_failed_probe_reopens_longer_and_successful_probes_close_it() {
    let mut b = Breakers::new(P, 0);
    report(&mut b, EliteRole::Brand, 10, 10, 0);
    let mut at = 0;
    for cool_down in [30_000, 60_000, 120_000, 240_000, 240_000] {
        assert_eq!(b.view().breakers[0].cool_down_ms, cool_down);
        at += cool_down;
        assert_eq!(gate(&mut b, 8, at).admit, 2);
        report(&mut b, EliteRole::Brand, 1, 1, at + 1);
        assert_eq!(b.state(EliteRole::Brand), BreakerState::Open);
        at += 1;
    }
    at += 240_000;
    assert_eq!(gate(&mut b, 8, at).admit, 2);
    report(&mut b, EliteRole::Brand, 1, 0, at + 1);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::HalfOpen, "one probe call of two");
    report(&mut b, EliteRole::Brand, 1, 0, at + 2);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Closed);
    let v = b.view();
    assert_eq!((v.breakers[0].cool_down_ms, v.breakers[0].reason.as_str()), (30_000, "2 probe calls succeeded"));
    // closed→open, then 5 × (open→half_open, half_open→open), open→half_open, half_open→closed.
    assert_eq!(v.transitions.len(), 13);
    assert_eq!((v.transitions[0].from, v.transitions[0].to), (BreakerState::HalfOpen, BreakerState::Closed));
    assert_eq!(gate(&mut b, 8, at + 3).admit, 8);
}

#[test]
fn breaker_transitions_are_bounded_newest_first() {
    let mut b = Breakers::new(P, 0);
    let mut at = 0;
    for _ in 0..40 {
        report(&mut b, EliteRole::Developer, 10, 10, at);
        at += 300_000;
        gate(&mut b, 1, at);
        report(&mut b, EliteRole::Developer, 2, 0, at);
        at += 1;
    }
    assert_eq!(b.transitions.len(), MAX_TRANSITIONS);
    assert!(b.transitions.windows(2).all(|w| w[0].at_ms >= w[1].at_ms), "newest first");
}

#[test]
fn breaker_view_is_exactly_the_stated_json() {
    let mut b = Breakers::new(P, 5);
    report(&mut b, EliteRole::Brand, 10, 7, 1_000);
    let json = serde_json::to_value(b.view()).unwrap();
    let expected = serde_json::json!({
        "breakers": [
            {"role": "brand", "state": "open", "since_ms": 1000, "reason": "7 of 10 calls failed transiently within 60 s", "cool_down_ms": 30000},
            {"role": "designer", "state": "closed", "since_ms": 5, "reason": "", "cool_down_ms": 30000},
            {"role": "developer", "state": "closed", "since_ms": 5, "reason": "", "cool_down_ms": 30000},
        ],
        "transitions": [
            {"at_ms": 1000, "role": "brand", "from": "closed", "to": "open", "reason": "7 of 10 calls failed transiently within 60 s", "calls": 10, "failures": 7},
        ],
    });
    assert_eq!(json, expected);
    let half_open = serde_json::to_value(BreakerState::HalfOpen).unwrap();
    assert_eq!(half_open, "half_open");
}

#[test]
fn breaker_healed_outages_select_the_dead_letters_they_caused() {
    let mut b = Breakers::new(P, 0);
    report(&mut b, EliteRole::Brand, 10, 10, 100_000);
    gate(&mut b, 8, 130_000);
    report(&mut b, EliteRole::Brand, 2, 0, 131_000);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Closed);
    let outages = healed_since(&b.transitions, 0, P.window_ms);
    assert_eq!(outages, vec![Outage { role: EliteRole::Brand, from_ms: 40_000, to_ms: 131_000 }]);
    assert!(healed_since(&b.transitions, 131_000, P.window_ms).is_empty(), "an outage is replayed once");
    let record = |message: &str, failed_ms: i64, transient: bool| DeadLetterRecord {
        id: "j".into(),
        origin_queue: crate::names::OPTIMIZE_QUEUE.into(),
        job_id: Some("j".into()),
        run_id: None,
        customer_id: None,
        body: String::new(),
        error: if transient { JobError::transient(message) } else { JobError::permanent(message) },
        attempts: 4,
        failed_ms,
    };
    let o = &outages[0];
    assert!(o.caused(&record("gave up after 4 attempts; last error: elite brand answered HTTP 503: x", 90_000, true)));
    assert!(!o.caused(&record("elite designer answered HTTP 503: x", 90_000, true)), "another role");
    assert!(!o.caused(&record("elite brand answered HTTP 400: x", 90_000, false)), "permanent");
    assert!(!o.caused(&record("elite brand answered HTTP 503: x", 10_000, true)), "before the outage");
    assert_eq!(o.filter().from_ms, Some(40_000));
}

/// The answer of `GET /breakers` as overload14's brief states it, byte for byte (brand open,
/// designer closed, developer half open; the alerts' tests read it too).
pub(crate) const ANSWER: &str = r#"{"breakers":[
        {"role":"brand","state":"open","since_ms":1000,"reason":"7 of 10 calls failed","cool_down_ms":30000},
        {"role":"designer","state":"closed","since_ms":0,"reason":"","cool_down_ms":30000},
        {"role":"developer","state":"half_open","since_ms":2000,"reason":"cool-down over","cool_down_ms":60000}],
        "transitions":[{"at_ms":1000,"role":"brand","from":"closed","to":"open","reason":"7 of 10 calls failed","calls":10,"failures":7}]}"#;

/// The one decoder (the alerts, the dashboard and the ops tool read it) takes [`ANSWER`], and
/// anything else is no data.
#[test]
fn the_views_answer_decodes_and_anything_else_is_no_data() {
    let answer = ANSWER;
    let b = BreakersView::decode(200, answer).expect("the stated shape decodes");
    assert_eq!(b.breakers.len(), 3);
    assert_eq!((b.breakers[2].state, b.breakers[2].state.as_str()), (BreakerState::HalfOpen, "half_open"));
    assert_eq!((b.transitions[0].from, b.transitions[0].to, b.transitions[0].failures), (BreakerState::Closed, BreakerState::Open, 7));
    // A ledger without the route answers 404 (or its unknown-route error): no data.
    assert_eq!(BreakersView::decode(404, r#"{"error":"no such route"}"#), None);
    assert_eq!(BreakersView::decode(400, answer), None);
    assert_eq!(BreakersView::decode(200, r#"{"error":"unknown route /breakers"}"#), None);
    assert_eq!(BreakersView::decode(200, "not json"), None);
    // The view the state machine answers round-trips through the decoder.
    let view = Breakers::new(BreakerPolicy::DEFAULT, 5).view();
    assert_eq!(BreakersView::decode(200, &serde_json::to_string(&view).unwrap()), Some(view));
}

/// `BREAKERS_ENABLED = "off"`: an open breaker holds nothing back and hears of no call; on,
/// the same breaker holds the batch.
#[test]
fn the_off_switch_admits_everything_and_reports_nothing() {
    use crate::ports::{Breakers as _, Switched};
    use crate::testkit::breakers::MemoryBreakers;
    use futures::executor::block_on;

    let twin = MemoryBreakers::new(P, 0);
    report(&mut twin.book.borrow_mut(), EliteRole::Brand, 20, 20, 1_000);
    let opened = twin.book.borrow().view().breakers.iter().any(|b| b.state == BreakerState::Open);
    assert!(opened, "the brand breaker is open");
    let off = Switched { breakers: &twin, enabled: false };
    let answer = block_on(off.gate(&GateRequest { jobs: 8, now_ms: 2_000 })).unwrap();
    assert_eq!((answer.admit, answer.retry_after_ms, twin.held.get()), (8, 0, 0));
    let before = twin.book.borrow().clone();
    let calls = vec![(EliteRole::Brand, RoleCalls { calls: 3, failures: 3 })];
    block_on(off.report(&BreakerReport { calls, unused: 0, now_ms: 2_000 })).unwrap();
    assert_eq!(*twin.book.borrow(), before, "nothing reported");
    let on = Switched { breakers: &twin, enabled: true };
    assert_eq!(block_on(on.gate(&GateRequest { jobs: 8, now_ms: 2_000 })).unwrap().admit, 0, "on: the open breaker holds the batch");
}

/// An auto-replay is recorded like the API's replay: its count is the ids replayed, its reason
/// names the outage's role and closing.
#[test]
fn an_auto_replay_is_audited_like_a_replay() {
    use crate::api::Endpoint;
    use crate::audit::{count, normalise, reason_of};

    let outage = Outage { role: EliteRole::Brand, from_ms: 0, to_ms: 1_795_914_900_000 };
    let ids = vec!["local.optimize.20261129T010000Z.a".to_owned(), "local.optimize.20261129T010000Z.b".to_owned()];
    let (body, answer) = outage.audit(&ids);
    assert_eq!(count(Endpoint::ReplayDeadLetters, 200, &answer), 2);
    let reason = reason_of(&body).expect("a reason");
    assert!(reason.starts_with("automatic: the brand breaker closed at 2026-11-29T"), "{reason}");
    let request = normalise("/api/dead-letters/replay", &body);
    assert!(request.contains("20261129T010000Z.b") && !request.contains("automatic"), "{request}");
}

#[test]
fn breaker_window_counts_of_a_closed_breaker_need_no_write_a_transition_does() {
    let mut b = Breakers::new(P, 0);
    let before = b.durable();
    report(&mut b, EliteRole::Brand, 8, 1, 1_000);
    assert_ne!(b, Breakers::new(P, 0), "the window counted the calls");
    assert_eq!(b.durable(), before, "only a closed breaker's window changed: nothing to write");
    report(&mut b, EliteRole::Brand, 10, 10, 2_000);
    assert_eq!(b.state(EliteRole::Brand), BreakerState::Open);
    assert_ne!(b.durable(), before, "an opening is written");
}

/// The cap holds per outage, not per look: the dispatcher looks at a closing at every sweep
/// for 15 minutes (five looks), and each look replays only what the cap leaves.
#[test]
fn an_outage_replays_at_most_its_cap_over_every_look() {
    use super::replay::AUTO_REPLAY_LIMIT;
    let cap = u64::from(AUTO_REPLAY_LIMIT);
    assert_eq!(Outage::allowance(0), AUTO_REPLAY_LIMIT);
    assert_eq!(Outage::allowance(cap - 20), 20);
    assert_eq!((Outage::allowance(cap), Outage::allowance(cap + 7)), (0, 0));
    // Five looks at an outage that killed 2,000 letters: 500 in all.
    let (mut replayed, mut dead) = (0u64, 2_000u64);
    for _ in 0..5 {
        let now = u64::from(Outage::allowance(replayed)).min(dead);
        (replayed, dead) = (replayed + now, dead - now);
    }
    assert_eq!(replayed, cap);
    let outage = Outage { role: crate::elite::EliteRole::Designer, from_ms: 0, to_ms: 1 };
    assert_eq!(outage.role_pattern(), "%elite designer%");
    assert!(outage.caused_by(crate::error::ErrorClass::Transient, "elite designer answered HTTP 503", 1));
}
