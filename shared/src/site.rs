//! Customer sites as the registry holds them, with URL validation: a site URL is sent to the
//! elite workers and fetched by health checks, so only plain absolute http(s) URLs of sane
//! length are accepted.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// A validated absolute `http://` or `https://` URL of at most [`SiteUrl::MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SiteUrl(String);

impl SiteUrl {
    pub const MAX_LEN: usize = 2_048;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let quoted = shown(raw);
        if raw.len() > Self::MAX_LEN {
            return Err(format!("site URL is {} bytes long; at most {} are allowed", raw.len(), Self::MAX_LEN));
        }
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| format!("site URL {quoted} must start with http:// or https://"))?;
        if let Some(bad) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("site URL {quoted} contains {bad:?}"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // Credentials in a URL would travel to the elite workers and show in every listing;
        // the message does not quote the URL, so it cannot echo them either.
        if authority.contains('@') {
            return Err("site URL must not carry credentials (user info before '@' in its host)".into());
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((inner, after)) if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') => {
                    (inner, (!after.is_empty()).then(|| after.strip_prefix(':').unwrap_or(after)))
                }
                _ => return Err(format!("site URL {quoted} has a malformed IPv6 host")),
            },
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(format!("site URL {quoted} has no host"));
        }
        if !authority.starts_with('[') {
            if let Some(bad) = host.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))) {
                return Err(format!(
                    "site URL {quoted} has {bad:?} in its host; use letters, digits, '-', '.' (punycode for other scripts)"
                ));
            }
        }
        if let Some(port) = port {
            if !port.parse::<u16>().is_ok_and(|p| p > 0) || !port.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("site URL {quoted} has port {port:?}; a port is a number in 1..=65535"));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How an error message quotes a refused URL: at most 100 characters, and not at all when it
/// contains `@`, which may mark credentials an error must not echo.
fn shown(raw: &str) -> String {
    if raw.contains('@') {
        "(withheld: it contains '@')".to_owned()
    } else {
        format!("{:?}", crate::api::truncated(raw, 100))
    }
}

impl fmt::Display for SiteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SiteUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An active site as the producer reads it from the registry: one site per customer, because
/// the seed's R2 layout keys results by customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub customer_id: CustomerId,
    pub url: SiteUrl,
}

/// A customer's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Starter,
    Growth,
    Enterprise,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starter => "starter",
            Self::Growth => "growth",
            Self::Enterprise => "enterprise",
        }
    }
}

/// The admin API's request to add (or update) a customer and its site. Every field is
/// validated by deserialization itself, so a bad request is refused before any write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRegistration {
    pub customer_id: CustomerId,
    pub url: SiteUrl,
    pub plan: Plan,
    /// Display name; the customer id when absent.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

impl SiteRegistration {
    /// Longest display name accepted.
    pub const MAX_NAME_LEN: usize = 200;

    /// Decodes and validates a request body, with a message fit for the API's 400 answer.
    pub fn decode(body: &str) -> Result<Self, String> {
        let r: Self = serde_json::from_str(body).map_err(|e| format!("invalid site registration: {e}"))?;
        if r.name.as_ref().is_some_and(|n| n.len() > Self::MAX_NAME_LEN || n.chars().any(char::is_control)) {
            return Err(format!("invalid site registration: name must be at most {} printable characters", Self::MAX_NAME_LEN));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, ok: bool) {
        assert_eq!(SiteUrl::parse(raw).is_ok(), ok, "{raw:?}: {:?}", SiteUrl::parse(raw));
    }

    #[test]
    fn site_urls_are_validated() {
        check("https://acme.example", true);
        check("http://acme.example:8080/shop?x=1", true);
        check("ftp://acme.example", false);
        check("javascript:alert(1)", false);
        check("https://", false);
        check("https://:80", false);
        check("https://a b.example", false);
        check(&format!("https://{}.example", "a".repeat(2_100)), false);
        check("https://[::1]:8443/x", true);
        check("https://[::1]", true);
        check("https://user:pw@acme.example", false);
        check("https://acme.example:0", false);
        check("https://acme.example:99999", false);
        check("https://acme.example:+80", false);
        check("https://acme.example:", false);
        check("https://ac<me.example", false);
        check("https://xn--bcher-kva.example", true);
        check("https://bücher.example", false);
        check("https://[zz]", false);
        check("https://[::1]x", false);
        assert!(!SiteUrl::parse("https://admin:hunter2@a.example").unwrap_err().contains("hunter2"), "credentials are never echoed");
    }
}

#[cfg(test)]
mod registration_tests {
    use super::*;

    fn check(body: &str, expected: Result<(), &str>) {
        let got = SiteRegistration::decode(body).map(|_| ());
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{body}: {e}"),
            (got, expected) => panic!("{body}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn registrations_are_validated() {
        check(r#"{"customer_id":"acme","url":"https://a.example","plan":"growth"}"#, Ok(()));
        check(r#"{"customer_id":"acme","url":"https://a.example","plan":"growth","active":false,"name":"Acme"}"#, Ok(()));
        check(r#"{"customer_id":"../x","url":"https://a.example","plan":"growth"}"#, Err("customer id contains '.'"));
        check(r#"{"customer_id":"acme","url":"file:///etc","plan":"growth"}"#, Err("must start with http"));
        check(r#"{"customer_id":"acme","url":"https://a.example","plan":"gold"}"#, Err("unknown variant"));
        check(r#"{"customer_id":"acme","url":"https://a.example","plan":"growth","admin":true}"#, Err("unknown field"));
        check(r#"{"customer_id":"acme","url":"https://a.example","plan":"growth","name":"a\u0000b"}"#, Err("printable"));
        check("not json", Err("invalid site registration"));
    }
}
