//! The control contract of the local elite stand-in (a simulated elite worker used only in
//! local runs and tests): fault rules that tests set at runtime, and the call statistics they
//! read back. Also the deterministic answer the stand-in gives, so tests can predict content.
//!
//! Control routes on the stand-in: `PUT /__standin/faults` (body: [`FaultRules`], replaces all
//! rules), `DELETE /__standin/faults`, `GET /__standin/stats` (answer: [`StandinStats`]),
//! `DELETE /__standin/stats` (zeroes the counters), the alert receiver ([`ALERTS_PATH`]), and
//! the queue injection hook
//! `POST /__standin/queue/{optimize|reports}` (body: [`InjectRequest`], answer:
//! [`InjectReply`]) that sends raw bodies onto a pipeline queue, so end-to-end tests can
//! deliver duplicates and malformed messages. The stand-in Worker is never deployed (the
//! configuration check keeps it out of every deployed environment), so neither is the hook.

pub mod access;
pub mod model;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::elite::{EliteRequest, EliteResponse, EliteRole, Impact, PlatformContext, Recommendation, ELITE_CONTRACT_VERSION};
use crate::ids::stable_hash;

/// Prefix of every control route.
pub const CONTROL_PREFIX: &str = "/__standin";
/// Fault rules: `PUT` replaces, `DELETE` clears, `GET` shows remaining budgets.
pub const FAULTS_PATH: &str = "/__standin/faults";
/// Call counters: `GET` reads, `DELETE` zeroes.
pub const STATS_PATH: &str = "/__standin/stats";

/// The alert receiver (local only): `POST` keeps one webhook body (the dispatcher's alerts go
/// here instead of a real webhook), `GET` lists what was received ([`ReceivedAlerts`]),
/// `DELETE` forgets it, `PUT` ([`AlertFaults`]) makes it refuse the next bodies.
pub const ALERTS_PATH: &str = "/__standin/alerts";

/// What the alert receiver kept, oldest first: each body as JSON, as it arrived; and how many
/// of the next bodies it will refuse.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReceivedAlerts {
    pub received: Vec<serde_json::Value>,
    /// Bodies refused with a 503 (and not kept) so far.
    #[serde(default)]
    pub refused: u32,
    /// The next this many bodies are refused with a 503 (`PUT` [`ALERTS_PATH`] with
    /// [`AlertFaults`]): how a test makes a send fail and sees it retried.
    #[serde(default)]
    pub fail_next: u32,
}

/// Body of `PUT` [`ALERTS_PATH`]: the receiver refuses the next `fail_next` bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertFaults {
    pub fail_next: u32,
}

/// The dispatcher's queue-send faults (a local-only fault switch): `PUT` arms a
/// [`SendFaults`] plan, `GET` shows it, `DELETE` disarms it.
pub const SEND_FAULTS_PATH: &str = "/__standin/send-faults";
/// `POST`: answers the armed plan and disarms it, so exactly one fan-out suffers it. The
/// dispatcher asks once per optimization fan-out, and only when its `ENVIRONMENT` is `local`.
pub const SEND_FAULTS_TAKE_PATH: &str = "/__standin/send-faults/take";

/// Send failures the dispatcher injects into one fan-out: every `every`-th `send_batch` attempt
/// fails as a 429 would, `times` times at most. Disarmed: `every` = 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFaults {
    pub every: u32,
    pub times: u32,
}

impl SendFaults {
    /// Whether attempt number `attempt` (1 = the first) fails, `failed` having failed so far.
    pub fn fails(&self, attempt: u64, failed: u32) -> bool {
        self.every > 0 && failed < self.times && attempt.is_multiple_of(u64::from(self.every))
    }
}

/// Prefix of the queue injection hook: `POST /__standin/queue/{target}`.
pub const QUEUE_PATH_PREFIX: &str = "/__standin/queue/";
/// At most this many bodies per injection request (a test that needs more sends several).
pub const MAX_INJECT_BODIES: usize = 1_000;

