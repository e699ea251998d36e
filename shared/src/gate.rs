//! The dashboard's gate, sans IO: login attempts limited per client, and sessions kept
//! server-side so they can be revoked. The `Gate` Durable Object (`producer/src/gate.rs`, one
//! instance) stores the rows and runs these decisions; this module is its contract.
//!
//! A client (its address, `CF-Connecting-IP`) may fail [`MAX_FAILED_LOGINS`] logins within
//! [`LOGIN_WINDOW_MS`]; the next attempt inside the window is refused with 429 before the
//! token is even looked at, right or wrong, until the oldest failure leaves the window. A
//! session is a row keyed by the signed cookie's nonce: logout deletes it, "log out
//! everywhere" deletes every session of the same actor, and a cookie whose row is gone no
//! longer opens a page even though its signature still holds.

use serde::{Deserialize, Serialize};

use crate::audit::Actor;

/// Failed logins a client may make within [`LOGIN_WINDOW_MS`].
pub const MAX_FAILED_LOGINS: usize = 10;

/// The sliding window of the login limit.
pub const LOGIN_WINDOW_MS: i64 = 60_000;

/// The client key of a request: its address as Cloudflare reports it (`CF-Connecting-IP`),
/// or `unknown` where there is none (a local run).
pub fn client_key(connecting_ip: Option<&str>) -> String {
    match connecting_ip.map(str::trim) {
        Some(ip) if !ip.is_empty() && ip.len() <= 64 => ip.to_owned(),
        _ => "unknown".into(),
    }
}

/// What a login attempt gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LoginVerdict {
    /// The token was right and the client is not limited: start a session.
    Allowed,
    /// The token was wrong; the failure is counted.
    Refused,
    /// Too many failures in the window: refused unseen; retry after this long.
    Limited { retry_after_ms: i64 },
}

/// The decision for one attempt, from the client's failure times (any order; those outside
/// the window are ignored) and whether the token was right. A `Refused` attempt is a new
/// failure the caller records at `now_ms`.
pub fn decide_login(failures_ms: &[i64], token_ok: bool, now_ms: i64) -> LoginVerdict {
    let mut recent: Vec<i64> = failures_ms.iter().copied().filter(|at| now_ms - at < LOGIN_WINDOW_MS).collect();
    if recent.len() >= MAX_FAILED_LOGINS {
        recent.sort_unstable();
        // The attempt becomes possible again when enough failures have left the window.
        let frees_at = recent[recent.len() - MAX_FAILED_LOGINS] + LOGIN_WINDOW_MS;
        return LoginVerdict::Limited { retry_after_ms: (frees_at - now_ms).max(1) };
    }
    if token_ok {
        LoginVerdict::Allowed
    } else {
        LoginVerdict::Refused
    }
}

/// A request to the gate; each answers JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GateRequest {
    /// Answer: [`LoginVerdict`].
    Login { client: String, token_ok: bool, now_ms: i64 },
    /// Records a session. Answer: `null`.
    Open { id: String, actor: Actor, expires_ms: i64 },
    /// Answer: `Option<Actor>`: the session's actor while it exists and has not expired.
    Check { id: String, now_ms: i64 },
    /// Deletes one session. Answer: the number deleted.
    Revoke { id: String },
    /// Deletes every session of `actor`. Answer: the number deleted.
    RevokeAll { actor: Actor },
}

/// The path every gate request is sent to.
pub const GATE_PATH: &str = "/gate";

/// The name of the one gate instance.
pub const GATE_INSTANCE: &str = "gate";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_wrong_login_within_a_minute_is_limited() {
        let now = 1_000_000;
        let mut failures = Vec::new();
        for i in 0..MAX_FAILED_LOGINS as i64 {
            assert_eq!(decide_login(&failures, false, now + i), LoginVerdict::Refused, "attempt {}", i + 1);
            failures.push(now + i);
        }
        let at = now + 10;
        assert_eq!(decide_login(&failures, false, at), LoginVerdict::Limited { retry_after_ms: LOGIN_WINDOW_MS - 10 });
        // The right token is refused unseen too, until the oldest failure leaves the window.
        assert!(matches!(decide_login(&failures, true, at), LoginVerdict::Limited { .. }));
        assert_eq!(decide_login(&failures, true, now + LOGIN_WINDOW_MS), LoginVerdict::Allowed);
        assert_eq!(decide_login(&failures[..9], true, at), LoginVerdict::Allowed);
    }

    #[test]
    fn client_keys_are_addresses_or_unknown() {
        assert_eq!(client_key(Some(" 203.0.113.9 ")), "203.0.113.9");
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some(&"x".repeat(65))), "unknown");
    }

    #[test]
    fn gate_requests_are_tagged_json() {
        let r = GateRequest::RevokeAll { actor: Actor::Operator("ops@example.com".into()) };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(text, r#"{"op":"revoke_all","actor":{"kind":"operator","name":"ops@example.com"}}"#);
        assert_eq!(serde_json::from_str::<GateRequest>(&text).unwrap(), r);
    }
}
