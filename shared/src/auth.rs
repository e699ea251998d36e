//! The admin API's bearer-token decision, sans IO: whether an `Authorization` header value
//! opens the API, compared in time independent of the secret's content and length.
//!
//! The comparison always examines [`MAX_TOKEN_BYTES`] positions, whatever the two inputs are:
//! how long it takes depends on neither where a guess first differs from the secret nor how long
//! the secret is. That property is checked structurally (the number of positions examined is
//! reported by [`compare`] and asserted constant by tests) rather than by timing, which is
//! too noisy on shared machines to prove anything. A refusal never says why: a missing header,
//! another scheme, and a wrong token all get the same answer ([`REFUSED_MESSAGE`]).

/// Longest token the comparison handles; longer secrets or guesses never match. Cloudflare
/// secrets of this project are 32-64 bytes.
pub const MAX_TOKEN_BYTES: usize = 512;

/// The one message of every refused request (401), so an answer tells nothing about the guess.
pub const REFUSED_MESSAGE: &str = "missing or wrong bearer token";

/// The one message of every request while the secret is unset (503).
pub const DISABLED_MESSAGE: &str = "the admin API is disabled: the ADMIN_TOKEN secret is not set";

/// What the token check decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The secret is unset (or empty): nothing is authorized, and the API says so (503).
    Disabled,
    /// No token, another scheme, or a wrong token (401, [`REFUSED_MESSAGE`]).
    Refused,
    Allowed,
}

/// Decides a request from its `Authorization` header (`None` when absent) and the secret.
pub fn authorize(header: Option<&str>, secret: &str) -> Access {
    if secret.is_empty() {
        return Access::Disabled;
    }
    let token = header.and_then(bearer_token).unwrap_or("");
    // An absent token is compared too, so a missing header takes as long as a wrong one.
    if constant_time_eq(token.as_bytes(), secret.as_bytes()) && !token.is_empty() {
        Access::Allowed
    } else {
        Access::Refused
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive, RFC 7235), trimmed.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether two byte strings are equal, in time independent of their content and of where they
/// differ. Strings longer than [`MAX_TOKEN_BYTES`] are never equal.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    compare(a, b).0
}

/// The comparison itself: (equal, positions examined). Every one of the [`MAX_TOKEN_BYTES`]
/// positions is examined and folded into one accumulator with no early exit; only the inputs'
/// lengths (never their bytes) decide which operands are zero padding.
pub fn compare(a: &[u8], b: &[u8]) -> (bool, usize) {
    let too_long = a.len() > MAX_TOKEN_BYTES || b.len() > MAX_TOKEN_BYTES;
    let mut diff = u8::from(a.len() != b.len()) | u8::from(too_long);
    let mut examined = 0;
    for i in 0..MAX_TOKEN_BYTES {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
        examined += 1;
    }
    (std::hint::black_box(diff) == 0, examined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, secret: &str, expected: Access) {
        assert_eq!(authorize(header, secret), expected, "{header:?} against a secret of {} bytes", secret.len());
    }

    #[test]
    fn only_the_exact_bearer_token_opens_the_api() {
        check(Some("Bearer s3cret"), "s3cret", Access::Allowed);
        check(Some("bearer s3cret"), "s3cret", Access::Allowed);
        check(Some("Bearer  s3cret "), "s3cret", Access::Allowed);
        check(None, "s3cret", Access::Refused);
        check(Some(""), "s3cret", Access::Refused);
        check(Some("Bearer"), "s3cret", Access::Refused);
        check(Some("Bearer "), "s3cret", Access::Refused);
        check(Some("Basic s3cret"), "s3cret", Access::Refused);
        check(Some("s3cret"), "s3cret", Access::Refused);
        check(Some("Bearer s3cre"), "s3cret", Access::Refused);
        check(Some("Bearer s3cret2"), "s3cret", Access::Refused);
        check(Some("Bearer S3CRET"), "s3cret", Access::Refused);
        check(Some("Bearer s3cret"), "", Access::Disabled);
        check(None, "", Access::Disabled);
        check(Some("Bearer "), "", Access::Disabled);
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        check(Some(&format!("Bearer {long}")), &long, Access::Refused);
    }

    #[test]
    fn every_comparison_examines_the_same_number_of_positions() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut guesses: Vec<Vec<u8>> = vec![vec![], b"x".to_vec(), secret.to_vec(), vec![0; MAX_TOKEN_BYTES * 2]];
        for at in 0..secret.len() {
            let mut g = secret.to_vec();
            g[at] ^= 1;
            guesses.push(g);
            guesses.push(secret[..at].to_vec());
        }
        for g in &guesses {
            let (equal, examined) = compare(g, secret);
            assert_eq!(examined, MAX_TOKEN_BYTES, "{g:?}");
            assert_eq!(equal, g == secret);
        }
    }
}
