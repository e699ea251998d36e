//! How strong a secret must be, and how a strong one is made, sans IO.
//!
//! The alert webhook's URL (`ALERT_WEBHOOK_URL`) is a secret too, checked for its shape instead
//! ([`check_webhook_url`]).
//!
//! `ADMIN_TOKEN` and `SESSION_SECRET` are long random strings or they are nothing: a secret
//! below [`MIN_CHARS`] characters, with fewer than [`MIN_CLASSES`] of the four character
//! classes (lower case, upper case, digits, symbols), or made mostly of one character, is
//! refused by `cargo xtask deploy` before anything changes, and a Worker that finds one answers
//! 503 instead of serving. [`generate`] turns random bytes (the caller's entropy) into a secret
//! that passes.

/// Fewest characters of a secret.
pub const MIN_CHARS: usize = 32;

/// Fewest character classes among lower case, upper case, digits and symbols.
pub const MIN_CLASSES: usize = 3;

/// The rule in one sentence, for messages.
pub const RULE: &str = "at least 32 characters, with at least 3 of: lower case, upper case, digits, symbols; \
                        no character making up more than a quarter of it";

/// Why a secret is weak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    TooShort(usize),
    FewClasses(usize),
    Repetitive,
}

impl Weakness {
    /// What is wrong, without a character of the secret itself.
    pub fn message(&self) -> String {
        match self {
            Self::TooShort(n) => format!("only {n} characters"),
            Self::FewClasses(n) => format!("only {n} character class{}", if *n == 1 { "" } else { "es" }),
            Self::Repetitive => "one character makes up more than a quarter of it".into(),
        }
    }
}

/// Whether `secret` is strong enough (see [`RULE`]).
pub fn check(secret: &str) -> Result<(), Weakness> {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MIN_CHARS {
        return Err(Weakness::TooShort(chars.len()));
    }
    let classes = [
        chars.iter().any(char::is_ascii_lowercase),
        chars.iter().any(char::is_ascii_uppercase),
        chars.iter().any(char::is_ascii_digit),
        chars.iter().any(|c| !c.is_ascii_alphanumeric()),
    ];
    let n = classes.iter().filter(|c| **c).count();
    if n < MIN_CLASSES {
        return Err(Weakness::FewClasses(n));
    }
    let most = chars.iter().map(|c| chars.iter().filter(|d| *d == c).count()).max().unwrap_or(0);
    if most * 4 > chars.len() {
        return Err(Weakness::Repetitive);
    }
    Ok(())
}

/// Why an alert webhook URL is refused, or `Ok` for one the dispatcher will post to: `https`,
/// a host, no credentials in it, a path (the secret part of a Slack or similar webhook is its
/// path), at most 2,048 bytes. The message never quotes the URL: it is a secret.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    if url.len() > 2_048 {
        return Err(format!("{} bytes; at most 2048", url.len()));
    }
    let Some(rest) = url.strip_prefix("https://") else { return Err("not an https:// URL".to_owned()) };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains('@') || authority.chars().any(|c| c.is_whitespace()) {
        return Err("no host, or credentials before the host".to_owned());
    }
    if path.is_empty() {
        return Err("no path: a webhook's URL carries its secret in the path".to_owned());
    }
    Ok(())
}

/// Checks a secret by its name: the webhook's URL by its own rule, every other by [`check`].
pub fn check_named(name: &str, value: &str) -> Result<(), String> {
    if name == crate::names::var::ALERT_WEBHOOK_URL {
        check_webhook_url(value)
    } else {
        check(value).map_err(|w| w.message())
    }
}

/// The alphabet of generated secrets: URL-, shell- and toml-safe, four classes.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A 48-character secret from at least 48 random bytes (6 bits of each, so 288 bits), or
/// `None` when those bytes happen to make a weak one (vanishingly rare: ask again with fresh
/// bytes).
pub fn generate(random: &[u8]) -> Option<String> {
    if random.len() < 48 {
        return None;
    }
    let secret: String = random[..48].iter().map(|b| ALPHABET[(*b & 63) as usize] as char).collect();
    check(&secret).is_ok().then_some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_refused_with_what_is_wrong() {
        assert_eq!(check("dev-token"), Err(Weakness::TooShort(9)));
        assert_eq!(check(&"ab12".repeat(10)), Err(Weakness::FewClasses(2)));
        assert_eq!(check(&"0123456789abcdef".repeat(4)), Err(Weakness::FewClasses(2)), "hex is two classes");
        assert_eq!(check(&format!("Aa1{}", "x".repeat(40))), Err(Weakness::Repetitive));
        assert!(Weakness::FewClasses(1).message().ends_with("class"));
        assert!(check("Dev-Only-Token-7f3a9c2e-Local-Stack-4b1d").is_ok());
    }

    #[test]
    fn webhook_urls_are_https_with_a_host_and_a_secret_path() {
        assert_eq!(check_webhook_url("https://hooks.slack.com/services/T0/B0/x1Y2z3"), Ok(()));
        let refused = |url: &str, needle: &str| {
            let e = check_webhook_url(url).expect_err(url);
            assert!(e.contains(needle) && !e.contains(url), "{e}");
        };
        refused("http://hooks.example/x", "https");
        refused("https://user:pw@hooks.example/x", "credentials");
        refused("https:///x", "no host");
        refused("https://hooks.example", "no path");
        refused(&format!("https://h.example/{}", "a".repeat(2_100)), "at most");
        assert!(check_named("ALERT_WEBHOOK_URL", "https://h.example/s").is_ok());
        assert!(check_named("ADMIN_TOKEN", "https://h.example/s").is_err(), "a token is checked for strength");
    }

    #[test]
    fn generated_secrets_are_strong_and_use_their_bytes() {
        let bytes: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
        let secret = generate(&bytes).unwrap();
        assert_eq!(secret.len(), 48);
        assert!(check(&secret).is_ok());
        let other: Vec<u8> = bytes.iter().map(|b| b ^ 1).collect();
        assert_ne!(generate(&other), Some(secret));
        assert_eq!(generate(&[0; 48]), None, "48 times 'A' is weak");
        assert_eq!(generate(&bytes[..47]), None);
    }
}