/// A pipeline queue the injection hook can send to, named in the hook's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectTarget {
    /// The optimize queue (`optimize`).
    Optimize,
    /// The reports queue (`reports`).
    Reports,
}

impl InjectTarget {
    /// The target named by the last path segment of the hook, if any.
    pub fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "optimize" => Some(Self::Optimize),
            "reports" => Some(Self::Reports),
            _ => None,
        }
    }

    /// The queue's (local) name.
    pub fn queue(self) -> &'static str {
        match self {
            Self::Optimize => crate::names::OPTIMIZE_QUEUE,
            Self::Reports => crate::names::REPORTS_QUEUE,
        }
    }
}

/// Body of an injection: each string is sent as-is as one text message, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InjectRequest {
    pub bodies: Vec<String>,
}

/// Answer of an injection that sent every body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectReply {
    pub queue: String,
    pub sent: usize,
}

/// Decodes and bounds an injection body; the error says what was wrong.
pub fn decode_inject(body: &[u8]) -> Result<InjectRequest, String> {
    let request: InjectRequest =
        serde_json::from_slice(body).map_err(|e| format!("body is not {{\"bodies\": [\"<message text>\", ...]}}: {e}"))?;
    match request.bodies.len() {
        0 => Err("bodies is empty: nothing to send".to_owned()),
        n if n > MAX_INJECT_BODIES => Err(format!("{n} bodies; at most {MAX_INJECT_BODIES} per request")),
        _ => Ok(request),
    }
}

/// What a matching call suffers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Answer with this HTTP status (e.g. 503 for transient, 400 for permanent).
    Status { code: u16 },
    /// Never answer within any sane timeout (sleeps `ms`, default 120 s).
    Hang { ms: Option<u64> },
    /// Answer normally after this added latency.
    Latency { ms: u64 },
    /// Answer 200 with a body that is not the contract (a permanent failure for the client).
    Garbage,
    /// Not a failure: answer normally, but with this score (0-100). How a test makes a site's
    /// score move over a month, which the simulated answer alone never does.
    Score { score: u8 },
}

/// The stand-in's answer to `request` when a [`Fault::Score`] rule sets its score.
pub fn scored_answer(request: &EliteRequest, score: u8) -> EliteResponse {
    EliteResponse { score, ..simulated_answer(request) }
}

/// One fault rule. A call matches when every given selector matches; the first matching rule
/// with budget left applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Only calls about this customer; all customers when absent.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Only calls to this role; all roles when absent.
    #[serde(default)]
    pub role: Option<EliteRole>,
    pub fault: Fault,
    /// Fraction of matching calls that suffer, 0.0-1.0 (decided deterministically from the
    /// call's sequence number, which restarts at 0 when the stats are reset); every matching
    /// call when absent. A call outside the rate costs no budget and falls through to the
    /// next rule.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Apply to at most this many calls, then stop matching; unlimited when absent. This is
    /// how a test makes a site fail once and succeed on retry.
    #[serde(default)]
    pub times: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaultRules {
    pub rules: Vec<FaultRule>,
}

/// Call counters of the stand-in since it started (or since `DELETE /__standin/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StandinStats {
    /// Random id of the stand-in's wasm instance: if it changes between two reads, the
    /// counters were reset by a restart and a comparison of them means nothing.
    pub instance: String,
    /// Optimize calls per customer id, per role.
    pub calls: BTreeMap<String, BTreeMap<EliteRole, u64>>,
    /// Optimize calls in all.
    pub total_calls: u64,
    /// Calls that suffered a fault.
    pub faults_applied: u64,
    /// Calls that carried a platform context, per month the context was learned from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub platform_context_calls: BTreeMap<String, u64>,
    /// The platform context of the latest call that carried one, as the stand-in decoded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_platform_context: Option<PlatformContext>,
}

