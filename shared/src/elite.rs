//! The elite-worker contract, shared by the optimizer (client), the local stand-in (server)
//! and the tests: request and response wire types and the classification of every way a call
//! can end into success, transient failure or permanent failure.
//!
//! `POST /optimize` with an [`EliteRequest`] answers `200` with an [`EliteResponse`];
//! `GET /health` answers `200` with an [`EliteHealth`].
//!
//! A request may carry [`PlatformContext`]: what the platform learned across customers last
//! month (the monthly analytics' top insights, `crate::reports::insights`). It is an optional,
//! separately versioned field, so an elite worker that predates it ignores it, and one that
//! reads it checks its `v` before trusting its shape.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorClass, JobError};

/// The wire version of the elite contract this build speaks.
pub const ELITE_CONTRACT_VERSION: u32 = 1;
/// Path of the optimization call.
pub const OPTIMIZE_PATH: &str = "/optimize";
/// Path of the health probe.
pub const HEALTH_PATH: &str = "/health";

/// The three elite workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EliteRole {
    Brand,
    Designer,
    Developer,
}

impl EliteRole {
    pub const ALL: [EliteRole; 3] = [Self::Brand, Self::Designer, Self::Developer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Brand => "brand",
            Self::Designer => "designer",
            Self::Developer => "developer",
        }
    }

    /// The service binding through which this role is called.
    pub fn binding(self) -> &'static str {
        match self {
            Self::Brand => crate::names::binding::ELITE_BRAND,
            Self::Designer => crate::names::binding::ELITE_DESIGNER,
            Self::Developer => crate::names::binding::ELITE_DEVELOPER,
        }
    }
}

/// What the optimizer asks one elite worker about one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EliteRequest {
    pub v: u32,
    /// Which elite role is asked. Real elite workers each have one role; the local stand-in
    /// serves all three and answers as this one.
    pub role: EliteRole,
    pub job_id: String,
    pub customer_id: String,
    pub site_url: String,
    /// RFC 3339 scheduled time of the sweep.
    pub scheduled_at: String,
    /// What worked across customers last month, when the platform has learned anything: the
    /// same for every request of a sweep. Absent (not `null`) otherwise, so the body of a
    /// request without it is exactly what it was before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_context: Option<PlatformContext>,
}

/// The version of [`PlatformContext`] this build writes.
pub const PLATFORM_CONTEXT_VERSION: u32 = 1;
/// At most this many insights travel in one request (about 300 bytes each), so the context
/// adds at most a couple of kilobytes to each of a job's three calls.
pub const MAX_CONTEXT_INSIGHTS: usize = 5;

/// Platform context of an optimization request: the top cross-customer insights of the last
/// analysed month, each with the sample behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformContext {
    /// [`PLATFORM_CONTEXT_VERSION`].
    pub v: u32,
    /// The month the insights were measured on, `YYYY-MM`.
    pub month: String,
    /// Best first, at most [`MAX_CONTEXT_INSIGHTS`].
    pub insights: Vec<ContextInsight>,
}

/// One insight as an elite worker receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextInsight {
    /// The role whose recommendation it is, and whose score moved.
    pub role: EliteRole,
    pub area: String,
    pub action: String,
    /// Who it was measured on: `all`, or `plan:<plan>`.
    pub cohort: String,
    /// Customers given the recommendation (the sample size), and how many of them gained.
    pub customers: u64,
    pub improved: u64,
    /// Their mean score change in the role over the month, hundredths of a point.
    pub mean_gain_hundredths: i64,
    /// The claim in one sentence, sample size included.
    pub claim: String,
}

/// One recommendation of an elite worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub area: String,
    pub action: String,
    pub impact: Impact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    Low,
    Medium,
    High,
}

/// An elite worker's answer about one site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EliteResponse {
    pub v: u32,
    pub role: EliteRole,
    /// Quality score of the site in this role's area, 0-100.
    pub score: u8,
    pub summary: String,
    pub recommendations: Vec<Recommendation>,
}

/// Answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EliteHealth {
    pub status: String,
    pub version: String,
}

