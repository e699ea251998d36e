//! The stand-in's SIMULATED Cloudflare Access, local only: it publishes a key set at
//! [`CERTS_PATH`] and mints RS256 tokens at [`TOKEN_PATH`] (body: [`MintRequest`], answer:
//! [`MintReply`]), signed with WebCrypto inside the stand-in Worker, so the dispatcher's whole
//! Access path (key set fetch, signature, claims) runs end to end without Cloudflare. The
//! local configuration names this team and audience ([`LOCAL_TEAM_DOMAIN`], [`LOCAL_AUDIENCE`]).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{b64url, ALGORITHM};

/// The key set, as Access serves it at `/cdn-cgi/access/certs`.
pub const CERTS_PATH: &str = "/__standin/access/certs";
/// Mints a token.
pub const TOKEN_PATH: &str = "/__standin/access/token";

/// The team domain the local configuration trusts (`ACCESS_TEAM_DOMAIN` of the top level).
pub const LOCAL_TEAM_DOMAIN: &str = "code24-local.cloudflareaccess.com";
/// The audience the local configuration expects (`ACCESS_AUD` of the top level).
pub const LOCAL_AUDIENCE: &str = "code24-local-dispatcher";

/// What to put in a minted token; every field has a default that makes a good token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub common_name: Option<String>,
    /// Default [`LOCAL_AUDIENCE`].
    #[serde(default)]
    pub aud: Option<String>,
    /// Default `https://` + [`LOCAL_TEAM_DOMAIN`].
    #[serde(default)]
    pub iss: Option<String>,
    /// Seconds from now to `exp` (default 600; negative: already expired).
    #[serde(default)]
    pub exp_in_s: Option<i64>,
    /// Seconds from now to `nbf` (default -5).
    #[serde(default)]
    pub nbf_in_s: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintReply {
    pub token: String,
    pub kid: String,
}

/// The claims of a minted token at `now_s`.
pub fn claims(req: &MintRequest, now_s: i64) -> Value {
    let mut c = json!({
        "iss": req.iss.clone().unwrap_or_else(|| format!("https://{LOCAL_TEAM_DOMAIN}")),
        "aud": [req.aud.clone().unwrap_or_else(|| LOCAL_AUDIENCE.to_owned())],
        "iat": now_s,
        "nbf": now_s + req.nbf_in_s.unwrap_or(-5),
        "exp": now_s + req.exp_in_s.unwrap_or(600),
        "type": "app",
    });
    if let Some(email) = &req.email {
        c["email"] = email.clone().into();
    }
    if let Some(name) = &req.common_name {
        c["common_name"] = name.clone().into();
    }
    c
}

/// `header.payload` of a token signed by key `kid`: what the stand-in signs.
pub fn signing_input(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": ALGORITHM, "kid": kid, "typ": "JWT"});
    format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{check_claims, parse, AccessConfig, Principal};

    #[test]
    fn access_minted_claims_pass_the_local_configuration() {
        let config = AccessConfig { team_domain: LOCAL_TEAM_DOMAIN.into(), audience: LOCAL_AUDIENCE.into() };
        let req = MintRequest { email: Some("ops@example.com".into()), ..MintRequest::default() };
        let raw = format!("{}.c2ln", signing_input("k1", &claims(&req, 1_000)));
        let token = parse(&raw).unwrap();
        assert_eq!(token.header.kid.as_deref(), Some("k1"));
        assert_eq!(check_claims(&token.claims, &config, 1_000), Ok(Principal::Operator("ops@example.com".into())));
        let expired = MintRequest { exp_in_s: Some(-600), ..req };
        assert!(check_claims(&parse(&format!("{}.c2ln", signing_input("k1", &claims(&expired, 1_000)))).unwrap().claims, &config, 1_000)
            .is_err());
    }
}