/// Whether the call with sequence number `seq` falls within `rate` (deterministic, roughly
/// uniform over consecutive sequence numbers).
pub fn within_rate(rate: f64, seq: u64) -> bool {
    let bucket = stable_hash(&seq.to_le_bytes()) % 10_000;
    (bucket as f64) < rate.clamp(0.0, 1.0) * 10_000.0
}

/// The stand-in's answer to a request: derived only from (role, site URL), so the same site
/// always gets the same result and tests can compute the expected R2 content.
pub fn simulated_answer(request: &EliteRequest) -> EliteResponse {
    let seed = stable_hash(format!("{}|{}", request.role.as_str(), request.site_url).as_bytes());
    let score = (seed % 101) as u8;
    let (area, action) = match request.role {
        EliteRole::Brand => ("brand", "tighten the headline to one value proposition"),
        EliteRole::Designer => ("design", "raise body text contrast to WCAG AA"),
        EliteRole::Developer => ("performance", "lazy-load below-the-fold images"),
    };
    let impact = match seed % 3 {
        0 => Impact::Low,
        1 => Impact::Medium,
        _ => Impact::High,
    };
    EliteResponse {
        v: ELITE_CONTRACT_VERSION,
        role: request.role,
        score,
        summary: format!("[simulated by the local stand-in] {} scores {score}/100 for {}", request.site_url, request.role.as_str()),
        recommendations: vec![Recommendation { area: area.to_owned(), action: action.to_owned(), impact }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_targets_and_bodies_are_checked() {
        assert_eq!(InjectTarget::from_segment("optimize"), Some(InjectTarget::Optimize));
        assert_eq!(InjectTarget::from_segment("reports").map(InjectTarget::queue), Some(crate::names::REPORTS_QUEUE));
        assert_eq!(InjectTarget::from_segment("dead-letters"), None);
        assert_eq!(decode_inject(br#"{"bodies":["x","{}"]}"#).map(|r| r.bodies.len()), Ok(2));
        let refused = |body: &[u8], needle: &str| {
            let e = decode_inject(body).expect_err("must be refused");
            assert!(e.contains(needle), "{e}");
        };
        refused(br#"{"bodies":[]}"#, "empty");
        refused(br#"{"bodies":"x"}"#, "not {");
        refused(br#"{"bodies":["x"],"copies":2}"#, "unknown field");
        let many = serde_json::to_vec(&InjectRequest { bodies: vec![String::new(); MAX_INJECT_BODIES + 1] }).unwrap();
        refused(&many, "at most");
    }

    #[test]
    fn rate_is_roughly_honoured() {
        let hits = (0..10_000u64).filter(|s| within_rate(0.3, *s)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
        assert!((0..100u64).all(|s| within_rate(1.0, s)));
        assert!(!(0..100u64).any(|s| within_rate(0.0, s)));
    }

    #[test]
    fn fault_rules_have_a_readable_wire_form() {
        let json = r#"{"rules":[{"customer_id":"c1","fault":{"kind":"status","code":503},"times":1}]}"#;
        let rules: FaultRules = serde_json::from_str(json).unwrap();
        assert_eq!(rules.rules[0].fault, Fault::Status { code: 503 });
        assert_eq!(rules.rules[0].times, Some(1));
        assert_eq!(rules.rules[0].role, None);
    }

    #[test]
    fn simulated_answers_are_deterministic_per_site_and_role() {
        let req = |role, url: &str| EliteRequest {
            v: 1,
            role,
            job_id: "j".into(),
            customer_id: "c".into(),
            site_url: url.into(),
            scheduled_at: "t".into(),
            platform_context: None,
        };
        let a = simulated_answer(&req(EliteRole::Brand, "https://a.example"));
        assert_eq!(a, simulated_answer(&req(EliteRole::Brand, "https://a.example")));
        assert!(a.score <= 100);
        assert_eq!(a.role, EliteRole::Brand);
        assert!(a.summary.contains("simulated"));
    }
}
