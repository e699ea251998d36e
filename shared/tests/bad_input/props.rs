//! Generated bad input (proptest): random strings, random mutations and truncations of valid
//! bodies, and well-shaped JSON with wrong-typed values, for every decoder of untrusted
//! input. Each property states what acceptance guarantees; refusals must be classified and
//! short. Shrunk failures are kept by proptest in `proptest-regressions/` beside this file,
//! and interesting ones are copied into the corpus.

use code24_shared::api::MAX_LIMIT;
use code24_shared::auth::{authorize, bearer_token, compare, Access, MAX_TOKEN_BYTES};
use code24_shared::dead_letters::query::{Cursor, DeadLetterFilter};
use code24_shared::dead_letters::record::{record_for, valid_entry_id};
use code24_shared::dead_letters::selection::Selection;
use code24_shared::error::ErrorClass;
use code24_shared::ids::{from_epoch_ms, CustomerId};
use code24_shared::optimization::optimization_key;
use code24_shared::pipeline::consumer::Action;
use code24_shared::reports::jobs::ReportJob;
use code24_shared::reports::revenue::BillingEvent;
use code24_shared::site::{SiteRegistration, SiteUrl};
use code24_shared::wire::OptimizeJob;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::pipeline::Twins;

/// Cases per property. Fixed (not read from `PROPTEST_CASES`) so the README's figure is true.
pub(crate) const CASES: u32 = 1_000;

/// The generator's seed when `PROPTEST_RNG_SEED` is unset: fixed, so the test tier is the same
/// on every run and a red build always means a change broke something. Explore other cases
/// with `PROPTEST_RNG_SEED=<n> cargo test -p code24-shared --test bad_input`.
const DEFAULT_SEED: u64 = 0x00C0_DE24;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig { cases: CASES, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(DEFAULT_SEED);
    }
    config
}

const GOOD_JOB: &str = r#"{"v":1,"job_id":"local.optimize.20261129T011500Z.acme","sweep_id":"local.optimize.20261129T011500Z","scheduled_ms":1795914900000,"customer_id":"acme","site_url":"https://acme.example"}"#;
const GOOD_SITE: &str = r#"{"customer_id":"acme","url":"https://a.example","plan":"growth","name":"Acme","active":true}"#;
const GOOD_SELECTION: &str =
    r#"{"filter":{"customer_id":"acme","status":"dead","from_ms":1,"to_ms":9},"limit":10,"rate_per_s":5,"dry_run":true}"#;
const GOOD_BILLING: &str = r#"{"customer_id":"acme","at_ms":1795914900000,"mrr_cents":4900}"#;
const GOOD_REPORT: &str = r#"{"v":1,"job_id":"local.monthly-analytics.2026-10.acme","run_id":"local.monthly-analytics.2026-10","month":{"year":2026,"month":10},"scheduled_ms":1793545200000,"work":{"kind":"monthly_customer","customer_id":"acme"}}"#;

/// Characters that matter to the decoders, plus anything at all.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '"', '\\', '{', '}', '[', ']', ':', ',', '.', '/', '%', '@', '\0', '\n', ' ', '-', '_', 'é', '\u{202e}', '0', '9', 'a'
        ]),
        any::<char>(),
    ]
}

