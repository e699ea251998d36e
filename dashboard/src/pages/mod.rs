//! The dashboard's pages, as functions from the admin API's answers to HTML fragments (the
//! Worker wraps each in [`crate::html::page`]).

pub mod analytics;
pub mod audit;
pub mod dead_letters;
pub mod health;
pub mod reports;
pub mod schedules;
pub mod sites;
pub mod sweeps;

use crate::html::{esc, notice};

/// The login form. `message` says why it is shown (no session, expired, wrong token).
pub fn login(message: &str, next: &str) -> String {
    format!(
        "{}<form class=\"login\" method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"{}\">\
         <label>Admin token<input name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus></label>\
         <button class=\"primary\" id=\"login\">Log in</button></form>\
         <p class=\"hint\">The dispatcher's ADMIN_TOKEN secret (locally: from .dev.vars). The session lasts 12 hours.</p>",
        notice("empty", message, "Type the admin token below."),
        esc(next)
    )
}

/// Where a login may send the browser: only a local dashboard path, never another site (an
/// open redirect would let a link log an operator in and send them elsewhere).
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.starts_with("/api/");
    if local && next.chars().all(|c| c.is_ascii_graphic()) {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_redirects_stay_local() {
        for (next, expected) in [
            ("/dead-letters?status=dead", "/dead-letters?status=dead"),
            ("/", "/"),
            ("", "/"),
            ("//evil.example", "/"),
            ("https://evil.example", "/"),
            ("/\\evil.example", "/"),
            ("/api/sweeps", "/"),
            ("/a b", "/"),
        ] {
            assert_eq!(safe_next(next), expected, "{next}");
        }
        let html = login("Your session expired.", "/x\"><script>");
        assert!(html.contains("value=\"/x&quot;&gt;&lt;script&gt;\"") && html.contains("type=\"password\""), "{html}");
    }
}
