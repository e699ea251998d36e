//! Operator identity through Cloudflare Access, sans IO: whether a `Cf-Access-Jwt-Assertion`
//! token proves who is calling, and who.
//!
//! Cloudflare Access signs a token (RS256) for every request it lets through to an application
//! and publishes the team's public keys at `https://<team domain>/cdn-cgi/access/certs`
//! ([`keys`]). [`verify`] is the whole decision, in this order, each step refusing with its own
//! [`Refusal`]:
//!
//! 1. the token is three base64url parts with a JSON header and claims;
//! 2. its `alg` is `RS256`, and nothing else: `none`, and `HS256` signed with the public key as
//!    an HMAC secret (the classic algorithm confusion) are refused before any key is looked at;
//! 3. its `kid` names a key of the team's key set (an unknown kid is refused, and tells the
//!    Worker to fetch the key set again: Access rotates its keys);
//! 4. the signature verifies under that key (the crypto itself is a [`SignatureCheck`]: the
//!    Worker's is WebCrypto's RSASSA-PKCS1-v1_5, the tests' a simulated one);
//! 5. `iss` is the team's, `aud` contains the application's audience tag, `exp` and `nbf`
//!    hold at `now_s` (within [`LEEWAY_S`]);
//! 6. the token names someone: an `email` (an operator) or, for an Access service token, a
//!    `common_name` (automation).
//!
//! Time is a parameter; the core reads no clock and does no crypto.
#![allow(async_fn_in_trait)]

pub mod keys;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

pub use keys::{Jwk, KeySet};

/// The request header Cloudflare Access adds to every request it lets through.
pub const HEADER: &str = "cf-access-jwt-assertion";

/// The one signature algorithm accepted: the one Access signs with.
pub const ALGORITHM: &str = "RS256";

/// Clock skew tolerated on `exp` and `nbf`, in seconds: the edge that signed the token and the
/// Worker that checks it read different clocks.
pub const LEEWAY_S: i64 = 30;

/// Longest token considered (Access tokens are about 1 KB); longer is malformed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// An environment's Access application: its team domain and audience tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `<team>.cloudflareaccess.com` (no scheme).
    pub team_domain: String,
    /// The application's audience (AUD) tag.
    pub audience: String,
}

impl AccessConfig {
    /// The `iss` every token of this team carries.
    pub fn issuer(&self) -> String {
        format!("https://{}", self.team_domain)
    }

    /// Where the team publishes its signing keys.
    pub fn certs_url(&self) -> String {
        format!("https://{}/cdn-cgi/access/certs", self.team_domain)
    }
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person signed in through Access: their email.
    Operator(String),
    /// An Access service token: its client id (`common_name`).
    ServiceToken(String),
}

/// Why a token was refused. Each names its reason ([`Refusal::reason`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not three base64url parts, or a part is not the JSON it should be.
    Malformed(String),
    /// An `alg` other than [`ALGORITHM`].
    Algorithm(String),
    /// A `kid` the key set does not have (or none).
    UnknownKey(String),
    /// The signature does not verify under the named key.
    BadSignature,
    /// `iss` is not the team's.
    WrongIssuer(String),
    /// `aud` does not contain the application's tag.
    WrongAudience,
    /// `exp` is past (beyond the leeway).
    Expired { exp: i64, now: i64 },
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid { nbf: i64, now: i64 },
    /// Neither an email nor a service token's name.
    NoIdentity,
    /// The key could not be used (the platform refused to import it).
    Key(String),
}

impl Refusal {
    /// The reason, as logged and answered.
    pub fn reason(&self) -> String {
        match self {
            Self::Malformed(why) => format!("malformed token: {why}"),
            Self::Algorithm(alg) => format!("algorithm {alg:?} is not accepted: only {ALGORITHM}"),
            Self::UnknownKey(kid) => format!("unknown key id {kid:?}: not in the team's key set"),
            Self::BadSignature => "bad signature".into(),
            Self::WrongIssuer(iss) => format!("wrong issuer {iss:?}"),
            Self::WrongAudience => "wrong audience: the token is for another application".into(),
            Self::Expired { exp, now } => format!("expired at {exp} (now {now})"),
            Self::NotYetValid { nbf, now } => format!("not valid before {nbf} (now {now})"),
            Self::NoIdentity => "the token names no email and no service token".into(),
            Self::Key(why) => format!("the signing key cannot be used: {why}"),
        }
    }
}

/// The JOSE header fields the decision reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
}

