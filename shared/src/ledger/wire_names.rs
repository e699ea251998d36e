//! The ledger's JSON keeps the field names it had before runs, lanes and subjects were named
//! for what they are (`sweep_id`, `sweep_ids`, `customer_id`): an old and a new Worker version
//! exchange these bodies during a deploy, and the shards' SQLite rows are read back by column
//! name. Each test decodes a body as an older build wrote it and encodes it back byte for byte.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;

fn check<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(old_json: &str, value: T) {
    let decoded: T = serde_json::from_str(old_json).unwrap_or_else(|e| panic!("{old_json}: {e}"));
    assert_eq!(decoded, value, "{old_json}");
    assert_eq!(serde_json::to_string(&value).unwrap(), old_json);
}

#[test]
fn job_shard_bodies_keep_their_field_names() {
    check(
        r#"{"job_id":"l.optimize.s1.acme","sweep_id":"l.optimize.s1","customer_id":"acme","scheduled_ms":5,"replay":false}"#,
        JobClaim {
            job_id: "l.optimize.s1.acme".into(),
            run_id: "l.optimize.s1".into(),
            subject: "acme".into(),
            scheduled_ms: 5,
            replay: false,
            replay_at_ms: None,
        },
    );
    check(
        r#"{"customer_id":"l.health-check.s1:check","newest_scheduled_ms":5,"active_job":null,"active_lease_until_ms":0}"#,
        SiteRow { lane: "l.health-check.s1:check".into(), newest_scheduled_ms: 5, active_job: None, active_lease_until_ms: 0 },
    );
    check(
        r#"{"sweep_id":"l.optimize.s1","in_flight":1,"retrying":0,"succeeded":2,"dead":0,"superseded":0,"duplicates":0,"last_terminal_ms":9}"#,
        ShardCounts { run_id: "l.optimize.s1".into(), in_flight: 1, succeeded: 2, last_terminal_ms: Some(9), ..ShardCounts::default() },
    );
    check(r#"{"sweep_ids":["l.optimize.s1"]}"#, CountsRequest { run_ids: vec!["l.optimize.s1".into()] });
}

#[test]
fn coordinator_bodies_keep_their_field_names() {
    check(
        r#"{"sweep_id":"l.monthly-analytics.2026-11","now_ms":7}"#,
        FinalizeRequest { run_id: "l.monthly-analytics.2026-11".into(), now_ms: 7 },
    );
    check(r#"{"sweep_id":"l.optimize.s1"}"#, ProgressRequest { run_id: "l.optimize.s1".into() });
    check(
        r#"{"sweep_id":"l.optimize.s1","owner":"p","now_ms":3}"#,
        FanoutDone { run_id: "l.optimize.s1".into(), owner: "p".into(), now_ms: 3 },
    );
}
