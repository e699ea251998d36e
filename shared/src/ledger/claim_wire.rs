//! The JSON form of [`ClaimDecision`], kept byte for byte from before [`Recovery`] existed: a
//! claim was answered `work` with a `recovering` flag, or `recover` when a newer run had claimed
//! the lane. An old and a new Worker version exchange these answers during a deploy, so the
//! wire keeps that form and this module converts it to and from the one recovery enum.

use serde::{Deserialize, Serialize};

use super::{ClaimDecision, Recovery};
use crate::error::JobError;

/// [`ClaimDecision`] as it travels.
#[derive(Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub(super) enum ClaimDecisionWire {
    /// [`Recovery::Fresh`] (`recovering: false`) or [`Recovery::LookFirst`] (`true`).
    Work {
        attempt: u32,
        recovering: bool,
    },
    Duplicate,
    AlreadyDead {
        attempts: u32,
        error: JobError,
    },
    Superseded,
    /// [`Recovery::LookOnly`].
    Recover {
        attempt: u32,
    },
    Busy {
        retry_after_ms: i64,
    },
}

impl From<ClaimDecision> for ClaimDecisionWire {
    fn from(d: ClaimDecision) -> Self {
        match d {
            ClaimDecision::Work { attempt, recovery: Recovery::Fresh } => Self::Work { attempt, recovering: false },
            ClaimDecision::Work { attempt, recovery: Recovery::LookFirst } => Self::Work { attempt, recovering: true },
            ClaimDecision::Work { attempt, recovery: Recovery::LookOnly } => Self::Recover { attempt },
            ClaimDecision::Duplicate => Self::Duplicate,
            ClaimDecision::AlreadyDead { attempts, error } => Self::AlreadyDead { attempts, error },
            ClaimDecision::Superseded => Self::Superseded,
            ClaimDecision::Busy { retry_after_ms } => Self::Busy { retry_after_ms },
        }
    }
}

impl From<ClaimDecisionWire> for ClaimDecision {
    fn from(w: ClaimDecisionWire) -> Self {
        match w {
            ClaimDecisionWire::Work { attempt, recovering: false } => Self::Work { attempt, recovery: Recovery::Fresh },
            ClaimDecisionWire::Work { attempt, recovering: true } => Self::Work { attempt, recovery: Recovery::LookFirst },
            ClaimDecisionWire::Recover { attempt } => Self::Work { attempt, recovery: Recovery::LookOnly },
            ClaimDecisionWire::Duplicate => Self::Duplicate,
            ClaimDecisionWire::AlreadyDead { attempts, error } => Self::AlreadyDead { attempts, error },
            ClaimDecisionWire::Superseded => Self::Superseded,
            ClaimDecisionWire::Busy { retry_after_ms } => Self::Busy { retry_after_ms },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ClaimResponse;

    /// The JSON an older Worker sends decodes to `decision`, and `decision` encodes to exactly
    /// that JSON again.
    fn check(old_json: &str, decision: ClaimDecision) {
        let decoded: ClaimDecision = serde_json::from_str(old_json).unwrap_or_else(|e| panic!("{old_json}: {e}"));
        assert_eq!(decoded, decision, "{old_json}");
        assert_eq!(serde_json::to_string(&decision).unwrap(), old_json);
    }

    #[test]
    fn claim_decisions_keep_their_wire_form_byte_for_byte() {
        check(r#"{"decision":"work","attempt":1,"recovering":false}"#, ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
        check(r#"{"decision":"work","attempt":2,"recovering":true}"#, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookFirst });
        check(r#"{"decision":"recover","attempt":3}"#, ClaimDecision::Work { attempt: 3, recovery: Recovery::LookOnly });
        check(r#"{"decision":"duplicate"}"#, ClaimDecision::Duplicate);
        check(r#"{"decision":"superseded"}"#, ClaimDecision::Superseded);
        check(r#"{"decision":"busy","retry_after_ms":1500}"#, ClaimDecision::Busy { retry_after_ms: 1500 });
        check(
            r#"{"decision":"already_dead","attempts":4,"error":{"class":"permanent","message":"gone"}}"#,
            ClaimDecision::AlreadyDead { attempts: 4, error: JobError::permanent("gone") },
        );
    }

    #[test]
    fn a_claim_response_keeps_its_wire_form() {
        let old = r#"{"decisions":[{"decision":"recover","attempt":2},{"decision":"work","attempt":1,"recovering":false}]}"#;
        let response: ClaimResponse = serde_json::from_str(old).unwrap();
        let expected = [
            ClaimDecision::Work { attempt: 2, recovery: Recovery::LookOnly },
            ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh },
        ];
        assert_eq!(response.decisions, expected);
        assert_eq!(serde_json::to_string(&response).unwrap(), old);
        assert!(serde_json::from_str::<ClaimDecision>(r#"{"decision":"look_only","attempt":1}"#).is_err(), "no new wire names");
    }
}