/// The largest elite answer read, in bytes. The contract's answer is a score, a summary and a
/// few recommendations (a few KB); a body beyond this is not one, and reading it whole would
/// hold up to [`crate::pipeline::budget::service_binding_budget`] such bodies in one isolate's
/// memory at once. The reader stops at the cap and never buffers more.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The error of an answer whose body exceeds [`MAX_RESPONSE_BYTES`] (`declared`: its
/// `Content-Length`, when it said one). The status decides the class as for any answer: a
/// transient status stays transient whatever its body (a proxy's large error page, say); an
/// oversized success is a broken contract, permanent like an undecodable body, so the job is
/// dead-lettered with this reason and replayed once the elite worker is fixed.
pub fn oversized_response(role: EliteRole, status: u16, declared: Option<u64>) -> JobError {
    let class = match status {
        408 | 429 | 500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    };
    let size = declared.map_or_else(|| "more than that".to_owned(), |n| format!("{n} bytes declared"));
    JobError::new(
        class,
        format!("elite {} answered HTTP {status} with a body over {MAX_RESPONSE_BYTES} bytes ({size}); not read further", role.as_str()),
    )
}

/// Classifies an HTTP answer of an elite worker. Transient: 5xx, 408 and 429 (retrying may
/// help). Permanent: every other non-2xx, an undecodable body, a wrong contract version or a
/// wrong role (retrying the same request would fail the same way).
pub fn classify_response(role: EliteRole, status: u16, body: &[u8]) -> Result<EliteResponse, JobError> {
    let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    match status {
        200..=299 => {}
        408 | 429 | 500..=599 => {
            return Err(JobError::new(ErrorClass::Transient, format!("elite {} answered HTTP {status}: {}", role.as_str(), snippet())))
        }
        _ => return Err(JobError::new(ErrorClass::Permanent, format!("elite {} answered HTTP {status}: {}", role.as_str(), snippet()))),
    }
    let response: EliteResponse = serde_json::from_slice(body).map_err(|e| {
        JobError::new(ErrorClass::Permanent, format!("elite {} sent an undecodable body ({e}): {}", role.as_str(), snippet()))
    })?;
    if response.v != ELITE_CONTRACT_VERSION {
        return Err(JobError::new(
            ErrorClass::Permanent,
            format!("elite {} speaks contract version {}, this build speaks {ELITE_CONTRACT_VERSION}", role.as_str(), response.v),
        ));
    }
    if response.role != role {
        return Err(JobError::new(ErrorClass::Permanent, format!("elite {} answered as {}", role.as_str(), response.role.as_str())));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_body(role: EliteRole, v: u32) -> Vec<u8> {
        serde_json::to_vec(&EliteResponse { v, role, score: 80, summary: "fine".into(), recommendations: vec![] }).unwrap()
    }

    fn check(status: u16, body: &[u8], expected: Result<(), ErrorClass>) {
        let got = classify_response(EliteRole::Brand, status, body).map(|_| ()).map_err(|e| e.class);
        assert_eq!(got, expected, "status {status}");
    }

    #[test]
    fn responses_are_classified() {
        let good = ok_body(EliteRole::Brand, 1);
        check(200, &good, Ok(()));
        check(500, b"boom", Err(ErrorClass::Transient));
        check(503, b"", Err(ErrorClass::Transient));
        check(429, b"", Err(ErrorClass::Transient));
        check(408, b"", Err(ErrorClass::Transient));
        check(400, b"bad", Err(ErrorClass::Permanent));
        check(404, b"", Err(ErrorClass::Permanent));
        check(200, b"{not json", Err(ErrorClass::Permanent));
        check(200, &ok_body(EliteRole::Brand, 2), Err(ErrorClass::Permanent));
        check(200, &ok_body(EliteRole::Designer, 1), Err(ErrorClass::Permanent));
    }

    #[test]
    fn limits_oversized_answers_are_classified_by_their_status() {
        let class = |status, declared| oversized_response(EliteRole::Designer, status, declared).class;
        assert_eq!(class(200, Some(10_000_000)), ErrorClass::Permanent);
        assert_eq!(class(200, None), ErrorClass::Permanent);
        assert_eq!(class(404, None), ErrorClass::Permanent);
        assert_eq!(class(503, Some(1 << 20)), ErrorClass::Transient);
        assert_eq!(class(429, None), ErrorClass::Transient);
        let message = oversized_response(EliteRole::Designer, 200, Some(999_999)).message;
        assert!(message.contains("designer") && message.contains("262144") && message.contains("999999 bytes declared"), "{message}");
        // Every answer a budget's worth of calls may hold at once is a small share of an
        // isolate's memory.
        let held = MAX_RESPONSE_BYTES as u64 * u64::from(crate::pipeline::budget::service_binding_budget());
        assert!(held * 20 <= crate::limits::MEMORY_BYTES, "{held} bytes of elite answers");
    }

    #[test]
    fn roles_serialize_lowercase() {
        assert_eq!(serde_json::to_string(&EliteRole::Developer).unwrap(), "\"developer\"");
    }
}
