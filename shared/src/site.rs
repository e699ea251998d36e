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
        if raw.len() > Self::MAX_LEN {
            return Err(format!("site URL is {} bytes long; at most {} are allowed", raw.len(), Self::MAX_LEN));
        }
        let rest = raw
            .strip_prefix("https://")
            .or_else(|| raw.strip_prefix("http://"))
            .ok_or_else(|| format!("site URL {raw:?} must start with http:// or https://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(format!("site URL {raw:?} has no host"));
        }
        if let Some(bad) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("site URL {raw:?} contains {bad:?}"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
    }
}
