//! The token checks, one refusal reason each. The signature check here is simulated
//! ([`SimulatedRsa`]: a "signature" is SHA-256 of the key's modulus and the signed bytes), so
//! these tests prove the decisions around the crypto; real RS256 through WebCrypto is proven
//! end to end (`tests/tests/audit_e2e.rs`, tokens minted by the stand-in).

use std::cell::Cell;

use futures::executor::block_on;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::*;

const NOW: i64 = 1_800_000_000;

fn config() -> AccessConfig {
    AccessConfig { team_domain: "code24.cloudflareaccess.com".into(), audience: "aud-tag-1".into() }
}

fn key(kid: &str) -> Jwk {
    Jwk { kid: kid.into(), kty: "RSA".into(), alg: Some(ALGORITHM.into()), n: format!("modulus-of-{kid}"), e: "AQAB".into() }
}

fn keys() -> KeySet {
    KeySet { keys: vec![key("k1"), key("k2")] }
}

/// Simulated RS256: the "signature" is SHA-256(n ‖ message). Counts its calls, so a test can
/// show a refused algorithm never reaches the crypto.
#[derive(Default)]
struct SimulatedRsa {
    calls: Cell<u32>,
}

fn simulated_signature(key: &Jwk, message: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(key.n.as_bytes());
    h.update(message);
    h.finalize().to_vec()
}

impl SignatureCheck for SimulatedRsa {
    async fn rs256(&self, key: &Jwk, message: &[u8], signature: &[u8]) -> Result<bool, String> {
        self.calls.set(self.calls.get() + 1);
        Ok(simulated_signature(key, message) == signature)
    }
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": "https://code24.cloudflareaccess.com", "aud": ["aud-tag-1"], "email": "ops@example.com",
        "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 600, "type": "app"
    })
}

fn encode(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
}

/// A token signed (simulated) by `signer`, with header kid `kid`.
fn token(kid: &str, claims: &serde_json::Value, signer: &Jwk) -> String {
    let input = encode(&serde_json::json!({"alg": "RS256", "kid": kid, "typ": "JWT"}), claims);
    let sig = simulated_signature(signer, input.as_bytes());
    format!("{input}.{}", b64url(&sig))
}

fn run(raw: &str) -> (Result<Principal, Refusal>, u32) {
    let crypto = SimulatedRsa::default();
    let outcome = block_on(verify(raw, &config(), &keys(), NOW, &crypto));
    (outcome, crypto.calls.get())
}

fn refused(raw: &str, expected: Refusal, reason_says: &str) {
    let (outcome, _) = run(raw);
    assert_eq!(outcome, Err(expected.clone()), "{raw}");
    assert!(expected.reason().contains(reason_says), "{:?} does not say {reason_says:?}", expected.reason());
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut c = claims();
    c[field] = value;
    c
}

#[test]
fn access_good_token_names_the_operator() {
    let (outcome, calls) = run(&token("k2", &claims(), &key("k2")));
    assert_eq!(outcome, Ok(Principal::Operator("ops@example.com".into())));
    assert_eq!(calls, 1);
    // A single-string audience and a service token's name are accepted too.
    let mut service = with("aud", "aud-tag-1".into());
    service.as_object_mut().unwrap().remove("email");
    service["common_name"] = "ci.access".into();
    assert_eq!(run(&token("k1", &service, &key("k1"))).0, Ok(Principal::ServiceToken("ci.access".into())));
}

#[test]
fn access_wrong_audience_is_refused() {
    refused(&token("k1", &with("aud", serde_json::json!(["other-app"])), &key("k1")), Refusal::WrongAudience, "audience");
    refused(&token("k1", &with("aud", "other-app".into()), &key("k1")), Refusal::WrongAudience, "audience");
}

#[test]
fn access_wrong_issuer_is_refused() {
    let iss = "https://evil.cloudflareaccess.com";
    refused(&token("k1", &with("iss", iss.into()), &key("k1")), Refusal::WrongIssuer(iss.into()), "issuer");
}

#[test]
fn access_expired_token_is_refused() {
    let exp = NOW - LEEWAY_S - 1;
    refused(&token("k1", &with("exp", exp.into()), &key("k1")), Refusal::Expired { exp, now: NOW }, "expired");
    // Within the leeway it still holds.
    assert!(run(&token("k1", &with("exp", (NOW - LEEWAY_S).into()), &key("k1"))).0.is_ok());
}

