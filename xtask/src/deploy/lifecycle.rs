//! The results bucket's lifecycle rule: optimization results (`optimizations/`) expire after
//! the retention the optimizer declares for its environment (`OPTIMIZATIONS_RETENTION_DAYS`,
//! required by the configuration check); reports and health checks, under other prefixes, are
//! kept. wrangler.toml has no key for lifecycle rules, so deploy applies the rule on every run:
//! `wrangler r2 bucket lifecycle list` finds the rule by its name; a missing rule is added, a rule
//! with another prefix or age is removed and added again, a matching one is left alone.

use code24_shared::optimization::OPTIMIZATIONS_PREFIX;

use super::{output_tail, Wrangler};
use crate::Result;

/// The rule's name in the bucket (wrangler's "id"): what deploy looks for and replaces.
pub(super) const RULE: &str = "code24-optimizations-expiry";

/// Applies the rule expiring [`OPTIMIZATIONS_PREFIX`] after `days` to `bucket`; returns what
/// happened.
pub(super) fn ensure_rule(wrangler: &Wrangler, bucket: &str, days: Option<u64>) -> Result<String> {
    let days = days.ok_or_else(|| {
        format!(
            "R2 bucket {bucket} has no declared retention for {OPTIMIZATIONS_PREFIX}: the optimizer must set \
             OPTIMIZATIONS_RETENTION_DAYS (`cargo xtask check-config` names it)"
        )
    })?;
    let listed = wrangler.output(&["r2", "bucket", "lifecycle", "list", bucket])?;
    if !listed.status.success() {
        return Err(format!("cannot list the lifecycle rules of R2 bucket {bucket}:\n{}", output_tail(&listed, 10)));
    }
    let wanted = Rule { prefix: OPTIMIZATIONS_PREFIX.to_owned(), action: format!("Expire objects after {days} days") };
    let what = match rule_in_list(&String::from_utf8_lossy(&listed.stdout), RULE) {
        Some(rule) if rule == wanted => {
            return Ok(format!("R2 bucket {bucket}: lifecycle rule {RULE} exists ({OPTIMIZATIONS_PREFIX} after {days} days)"))
        }
        Some(old) => {
            let remove = ["r2", "bucket", "lifecycle", "remove", bucket, "--name", RULE];
            wrangler.run(&remove, &format!("removing the outdated lifecycle rule {RULE} of {bucket}"))?;
            format!("replaced ({} {} before)", old.prefix, old.action.to_lowercase())
        }
        None => "added".to_owned(),
    };
    let days_arg = days.to_string();
    let add = ["r2", "bucket", "lifecycle", "add", bucket, RULE, OPTIMIZATIONS_PREFIX, "--expire-days", &days_arg, "--force"];
    wrangler.run(&add, &format!("adding the lifecycle rule {RULE} to {bucket}"))?;
    Ok(format!("R2 bucket {bucket}: lifecycle rule {RULE} {what}: {OPTIMIZATIONS_PREFIX} expires after {days} days"))
}

/// What deploy compares of a listed rule.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    prefix: String,
    action: String,
}

/// The rule named `name` in what `wrangler r2 bucket lifecycle list` prints: blocks of
/// `label: value` lines (name, enabled, prefix, action) separated by blank lines, colored when
/// wrangler thinks it writes to a terminal.
fn rule_in_list(stdout: &str, name: &str) -> Option<Rule> {
    without_colors(stdout).split("\n\n").find_map(|block| {
        let field = |label: &str| {
            block.lines().find_map(|l| l.trim().strip_prefix(label).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_owned()))
        };
        (field("name")? == name).then(|| Rule { prefix: field("prefix").unwrap_or_default(), action: field("action").unwrap_or_default() })
    })
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`).
fn without_colors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_rule_is_found_by_name() {
        let listed = "Listing lifecycle rules for bucket 'b'...\nname:    other\nenabled: Yes\nprefix:  (all prefixes)\naction:  \
                      Abort incomplete multipart uploads after 7 days\n\nname:    code24-optimizations-expiry\nenabled: Yes\nprefix:  \
                      optimizations/\naction:  Expire objects after 30 days\n";
        let rule = rule_in_list(listed, RULE).unwrap();
        assert_eq!(rule, Rule { prefix: "optimizations/".into(), action: "Expire objects after 30 days".into() });
        assert_eq!(rule_in_list("There are no lifecycle rules for bucket 'b'.", RULE), None);
        assert_eq!(rule_in_list(listed, "nope"), None);
        let colored =
            "\u{1b}[37mname:\u{1b}[39m    \u{1b}[90mcode24-optimizations-expiry\u{1b}[39m\n\u{1b}[37mprefix:\u{1b}[39m  optimizations/";
        assert_eq!(rule_in_list(colored, RULE).map(|r| r.prefix), Some("optimizations/".to_owned()));
    }
}
