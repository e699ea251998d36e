//! The team's key set (JWKS) and when to fetch it again, sans IO.
//!
//! The Worker keeps the last key set it fetched, with the time it fetched it, in its isolate's
//! memory. [`plan`] decides per request whether that copy serves: it does while younger than
//! [`MAX_AGE_MS`] and it knows the token's `kid`; an unknown kid means Access may have rotated
//! its keys, so the set is fetched again, but at most once per [`REFETCH_AFTER_MS`], so a flood
//! of tokens with made-up kids cannot turn into a flood of fetches.

use serde::{Deserialize, Serialize};

/// A cached key set serves at most this long (Access rotates keys every few weeks and
/// publishes the next key ahead of use).
pub const MAX_AGE_MS: i64 = 10 * 60_000;

/// An unknown kid fetches the key set again only when the copy is at least this old.
pub const REFETCH_AFTER_MS: i64 = 30_000;

/// One public key of the set: RSA modulus and exponent, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kid: String,
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    pub n: String,
    pub e: String,
}

/// `{"keys": [...]}` as the certs endpoint serves it (other fields ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

impl KeySet {
    /// Decodes a certs answer, keeping only RSA keys usable for RS256.
    pub fn decode(body: &str) -> Result<Self, String> {
        let mut set: KeySet = serde_json::from_str(body).map_err(|e| format!("not a key set: {e}"))?;
        set.keys.retain(|k| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == super::ALGORITHM) && !k.kid.is_empty());
        if set.keys.is_empty() {
            return Err("the key set has no RS256 key".into());
        }
        Ok(set)
    }

    /// The key with id `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// What to do about the cached key set before checking a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlan {
    /// The cached set serves.
    Use,
    /// Fetch the set (none cached, too old, or a rotation is likely).
    Fetch,
}

/// Decides from the cached set's fetch time (`None`: nothing cached), whether it knows the
/// token's kid, and now.
pub fn plan(fetched_ms: Option<i64>, knows_kid: bool, now_ms: i64) -> KeyPlan {
    match fetched_ms {
        None => KeyPlan::Fetch,
        Some(at) if now_ms - at >= MAX_AGE_MS => KeyPlan::Fetch,
        Some(at) if !knows_kid && now_ms - at >= REFETCH_AFTER_MS => KeyPlan::Fetch,
        Some(_) => KeyPlan::Use,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_set_is_fetched_when_missing_old_or_rotated_but_not_on_every_unknown_kid() {
        let check = |fetched: Option<i64>, knows: bool, now: i64, expected: KeyPlan| {
            assert_eq!(plan(fetched, knows, now), expected, "{fetched:?} {knows} {now}");
        };
        check(None, false, 0, KeyPlan::Fetch);
        check(Some(0), true, MAX_AGE_MS - 1, KeyPlan::Use);
        check(Some(0), true, MAX_AGE_MS, KeyPlan::Fetch);
        check(Some(0), false, REFETCH_AFTER_MS - 1, KeyPlan::Use);
        check(Some(0), false, REFETCH_AFTER_MS, KeyPlan::Fetch);
    }

    #[test]
    fn access_key_set_keeps_only_rs256_keys() {
        let body = r#"{"keys":[{"kid":"a","kty":"RSA","alg":"RS256","n":"x","e":"AQAB"},
            {"kid":"b","kty":"EC","n":"x","e":"y"},{"kid":"c","kty":"RSA","alg":"RS512","n":"x","e":"AQAB"},
            {"kid":"d","kty":"RSA","n":"x","e":"AQAB"}],"public_cert":{"kid":"a"}}"#;
        let set = KeySet::decode(body).unwrap();
        assert_eq!(set.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["a", "d"]);
        assert!(KeySet::decode(r#"{"keys":[]}"#).is_err());
        assert!(KeySet::decode("<html>").is_err());
    }
}