fn nasty_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(nasty_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

/// A random edit of `good`: truncate, delete a range, insert or overwrite with nasty text.
fn mutated(good: &'static str) -> impl Strategy<Value = String> {
    let n = good.len();
    (0..4u8, 0..=n, 0..=n, nasty_string(12)).prop_map(move |(kind, a, b, s)| {
        let (lo, hi) = (a.min(b), a.max(b));
        let at = |i: usize| (0..=i).rev().find(|j| good.is_char_boundary(*j)).unwrap_or(0);
        let (lo, hi) = (at(lo), at(hi));
        match kind {
            0 => good[..lo].to_owned(),
            1 => format!("{}{}", &good[..lo], &good[hi..]),
            2 => format!("{}{s}{}", &good[..lo], &good[lo..]),
            _ => format!("{}{s}{}", &good[..lo], &good[hi..]),
        }
    })
}

/// Any JSON scalar or small container: for wrong-typed fields.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        nasty_string(20).prop_map(Value::from),
        prop::sample::select(vec!["acme", "../x", "https://a.example", "local.optimize.20261129T011500Z", "1"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| prop::collection::vec(inner, 0..3).prop_map(Value::from))
}

/// `good` with some fields replaced by arbitrary values or removed, and maybe one added.
fn reshaped(good: &'static str) -> impl Strategy<Value = String> {
    let fields: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(good).expect("an object").keys().cloned().collect();
    let n = fields.len();
    (prop::collection::vec((0..n, prop::option::of(any_json())), 1..4), prop::option::of(("[a-z_]{1,8}", any_json()))).prop_map(
        move |(edits, extra)| {
            let mut obj: serde_json::Map<String, Value> = serde_json::from_str(good).expect("an object");
            for (i, value) in edits {
                match value {
                    Some(v) => obj.insert(fields[i].clone(), v),
                    None => obj.remove(&fields[i]),
                };
            }
            if let Some((k, v)) = extra {
                obj.insert(k, v);
            }
            Value::Object(obj).to_string()
        },
    )
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![nasty_string(200), mutated(GOOD_JOB), reshaped(GOOD_JOB)]
}

/// What an accepted optimize job guarantees: every part of its R2 key and ids is safe.
fn assert_valid_job(job: &OptimizeJob) {
    let key = optimization_key(&job.customer_id, job.scheduled);
    let segments: Vec<&str> = key.split('/').collect();
    assert_eq!(segments.len(), 3, "{key}");
    assert!(segments.iter().all(|s| !s.is_empty() && *s != "." && *s != ".."), "{key}");
    assert!(key.starts_with("optimizations/") && key.ends_with(".json"), "{key}");
    assert!(valid_entry_id(job.job_id.as_str()), "{}", job.job_id);
    assert!(job.site_url.as_str().starts_with("http://") || job.site_url.as_str().starts_with("https://"));
    assert_eq!(OptimizeJob::decode(&job.encode()).as_ref(), Ok(job), "round trip");
}

fn is_customer_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn optimize_bodies_are_accepted_only_whole(body in body()) {
        match OptimizeJob::decode(&body) {
            Ok(job) => assert_valid_job(&job),
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                prop_assert!(e.message.len() <= 1_024, "{} bytes", e.message.len());
                if e.class == ErrorClass::Transient {
                    prop_assert!(e.message.contains("newer than this consumer"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn truncated_optimize_bodies_are_refused(cut in 0..GOOD_JOB.len()) {
        let e = OptimizeJob::decode(&GOOD_JOB[..cut]).expect_err("a truncated body");
        prop_assert_eq!(e.class, ErrorClass::Permanent);
    }

    #[test]
    fn bad_bodies_in_a_batch_change_nothing_but_their_dead_letters(bad in body()) {
        let twins = Twins::default();
        let actions = twins.run(std::slice::from_ref(&bad));
        match OptimizeJob::decode(&bad) {
            Ok(_) => prop_assert_eq!(actions, vec![Action::Ack]),
            Err(e) => {
                twins.assert_untouched("a generated body");
                let letters = twins.dead_letters.letters.borrow();
                match e.class {
                    ErrorClass::Permanent => {
                        prop_assert_eq!(actions, vec![Action::Ack]);
                        prop_assert_eq!(letters.len(), 1);
                        prop_assert_eq!(&letters[0].body, &bad);
                        prop_assert_eq!(&letters[0].error, &e);
                    }
                    ErrorClass::Transient => {
                        prop_assert!(matches!(actions[..], [Action::Retry { .. }]), "{:?}", actions);
                        prop_assert!(letters.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn customer_ids_are_exactly_the_safe_key_segments(raw in nasty_string(80)) {
        let parsed = CustomerId::parse(&raw);
        prop_assert_eq!(parsed.is_ok(), is_customer_id(&raw), "{:?}", raw);
        if let Ok(id) = parsed {
            let key = optimization_key(&id, from_epoch_ms(0).expect("epoch"));
            prop_assert_eq!(key, format!("optimizations/{raw}/19700101T000000Z.json"));
        }
    }

    #[test]
    fn site_urls_are_plain_http_with_a_host(tail in nasty_string(60), scheme in prop::sample::select(vec!["https://", "http://", "", "ftp://", "HTTP://"])) {
        let raw = format!("{scheme}{tail}");
        match SiteUrl::parse(&raw) {
            Ok(url) => {
                let rest = url.as_str().strip_prefix("https://").or_else(|| url.as_str().strip_prefix("http://"));
                let authority = rest.expect("http(s)").split(['/', '?', '#']).next().unwrap_or("");
                prop_assert!(!authority.is_empty() && !authority.contains('@'), "{}", raw);
                prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control()), "{:?}", raw);
                prop_assert!(raw.len() <= SiteUrl::MAX_LEN);
            }
            Err(e) => {
                prop_assert!(e.len() <= 1_024);
                if raw.contains('@') {
                    // A URL with '@' may carry credentials: the message never quotes it.
                    let unquoted = ["(withheld: it contains '@')", "must not carry credentials", "bytes long"];
                    prop_assert!(unquoted.iter().any(|m| e.contains(m)), "a refused URL with '@' is quoted: {}", e);
                }
            }
        }
    }

    #[test]
    fn site_registrations_are_validated_whole(body in prop_oneof![nasty_string(120), mutated(GOOD_SITE), reshaped(GOOD_SITE)]) {
        match SiteRegistration::decode(&body) {
            Ok(site) => {
                prop_assert!(is_customer_id(site.customer_id.as_str()));
                prop_assert!(SiteUrl::parse(site.url.as_str()).is_ok());
                prop_assert!(site.name.as_ref().is_none_or(|n| n.len() <= SiteRegistration::MAX_NAME_LEN && !n.chars().any(char::is_control)));
            }
            Err(e) => prop_assert!(!e.is_empty() && e.len() <= 1_024, "{}", e),
        }
    }

    #[test]
    fn selections_are_validated_whole(body in prop_oneof![nasty_string(120), mutated(GOOD_SELECTION), reshaped(GOOD_SELECTION)]) {
        match Selection::decode(&body) {
            Ok(s) => {
                prop_assert!(s.ids.is_some() != s.filter.is_some());
                prop_assert!((1..=MAX_LIMIT).contains(&s.limit()));
                prop_assert!(s.rate_per_s != Some(0));
                prop_assert!(s.dry_run || s.reason.as_deref().is_some_and(|r| !r.trim().is_empty()), "a change without a reason");
                if let Some(ids) = &s.ids {
                    prop_assert!(!ids.is_empty() && ids.iter().all(|i| valid_entry_id(i)));
                }
                if let Some(f) = &s.filter {
                    prop_assert!(f.check().is_ok());
                }
            }
            Err(e) => prop_assert!(!e.is_empty() && e.len() <= 1_024, "{}", e),
        }
    }

    #[test]
    fn billing_events_are_validated_whole(body in prop_oneof![nasty_string(120), mutated(GOOD_BILLING), reshaped(GOOD_BILLING)]) {
        match BillingEvent::decode(&body) {
            Ok(e) => {
                prop_assert!(is_customer_id(&e.customer_id));
                prop_assert!(e.at_ms >= 0 && (0..=BillingEvent::MAX_MRR_CENTS).contains(&e.mrr_cents));
            }
            Err(e) => prop_assert!(!e.is_empty() && e.len() <= 1_024, "{}", e),
        }
    }

    #[test]
    fn report_jobs_are_validated_whole(body in prop_oneof![
        nasty_string(120),
        mutated(GOOD_REPORT),
        reshaped(GOOD_REPORT),
        (any::<i32>(), any::<u32>()).prop_map(|(y, m)| GOOD_REPORT.replace(r#"{"year":2026,"month":10}"#, &format!(r#"{{"year":{y},"month":{m}}}"#))),
    ]) {
        match ReportJob::decode(&body) {
            Ok(job) => {
                prop_assert!(valid_entry_id(&job.job_id), "{}", job.job_id);
                prop_assert!(code24_shared::ids::RunId::parse(&job.run_id).is_some(), "{}", job.run_id);
                // Everything the consumer derives from an accepted job is defined (no panic).
                if let Some(month) = job.month {
                    prop_assert!(month.start() < month.end());
                    prop_assert!(month.analytics_key().starts_with("analytics/monthly/"));
                }
                prop_assert_eq!(ReportJob::decode(&job.encode()).map(|j| j.job_id), Ok(job.job_id.clone()));
            }
            Err(e) => prop_assert!(!e.message.is_empty() && e.message.len() <= 1_024, "{}", e.message),
        }
    }

    #[test]
    fn dead_letter_filters_only_bind_parameters(
        pairs in prop::collection::vec((prop::sample::select(vec!["origin_queue", "customer_id", "sweep_id", "error_class", "status", "from_ms", "to_ms", "limit", "x"]), nasty_string(20)), 0..5)
    ) {
        let got = DeadLetterFilter::from_query(pairs.iter().map(|(k, v)| (*k, v.as_str())), &["limit", "cursor"]);
        if let Ok(filter) = got {
            let (sql, params) = filter.where_sql();
            let allowed = ["origin_queue = ?", "customer_id = ?", "sweep_id = ?", "error_class = ?", "status = ?", "status <> ?", "last_failed_ms >= ?", "last_failed_ms < ?"];
            for (i, clause) in sql.split(" AND ").enumerate() {
                let template = clause.trim_end_matches(char::is_numeric);
                prop_assert!(allowed.contains(&template), "{}", clause);
                prop_assert_eq!(clause, format!("{template}{}", i + 1));
            }
            prop_assert_eq!(sql.split(" AND ").count(), params.len());
        }
    }

    #[test]
    fn cursors_round_trip_or_are_refused(raw in nasty_string(40)) {
        if let Ok(c) = Cursor::decode(&raw) {
            prop_assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        }
    }

    #[test]
    fn dead_letter_queue_records_have_addressable_ids(
        body in prop_oneof![nasty_string(100), body()],
        job_id in prop::option::of(nasty_string(30)),
        as_letter in any::<bool>(),
    ) {
        let dlq_body = if as_letter {
            json!({"v": 1, "origin_queue": "code24-optimize", "body": body, "error": {"class": "permanent", "message": "x"},
                   "attempts": 1, "job_id": job_id, "sweep_id": null, "customer_id": null, "dead_at_ms": 1}).to_string()
        } else {
            body
        };
        let record = record_for(&dlq_body, "code24-optimize-dlq", "code24-optimize", 1);
        prop_assert!(valid_entry_id(&record.id), "{:?}", record.id);
    }

    #[test]
    fn only_the_exact_token_is_allowed_and_every_comparison_costs_the_same(
        secret in "[ -~]{0,80}",
        guess in prop_oneof![nasty_string(90), "[ -~]{0,80}"],
        header_form in 0..3u8,
    ) {
        let header = match header_form {
            0 => Some(format!("Bearer {guess}")),
            1 => Some(guess.clone()),
            _ => None,
        };
        let got = authorize(header.as_deref(), &secret);
        let token = header.as_deref().and_then(bearer_token);
        let expected = if secret.is_empty() {
            Access::Disabled
        } else if token == Some(secret.as_str()) {
            Access::Allowed
        } else {
            Access::Refused
        };
        prop_assert_eq!(got, expected);
        prop_assert_eq!(compare(guess.as_bytes(), secret.as_bytes()).1, MAX_TOKEN_BYTES);
    }
}

/// The generators start from valid bodies: otherwise the properties' acceptance branches
/// would never run.
#[test]
fn the_generators_seeds_are_valid() {
    OptimizeJob::decode(GOOD_JOB).expect("GOOD_JOB");
    SiteRegistration::decode(GOOD_SITE).expect("GOOD_SITE");
    Selection::decode(GOOD_SELECTION).expect("GOOD_SELECTION");
    BillingEvent::decode(GOOD_BILLING).expect("GOOD_BILLING");
    ReportJob::decode(GOOD_REPORT).expect("GOOD_REPORT");
}
