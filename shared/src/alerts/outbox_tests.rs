//! The outbox's body, rate cap, ordering and retries.

use super::*;
use crate::alerts::Severity;

const NOW: i64 = 1_800_000_000_000;

fn incident(key: &str, opened_ms: i64) -> Incident {
    Incident {
        id: Incident::id_of(key, opened_ms),
        key: key.into(),
        severity: Severity::Critical,
        summary: format!("{key} broke"),
        opened_ms,
        resolved_ms: None,
    }
}

fn pending(incident: &Incident, phase: Phase, opening: Option<Status>) -> Outgoing {
    Outgoing { message: Message::new("production", incident, phase, incident.opened_ms), opening }
}

#[test]
fn the_body_is_slack_text_and_a_generic_incident() {
    let i = incident("health", NOW);
    let open: serde_json::Value = serde_json::from_str(&body("production", &i, Phase::Open)).unwrap();
    assert_eq!(open["text"], "[production] critical incident health: health broke");
    assert_eq!(open["incident"]["id"], format!("health.{NOW}"));
    assert_eq!(open["incident"]["phase"], "open");
    assert_eq!(open["incident"]["resolved_at"], serde_json::Value::Null);
    let resolved = Incident { resolved_ms: Some(NOW + 60_000), ..i };
    let done: serde_json::Value = serde_json::from_str(&body("production", &resolved, Phase::Resolve)).unwrap();
    assert!(done["text"].as_str().unwrap().starts_with("[production] resolved health"), "{done}");
    assert_eq!(done["incident"]["phase"], "resolve");
    assert!(done["incident"]["resolved_at"].is_string());
    assert_eq!(Message::new("x", &resolved, Phase::Resolve, NOW).id, format!("health.{NOW}.resolve"));
}

#[test]
fn openings_past_the_rate_cap_are_suppressed_and_so_are_their_resolutions() {
    let a = incident("sweep", NOW);
    let sent: Vec<(String, i64)> = (0..OPENINGS_PER_KEY_PER_HOUR as i64).map(|n| ("sweep".to_owned(), NOW - 10_000 * (n + 1))).collect();
    let steps = plan(&[pending(&a, Phase::Open, None), pending(&a, Phase::Resolve, None)], &sent, NOW);
    assert!(matches!(&steps[0], Step::Suppress(why) if why.contains("rate cap")), "{steps:?}");
    assert!(matches!(&steps[1], Step::Suppress(why) if why.contains("opening was not sent")), "{steps:?}");
    // Another key is not capped by this one; an hour later the key sends again.
    let b = incident("health", NOW);
    assert_eq!(plan(&[pending(&b, Phase::Open, None)], &sent, NOW), [Step::Send]);
    assert_eq!(plan(&[pending(&a, Phase::Open, None)], &sent, NOW + 3_600_000), [Step::Send]);
}

#[test]
fn a_resolution_follows_its_sent_opening_and_is_never_capped() {
    let a = incident("health", NOW);
    // Opening and resolution pending together: both go, in order.
    assert_eq!(
        plan(&[pending(&a, Phase::Open, None), pending(&a, Phase::Resolve, Some(Status::Pending))], &[], NOW),
        [Step::Send, Step::Send]
    );
    // The opening is waiting for a retry: the resolution waits too.
    let mut retrying = pending(&a, Phase::Open, None);
    retrying.message.next_attempt_ms = NOW + 60_000;
    assert_eq!(plan(&[retrying, pending(&a, Phase::Resolve, Some(Status::Pending))], &[], NOW), [Step::Wait, Step::Wait]);
    // The opening was sent: the resolution goes even with the key at its cap.
    let capped: Vec<(String, i64)> = vec![("health".to_owned(), NOW - 1); OPENINGS_PER_KEY_PER_HOUR + 2];
    assert_eq!(plan(&[pending(&a, Phase::Resolve, Some(Status::Sent))], &capped, NOW), [Step::Send]);
    // The opening was given up: so is announcing the end.
    assert!(matches!(plan(&[pending(&a, Phase::Resolve, Some(Status::Failed))], &[], NOW)[0], Step::Suppress(_)));
}

#[test]
fn a_tick_sends_a_bounded_number_and_old_messages_are_given_up() {
    let many: Vec<Outgoing> =
        (0..SENDS_PER_TICK as i64 + 2).map(|n| pending(&incident(&format!("breaker:r{n}"), NOW), Phase::Open, None)).collect();
    let steps = plan(&many, &[], NOW);
    assert_eq!(steps.iter().filter(|s| **s == Step::Send).count(), SENDS_PER_TICK);
    assert_eq!(steps.last(), Some(&Step::Wait));
    let old = pending(&incident("health", NOW - MAX_AGE_MS), Phase::Open, None);
    assert!(matches!(&plan(&[old], &[], NOW)[0], Step::GiveUp(why) if why.contains("24 h")));
}

#[test]
fn failures_back_off_then_give_up() {
    assert_eq!(retry_delay_ms(1), 60_000);
    assert_eq!(retry_delay_ms(2), 120_000);
    assert_eq!(retry_delay_ms(7), 3_600_000);
    assert_eq!(retry_delay_ms(30), 3_600_000);
    assert_eq!(after_failure(1, NOW), Some(NOW + 60_000));
    assert_eq!(after_failure(MAX_ATTEMPTS - 1, NOW).map(|t| t > NOW), Some(true));
    assert_eq!(after_failure(MAX_ATTEMPTS, NOW), None);
    assert_eq!(
        (Phase::parse("resolve"), Status::parse("suppressed"), Status::parse("x")),
        (Some(Phase::Resolve), Some(Status::Suppressed), None)
    );
}
