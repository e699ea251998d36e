//! Percent-encoding of URL query values and path segments, shared by every HTTP client of the
//! admin API (the ops CLI, xtask's local clock, the end-to-end harness) so each encodes alike.

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn only_unreserved_characters_pass() {
        assert_eq!(percent_encode("*/3 * * * *"), "%2A%2F3%20%2A%20%2A%20%2A%20%2A");
        assert_eq!(percent_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
