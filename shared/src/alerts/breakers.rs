//! The elite circuit breakers as the ledger's `breakers` instance reports them (`GET
//! /breakers`), decoded for the alert rule and the dashboard's health page.
//!
//! The answer is `{"breakers": [{role, state, since_ms, reason, cool_down_ms}], "transitions":
//! [{at_ms, role, from, to, reason, calls, failures}]}`. Where the route does not exist (a
//! ledger built before the breakers) or answers anything else, there is *no breaker data*:
//! [`decode`] says `None`, and no breaker incident opens or resolves on it.

use serde::{Deserialize, Serialize};

/// The path of the breakers' state on the ledger's `breakers` instance.
pub const BREAKERS_PATH: &str = "/breakers";
/// The ledger instance that keeps the breakers.
pub const BREAKERS_OBJECT: &str = "breakers";

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// The role is considered down: its jobs wait.
    Open,
    /// A few probe jobs test the role.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One role's breaker now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breaker {
    /// The elite role (`brand`, `designer`, `developer`), kept as text so a role this build does
    /// not know still shows.
    pub role: String,
    pub state: BreakerState,
    pub since_ms: i64,
    pub reason: String,
    pub cool_down_ms: i64,
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: i64,
    pub role: String,
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: String,
    pub calls: u64,
    pub failures: u64,
}

/// The whole answer of `GET /breakers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakers {
    pub breakers: Vec<Breaker>,
    pub transitions: Vec<Transition>,
}

/// The breakers from an answer's status and body; `None` (no breaker data) for anything but a
/// 2xx answer in exactly this shape.
pub fn decode(status: u16, body: &str) -> Option<Breakers> {
    if !(200..300).contains(&status) {
        return None;
    }
    serde_json::from_str(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer overload14's breaker instance returns, byte for byte as its brief states it.
    pub(crate) const ANSWER: &str = r#"{"breakers":[
        {"role":"brand","state":"open","since_ms":1000,"reason":"7 of 10 calls failed","cool_down_ms":30000},
        {"role":"designer","state":"closed","since_ms":0,"reason":"","cool_down_ms":30000},
        {"role":"developer","state":"half_open","since_ms":2000,"reason":"cool-down over","cool_down_ms":60000}],
        "transitions":[{"at_ms":1000,"role":"brand","from":"closed","to":"open","reason":"7 of 10 calls failed","calls":10,"failures":7}]}"#;

    #[test]
    fn the_answer_decodes_and_anything_else_is_no_data() {
        let b = decode(200, ANSWER).expect("the stated shape decodes");
        assert_eq!(b.breakers.len(), 3);
        assert_eq!(b.breakers[2].state, BreakerState::HalfOpen);
        assert_eq!((b.transitions[0].from, b.transitions[0].to, b.transitions[0].failures), (BreakerState::Closed, BreakerState::Open, 7));
        // A ledger without the route answers 404 (or its unknown-route error): no data.
        assert_eq!(decode(404, r#"{"error":"no such route"}"#), None);
        assert_eq!(decode(400, ANSWER), None);
        assert_eq!(decode(200, r#"{"error":"unknown route /breakers"}"#), None);
        assert_eq!(decode(200, "not json"), None);
    }
}
