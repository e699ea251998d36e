//! The dashboard's session cookie and CSRF tokens, as pure functions of a secret, the time
//! and a nonce (the Worker supplies all three).
//!
//! A session is `{expires_ms}.{nonce}.{mac}`: the MAC (HMAC-SHA256, hex) covers the expiry
//! and the nonce, so neither can be changed or extended without the key, and a cookie stops
//! working at its expiry whatever the browser does with `Max-Age`. The key is an HMAC keyed
//! by `SESSION_SECRET` over a hash of `ADMIN_TOKEN` ([`SessionKey::for_environment`]), so
//! rotating either secret ends every session, and a cookie or a page's CSRF token is no
//! oracle for guessing the admin token offline. `SESSION_SECRET` is required in deployed
//! environments; locally the admin token stands in for it. The CSRF token of a session is a second MAC over its nonce under a
//! different label: a page embeds it in every form, and a state-changing POST must echo it;
//! another site can neither read it (same-origin policy) nor compute it (no key). MACs are
//! compared in constant time (`hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name.
pub const COOKIE_NAME: &str = "code24_session";
/// How long a session lasts: a working day, then the operator logs in again.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// The signing key of every session, derived from the dispatcher's secret.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed: a logged key would forge sessions.
        f.write_str("SessionKey(..)")
    }
}

/// Why a session cookie was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// No cookie, or not of the `{expires}.{nonce}.{mac}` shape.
    Malformed,
    /// The MAC does not match: forged, altered, or signed with an older secret.
    BadSignature,
    /// Signed correctly, but its expiry has passed.
    Expired,
    /// Signed correctly and not expired, but its server-side record is gone: logged out, or
    /// logged out everywhere.
    Revoked,
}

impl SessionError {
    /// What the login page tells the operator.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "Log in with the admin token to use the dashboard.",
            Self::BadSignature => "Your session is not valid (the secret may have changed). Log in again.",
            Self::Expired => "Your session expired. Log in again.",
            Self::Revoked => "Your session was ended (logged out here or everywhere). Log in again.",
        }
    }
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The cookie value exactly as signed.
    pub value: String,
    pub expires_ms: i64,
    /// Tells sessions apart; the CSRF token is derived from it.
    pub nonce: String,
}

impl SessionKey {
    /// Derives the key from a non-empty secret; `None` for an empty one (a missing secret must
    /// not open the dashboard).
    pub fn derive(secret: &str) -> Option<Self> {
        Self::from_secrets(secret, secret)
    }

    /// The key from both secrets: HMAC(`session_secret`, label ‖ SHA-256(`admin_token`)).
    /// `None` when either is empty.
    pub fn from_secrets(session_secret: &str, admin_token: &str) -> Option<Self> {
        use sha2::Digest;
        if session_secret.is_empty() || admin_token.is_empty() {
            return None;
        }
        let mut message = b"code24 dashboard session key v2|".to_vec();
        message.extend_from_slice(&Sha256::digest(admin_token.as_bytes()));
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac(session_secret.as_bytes(), &message));
        Some(Self(key))
    }

    /// The key of the dispatcher in `environment` (its `ENVIRONMENT` var) from its secrets as
    /// read (empty when unset), or what an operator must set first. Only the local environment
    /// may sign sessions without `SESSION_SECRET` (with the admin token in its place).
    pub fn for_environment(environment: &str, admin_token: &str, session_secret: &str) -> Result<Self, &'static str> {
        if admin_token.is_empty() {
            return Err("the ADMIN_TOKEN secret is not set");
        }
        let session_secret = match (session_secret.is_empty(), environment == "local") {
            (false, _) => session_secret,
            (true, true) => admin_token,
            (true, false) => return Err("the SESSION_SECRET secret is not set (required outside the local environment)"),
        };
        Self::from_secrets(session_secret, admin_token).ok_or("a secret is empty")
    }

    /// A new session that expires `SESSION_TTL_MS` after `now_ms`. `nonce` must be random
    /// (the Worker passes 16 bytes from the platform's CSPRNG, hex).
    pub fn issue(&self, now_ms: i64, nonce: &str) -> Session {
        let expires_ms = now_ms + SESSION_TTL_MS;
        let signed = format!("{expires_ms}.{nonce}");
        let value = format!("{signed}.{}", hex(&self.mac(&["session", &signed])));
        Session { value, expires_ms, nonce: nonce.to_owned() }
    }

    /// Checks a cookie value: shape, signature, then expiry (in that order, so an expired
    /// forgery is reported as a forgery).
    pub fn verify(&self, value: &str, now_ms: i64) -> Result<Session, SessionError> {
        let mut parts = value.split('.');
        let (Some(expires), Some(nonce), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(SessionError::Malformed);
        };
        let expires_ms: i64 = expires.parse().map_err(|_| SessionError::Malformed)?;
        if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SessionError::Malformed);
        }
        let tag = unhex(tag).ok_or(SessionError::Malformed)?;
        let signed = format!("{expires}.{nonce}");
        self.keyed(&["session", &signed]).verify_slice(&tag).map_err(|_| SessionError::BadSignature)?;
        if now_ms >= expires_ms {
            return Err(SessionError::Expired);
        }
        Ok(Session { value: value.to_owned(), expires_ms, nonce: nonce.to_owned() })
    }

    /// The CSRF token of `session`.
    pub fn csrf_token(&self, session: &Session) -> String {
        hex(&self.mac(&["csrf", &session.nonce]))
    }

    /// Whether `token` is `session`'s CSRF token (constant time).
    pub fn csrf_ok(&self, session: &Session, token: &str) -> bool {
        unhex(token).is_some_and(|t| self.keyed(&["csrf", &session.nonce]).verify_slice(&t).is_ok())
    }

    fn keyed(&self, parts: &[&str]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Length-prefixed parts: no two different part lists feed the MAC the same bytes.
        for part in parts {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        m
    }

    fn mac(&self, parts: &[&str]) -> Vec<u8> {
        self.keyed(parts).finalize().into_bytes().to_vec()
    }
}

fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) || !raw.is_ascii() {
        return None;
    }
    (0..raw.len()).step_by(2).map(|i| u8::from_str_radix(&raw[i..i + 2], 16).ok()).collect()
}

/// The `Set-Cookie` value that starts `session`. `Secure` when the dashboard was reached
/// over https (local dev is plain http, where a Secure cookie would never be sent back).
pub fn set_cookie(session: &Session, now_ms: i64, secure: bool) -> String {
    let max_age = ((session.expires_ms - now_ms) / 1000).max(0);
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}", session.value)
}

/// The `Set-Cookie` value that ends the session in the browser (logout).
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

/// The session cookie's value in a `Cookie` request header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE_NAME && !value.is_empty()).then_some(value)
    })
}

/// Whether a state-changing request comes from the dashboard's own origin. Browsers send
/// `Origin` on every cross-origin POST (and on same-origin ones too); an absent header (old
/// clients, non-browser tools) is left to the CSRF token alone.
pub fn same_origin(origin_header: Option<&str>, own_origin: &str) -> bool {
    origin_header.is_none_or(|o| o.trim_end_matches('/') == own_origin.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000;

    fn key() -> SessionKey {
        SessionKey::derive("dev-token").unwrap()
    }

    fn check(value: &str, now_ms: i64, expected: Result<(), SessionError>) {
        assert_eq!(key().verify(value, now_ms).map(|_| ()), expected, "{value} at {now_ms}");
    }

    #[test]
    fn sessions_verify_until_they_expire_and_refuse_any_change() {
        let s = key().issue(NOW, "00ff00ff");
        let (expires, tag) = (s.expires_ms, s.value.rsplit('.').next().unwrap().to_owned());
        let flipped_tag = format!("{}{}", &tag[..63], if tag.ends_with('0') { '1' } else { '0' });
        let cases: Vec<(String, i64, Result<(), SessionError>)> = vec![
            (s.value.clone(), NOW, Ok(())),
            (s.value.clone(), expires - 1, Ok(())),
            (s.value.clone(), expires, Err(SessionError::Expired)),
            // A longer expiry, a different nonce, a changed tag: all forgeries.
            (format!("{}.00ff00ff.{tag}", expires + 3_600_000), NOW, Err(SessionError::BadSignature)),
            (format!("{expires}.00ff00fe.{tag}"), NOW, Err(SessionError::BadSignature)),
            (format!("{expires}.00ff00ff.{flipped_tag}"), NOW, Err(SessionError::BadSignature)),
            (format!("{expires}.00ff00ff.{flipped_tag}"), expires + 1, Err(SessionError::BadSignature)),
            (String::new(), NOW, Err(SessionError::Malformed)),
            (format!("{expires}.00ff00ff"), NOW, Err(SessionError::Malformed)),
            (format!("{expires}.00ff00ff.{tag}.x"), NOW, Err(SessionError::Malformed)),
            (format!("soon.00ff00ff.{tag}"), NOW, Err(SessionError::Malformed)),
            (format!("{expires}.nothex.{tag}"), NOW, Err(SessionError::Malformed)),
            (format!("{expires}.00ff00ff.zz"), NOW, Err(SessionError::Malformed)),
        ];
        for (value, now, expected) in cases {
            check(&value, now, expected);
        }
        // Another secret (a rotated token) refuses every old session.
        let other = SessionKey::derive("rotated").unwrap();
        assert_eq!(other.verify(&s.value, NOW), Err(SessionError::BadSignature));
        assert!(SessionKey::derive("").is_none(), "an empty secret must not sign sessions");
        // Either secret rotated ends the sessions signed before.
        let both = SessionKey::from_secrets("session", "token").unwrap();
        let s2 = both.issue(NOW, "00ff00ff");
        assert!(both.verify(&s2.value, NOW).is_ok());
        for rotated in [SessionKey::from_secrets("session2", "token"), SessionKey::from_secrets("session", "token2")] {
            assert_eq!(rotated.unwrap().verify(&s2.value, NOW), Err(SessionError::BadSignature));
        }
        assert_eq!(format!("{:?}", key()), "SessionKey(..)");
    }

    #[test]
    fn deployed_environments_need_a_session_secret() {
        let check = |env: &str, admin: &str, session: &str, expected: Result<(), &str>| {
            let got = SessionKey::for_environment(env, admin, session).map(|_| ());
            match (got, expected) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{env}: {e}"),
                (got, expected) => panic!(
                    "{env}, admin token set: {}, session secret set: {}: {got:?}, expected {expected:?}",
                    !admin.is_empty(),
                    !session.is_empty()
                ),
            }
        };
        check("local", "dev-token", "", Ok(()));
        check("local", "dev-token", "s", Ok(()));
        check("production", "t", "s", Ok(()));
        check("production", "t", "", Err("SESSION_SECRET"));
        check("staging", "", "s", Err("ADMIN_TOKEN"));
        check("local", "", "", Err("ADMIN_TOKEN"));
        // Locally, the admin token stands in for the session secret.
        let local = SessionKey::for_environment("local", "dev-token", "").unwrap();
        assert!(local.verify(&key().issue(NOW, "ab").value, NOW).is_ok());
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let k = key();
        let a = k.issue(NOW, "aaaa");
        let b = k.issue(NOW, "bbbb");
        let token = k.csrf_token(&a);
        assert!(k.csrf_ok(&a, &token));
        for (session, candidate, expected) in [
            (&b, token.clone(), false),
            (&a, String::new(), false),
            (&a, token[..62].to_owned(), false),
            (&a, token.to_uppercase(), true),
            (&a, "not hex at all".to_owned(), false),
            (&a, a.value.rsplit('.').next().unwrap().to_owned(), false),
        ] {
            assert_eq!(k.csrf_ok(session, &candidate), expected, "{candidate}");
        }
        assert_ne!(token, k.csrf_token(&b));
    }

    #[test]
    fn cookie_headers() {
        let s = key().issue(NOW, "ab");
        let set = set_cookie(&s, NOW, false);
        assert!(set.starts_with(&format!("code24_session={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200", s.value)), "{set}");
        assert!(!set.contains("Secure"));
        assert!(set_cookie(&s, NOW, true).ends_with("; Secure"));
        assert_eq!(clear_cookie(false), "code24_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
        for (header, expected) in [
            ("code24_session=abc", Some("abc")),
            ("a=1; code24_session=1.2.3; b=2", Some("1.2.3")),
            ("code24_sessionx=1", None),
            ("code24_session=", None),
            ("", None),
        ] {
            assert_eq!(cookie_value(header), expected, "{header}");
        }
    }

    #[test]
    fn origins() {
        for (origin, expected) in [
            (None, true),
            (Some("http://127.0.0.1:8787"), true),
            (Some("http://127.0.0.1:8787/"), true),
            (Some("http://evil.example"), false),
            (Some("null"), false),
        ] {
            assert_eq!(same_origin(origin, "http://127.0.0.1:8787"), expected, "{origin:?}");
        }
    }
}
