//! How strong a secret must be, and how a strong one is made, sans IO.
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
