//! Failures of the CLI, each with the exit code scripts rely on and a hint saying what to do
//! next. Every way the CLI can fail ends up here, so the codes documented in `--help` are
//! decided in one place: [`Exit`] for the code, [`CliError::from_status`] for HTTP answers.

use std::fmt;

/// The process exit codes, as documented in `code24-ops --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The API answered an error (5xx, an unexpected answer), or a replay or purge skipped
    /// entries.
    Api = 1,
    /// The command line or the config file is wrong; nothing was sent (or the API refused the
    /// input the same way).
    Usage = 2,
    /// No token, a refused token, or an API whose token is not configured.
    Auth = 3,
    /// The named dead letter, sweep or site does not exist.
    NotFound = 4,
    /// Nothing answered at the API's address.
    Unreachable = 5,
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

/// One failure: what went wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CliError {
    pub(crate) exit: Exit,
    /// What went wrong, in one sentence.
    pub(crate) message: String,
    /// What to do next; every error has one, because an operator reading it at 3 a.m. should
    /// not have to guess.
    pub(crate) hint: String,
}

impl CliError {
    pub(crate) fn new(exit: Exit, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { exit, message: message.into(), hint: hint.into() }
    }

    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message, hint)
    }

    /// Classifies an HTTP error answer. `api_message` is the `error` field of the JSON body
    /// (or the start of a body that is not JSON); `token_hint` says where the token came from
    /// and how to change it.
    pub(crate) fn from_status(status: u16, api_message: &str, request: &str, token_hint: &str) -> Self {
        let said = if api_message.is_empty() { String::new() } else { format!(": {api_message}") };
        match status {
            401 | 403 => Self::new(Exit::Auth, format!("the API refused the token ({status}{said})"), token_hint),
            // The dispatcher answers 503 while its ADMIN_TOKEN secret is unset; any other 503
            // is an ordinary server failure.
            503 if api_message.contains("ADMIN_TOKEN") => Self::new(
                Exit::Auth,
                format!("the API has no admin token configured (503{said})"),
                "locally, `cargo xtask dev` writes ADMIN_TOKEN to .dev.vars; in a deployed environment set the \
                 secret with `npx wrangler secret put ADMIN_TOKEN --env <env>`",
            ),
            // A 404 for a missing route is a dispatcher without this API, not a missing entry.
            404 if api_message.starts_with("no route") => Self::new(
                Exit::Api,
                format!("the dispatcher does not serve {request} (404{said})"),
                "the dispatcher at this address predates this CLI; deploy the current dispatcher, or check --url/--env",
            ),
            404 => Self::new(Exit::NotFound, format!("not found (404{said})"), "check the id; the list commands show what exists"),
            400 | 405 | 409 | 411 | 413 | 415 | 422 => Self::new(
                Exit::Usage,
                format!("the API refused {request} ({status}{said})"),
                "fix the arguments as the message says; `code24-ops <command> --help` lists them",
            ),
            429 => {
                Self::new(Exit::Api, format!("the API is rate limiting requests (429{said})"), "wait a minute and run the command again")
            }
            _ => Self::new(
                Exit::Api,
                format!("the API failed on {request} ({status}{said})"),
                "run the command again; if it keeps failing, look at the dispatcher's logs (`npx wrangler tail`, or \
                 .state/wrangler.log locally)",
            ),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}\n  hint: {}", self.message, self.hint)
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, api_message: &str, expected: Exit, fragment: &str) {
        let e = CliError::from_status(status, api_message, "GET /api/sweeps", "set CODE24_API_TOKEN");
        assert_eq!(e.exit, expected, "{status} {api_message:?}: {e}");
        assert!(e.to_string().contains(fragment), "{status}: {e}");
        assert!(!e.hint.is_empty(), "{status}: every error says what to do next");
    }

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        check(401, "missing or wrong bearer token", Exit::Auth, "set CODE24_API_TOKEN");
        check(403, "", Exit::Auth, "refused the token (403)");
        check(503, "the admin API is disabled: the ADMIN_TOKEN secret is not set", Exit::Auth, "wrangler secret put");
        check(503, "overloaded", Exit::Api, "failed on GET /api/sweeps (503: overloaded)");
        check(500, "boom", Exit::Api, "dispatcher's logs");
        check(502, "ledger unreachable", Exit::Api, "ledger unreachable");
        check(404, "no sweep local.optimize.19990101T000000Z", Exit::NotFound, "no sweep");
        check(404, "no route Get /api/dead-letters/x", Exit::Api, "predates this CLI");
        check(400, "customer id contains '.'", Exit::Usage, "refused GET /api/sweeps");
        check(413, "too big", Exit::Usage, "--help");
        check(429, "", Exit::Api, "rate limiting");
    }

    #[test]
    fn exit_codes_are_the_documented_numbers() {
        let codes: Vec<u8> = [Exit::Api, Exit::Usage, Exit::Auth, Exit::NotFound, Exit::Unreachable].map(Exit::code).to_vec();
        assert_eq!(codes, vec![1, 2, 3, 4, 5]);
    }
}