#[test]
fn access_token_not_yet_valid_is_refused() {
    let nbf = NOW + LEEWAY_S + 1;
    refused(&token("k1", &with("nbf", nbf.into()), &key("k1")), Refusal::NotYetValid { nbf, now: NOW }, "not valid before");
}

#[test]
fn access_unknown_key_id_is_refused() {
    let (outcome, calls) = run(&token("k9", &claims(), &key("k9")));
    assert_eq!(outcome, Err(Refusal::UnknownKey("k9".into())));
    assert!(Refusal::UnknownKey("k9".into()).reason().contains("unknown key id"));
    assert_eq!(calls, 0, "no key, no crypto");
}

#[test]
fn access_bad_signature_is_refused() {
    // Signed by another key than the one its kid names.
    refused(&token("k1", &claims(), &key("k2")), Refusal::BadSignature, "bad signature");
    // A valid signature over other claims (the payload swapped after signing).
    let good = token("k1", &claims(), &key("k1"));
    let forged = token("k1", &with("email", "boss@example.com".into()), &key("k1"));
    let spliced = format!("{}.{}", forged.rsplit_once('.').unwrap().0, good.rsplit_once('.').unwrap().1);
    refused(&spliced, Refusal::BadSignature, "bad signature");
}

#[test]
fn access_alg_none_is_refused_before_any_key_is_used() {
    let input = encode(&serde_json::json!({"alg": "none", "kid": "k1"}), &claims());
    let (outcome, calls) = run(&format!("{input}."));
    assert_eq!(outcome, Err(Refusal::Algorithm("none".into())));
    assert!(Refusal::Algorithm("none".into()).reason().contains("only RS256"));
    assert_eq!(calls, 0);
}

#[test]
fn access_hs256_signed_with_the_public_key_is_refused() {
    // The algorithm-confusion attack: an HMAC keyed by the public key, which anyone can fetch.
    let input = encode(&serde_json::json!({"alg": "HS256", "kid": "k1"}), &claims());
    let mut mac = Hmac::<Sha256>::new_from_slice(key("k1").n.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let raw = format!("{input}.{}", b64url(&mac.finalize().into_bytes()));
    let (outcome, calls) = run(&raw);
    assert_eq!(outcome, Err(Refusal::Algorithm("HS256".into())));
    assert_eq!(calls, 0, "the public key is never used as an HMAC secret");
}

#[test]
fn access_malformed_tokens_are_refused_with_what_is_wrong() {
    for (raw, says) in [
        ("", "three"),
        ("a.b", "three"),
        ("a.b.c.d", "three"),
        ("!!!.e30.c2ln", "base64url"),
        (&format!("{}.e30.c2ln", b64url(b"not json")), "JOSE header"),
        (&format!("{}.e30.c2ln", b64url(br#"{"alg":"RS256","kid":"k1"}"#)), "claims"),
    ] {
        let (outcome, _) = run(raw);
        let reason = outcome.unwrap_err().reason();
        assert!(reason.contains(says), "{raw:?}: {reason}");
    }
    assert!(matches!(run(&"x".repeat(MAX_TOKEN_BYTES + 1)).0, Err(Refusal::Malformed(_))));
    let no_sig = token("k1", &claims(), &key("k1"));
    assert_eq!(run(&format!("{}.", no_sig.rsplit_once('.').unwrap().0)).0, Err(Refusal::BadSignature));
}

#[test]
fn access_token_without_a_name_is_refused() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("email");
    refused(&token("k1", &c, &key("k1")), Refusal::NoIdentity, "no email");
}

#[test]
fn access_config_is_both_vars_or_neither() {
    assert_eq!(config_from(None, None), Ok(None));
    assert_eq!(config_from(Some(" "), Some("")), Ok(None));
    assert_eq!(config_from(Some("t.cloudflareaccess.com"), Some("a")).unwrap().unwrap().issuer(), "https://t.cloudflareaccess.com");
    assert!(config_from(Some("t.cloudflareaccess.com"), None).is_err());
    assert!(config_from(Some("https://t.cloudflareaccess.com"), Some("a")).is_err());
}