/// `aud` is a string or an array of strings (Access sends an array).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, tag: &str) -> bool {
        match self {
            Self::One(a) => a == tag,
            Self::Many(all) => all.iter().any(|a| a == tag),
        }
    }
}

/// The claims the decision reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: Audience,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub common_name: Option<String>,
}

/// A token split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Token {
    pub header: Header,
    pub claims: Claims,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed(format!("the {what} is not base64url")))
}

/// Steps 1 and 2: splits and decodes a token, and refuses any algorithm but [`ALGORITHM`].
pub fn parse(token: &str) -> Result<Token, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed(format!("longer than {MAX_TOKEN_BYTES} bytes")));
    }
    let mut parts = token.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Malformed("not three dot-separated parts".into()));
    };
    let header: Header =
        serde_json::from_slice(&b64(h, "header")?).map_err(|e| Refusal::Malformed(format!("the header is not a JOSE header: {e}")))?;
    if header.alg != ALGORITHM {
        return Err(Refusal::Algorithm(header.alg));
    }
    let claims: Claims =
        serde_json::from_slice(&b64(p, "payload")?).map_err(|e| Refusal::Malformed(format!("the claims are incomplete: {e}")))?;
    let signature = b64(s, "signature")?;
    if signature.is_empty() {
        return Err(Refusal::BadSignature);
    }
    Ok(Token { header, claims, signing_input: format!("{h}.{p}"), signature })
}

/// Step 3: the key the token names.
pub fn key_for<'k>(token: &Token, keys: &'k KeySet) -> Result<&'k Jwk, Refusal> {
    let kid = token.header.kid.as_deref().unwrap_or("");
    keys.find(kid).ok_or_else(|| Refusal::UnknownKey(kid.to_owned()))
}

/// Steps 5 and 6: the claims against the application, at `now_s` (Unix seconds).
pub fn check_claims(claims: &Claims, config: &AccessConfig, now_s: i64) -> Result<Principal, Refusal> {
    if claims.iss != config.issuer() {
        return Err(Refusal::WrongIssuer(claims.iss.clone()));
    }
    if !claims.aud.contains(&config.audience) {
        return Err(Refusal::WrongAudience);
    }
    if now_s > claims.exp + LEEWAY_S {
        return Err(Refusal::Expired { exp: claims.exp, now: now_s });
    }
    if let Some(nbf) = claims.nbf.filter(|nbf| now_s + LEEWAY_S < *nbf) {
        return Err(Refusal::NotYetValid { nbf, now: now_s });
    }
    match (&claims.email, &claims.common_name) {
        (Some(email), _) if !email.is_empty() => Ok(Principal::Operator(email.clone())),
        (_, Some(name)) if !name.is_empty() => Ok(Principal::ServiceToken(name.clone())),
        _ => Err(Refusal::NoIdentity),
    }
}

/// Step 4: the signature check, done by the platform.
pub trait SignatureCheck {
    /// Whether `signature` is an RS256 signature of `message` under `key`; `Err` when the key
    /// cannot be used at all.
    async fn rs256(&self, key: &Jwk, message: &[u8], signature: &[u8]) -> Result<bool, String>;
}

/// The whole decision for one token, at `now_s`, against the team's current key set.
pub async fn verify(
    raw: &str,
    config: &AccessConfig,
    keys: &KeySet,
    now_s: i64,
    crypto: &impl SignatureCheck,
) -> Result<Principal, Refusal> {
    let token = parse(raw)?;
    let key = key_for(&token, keys)?;
    if !crypto.rs256(key, token.signing_input.as_bytes(), &token.signature).await.map_err(Refusal::Key)? {
        return Err(Refusal::BadSignature);
    }
    check_claims(&token.claims, config, now_s)
}

/// The Access application of an environment from its vars: both set, or neither (Access off).
pub fn config_from(team_domain: Option<&str>, audience: Option<&str>) -> Result<Option<AccessConfig>, String> {
    let clean = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    match (clean(team_domain), clean(audience)) {
        (None, None) => Ok(None),
        (Some(team_domain), Some(audience)) => {
            if team_domain.contains('/') || team_domain.contains(':') {
                return Err(format!("{team_domain:?} must be a bare host name such as myteam.cloudflareaccess.com"));
            }
            Ok(Some(AccessConfig { team_domain, audience }))
        }
        _ => Err("set both the Access team domain and the application audience, or neither".into()),
    }
}

/// Base64url without padding, as tokens and key sets write it.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests;
