//! Where the admin API is and which token to send it, from `--url`/`--env`, the process
//! environment, the config file and (for the local stack) `./.dev.vars`.
//!
//! Resolution is a pure function over plain inputs ([`Sources`]); `main` gathers them from the
//! process, so the tests below exercise every rule without touching the real environment.
//!
//! The URL: `--url`, else `url` of `[env.<env>]` in the config file, else (local only)
//! `http://127.0.0.1:8787`. The token: `CODE24_API_TOKEN`, else `token_env` (the name of a
//! variable holding it) or `token` of `[env.<env>]`, else (local only) the `ADMIN_TOKEN=` line
//! of `./.dev.vars`, which `cargo xtask dev` writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use code24_shared::names::Environment;
use code24_shared::site::SiteUrl;
use serde::Deserialize;

use crate::error::{CliError, Exit};

/// The variable holding the token; it wins over every other source.
pub(crate) const TOKEN_VAR: &str = "CODE24_API_TOKEN";
/// The variable naming the config file, instead of the default path.
pub(crate) const CONFIG_VAR: &str = "CODE24_OPS_CONFIG";
/// Where `cargo xtask dev` serves the dispatcher.
pub(crate) const LOCAL_URL: &str = "http://127.0.0.1:8787";
/// The local secrets file of `wrangler dev`, read from the working directory.
pub(crate) const DEV_VARS: &str = ".dev.vars";
/// The admin token's line in [`DEV_VARS`].
const DEV_VARS_TOKEN: &str = "ADMIN_TOKEN";

/// The API to talk to, resolved. Its `Debug` form withholds the token, so no debug print or
/// panic message can leak it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Base URL without a trailing slash.
    pub(crate) url: String,
    pub(crate) token: String,
    /// Where the token came from, so a refused token's error can say what to change.
    pub(crate) token_source: TokenSource,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.url).field("token", &"<withheld>").field("token_source", &self.token_source).finish()
    }
}

/// Where a token was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// An environment variable: [`TOKEN_VAR`] or one named by `token_env`.
    Var(String),
    /// `token = "..."` of `[env.<env>]` in this config file.
    ConfigFile { path: PathBuf, env: &'static str },
    /// The `ADMIN_TOKEN=` line of this `.dev.vars`.
    DevVars(PathBuf),
}

impl Target {
    /// What to do when the API refuses this token.
    pub(crate) fn token_hint(&self) -> String {
        match &self.token_source {
            TokenSource::Var(name) => format!("the token came from ${name}; set it to the dispatcher's ADMIN_TOKEN"),
            TokenSource::ConfigFile { path, env } => {
                format!("the token came from `token` of [env.{env}] in {}; fix it, or set ${TOKEN_VAR}", path.display())
            }
            TokenSource::DevVars(path) => format!(
                "the token came from {DEV_VARS_TOKEN} in {}; restart `cargo xtask dev` so the stack reads it, or set ${TOKEN_VAR}",
                path.display()
            ),
        }
    }

    /// Whether the API is on this machine (the local stack), for the "start it" hint.
    pub(crate) fn is_loopback(&self) -> bool {
        let rest = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1")
    }
}

/// Which API the command line names: `--url`, `--env`, both, or neither (local).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) url: Option<String>,
    pub(crate) env: Option<Environment>,
}

/// Everything resolution reads, gathered by the caller.
pub(crate) struct Sources<'a> {
    /// Looks up a process environment variable.
    pub(crate) var: &'a dyn Fn(&str) -> Option<String>,
    /// The config file's path and text, if there is one.
    pub(crate) config: Option<(PathBuf, String)>,
    /// The path and text of `./.dev.vars`, if it exists.
    pub(crate) dev_vars: Option<(PathBuf, String)>,
}

/// One `[env.<name>]` table of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvEntry {
    url: Option<String>,
    /// The name of an environment variable holding the token (preferred over `token`).
    token_env: Option<String>,
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    env: BTreeMap<String, EnvEntry>,
}

/// The config file to read: `$CODE24_OPS_CONFIG` (which must exist), else
/// `$XDG_CONFIG_HOME/code24/ops.toml` or `~/.config/code24/ops.toml` (which may not).
pub(crate) fn config_path(var: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if let Some(explicit) = set(CONFIG_VAR) {
        return Some((PathBuf::from(explicit), true));
    }
    let base = set("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| set("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some((base.join("code24").join("ops.toml"), false))
}

/// The usage error of a bad config file.
fn config_error(path: &Path, problem: impl std::fmt::Display) -> CliError {
    CliError::usage(
        format!("config file {}: {problem}", path.display()),
        format!("fix the file (format: `[env.staging]` with `url = \"https://...\"` and `token_env = \"VAR\"`), or point ${CONFIG_VAR} elsewhere"),
    )
}

/// Resolves the API's URL and token.
pub(crate) fn resolve(selector: &Selector, sources: &Sources<'_>) -> Result<Target, CliError> {
    let var = |name: &str| (sources.var)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    // `--url` alone names no environment: only the token variable applies.
    let env = match (&selector.url, selector.env) {
        (Some(_), None) => None,
        (_, env) => Some(env.unwrap_or(Environment::Local)),
    };
    let entry = match (env, &sources.config) {
        (Some(env), Some((path, text))) => {
            let file: ConfigFile = toml::from_str(text).map_err(|e| config_error(path, e.message()))?;
            if let Some(unknown) = file.env.keys().find(|k| Environment::parse(k).is_none()) {
                return Err(config_error(path, format!("[env.{unknown}] is not an environment; use local, dev, staging or production")));
            }
            let mut entries = file.env;
            entries.remove(env.as_str()).map(|entry| (path.clone(), entry))
        }
        _ => None,
    };

    let url = match (&selector.url, &entry, env) {
        (Some(url), _, _) => url.clone(),
        (None, Some((path, EnvEntry { url: Some(url), .. })), _) => {
            SiteUrl::parse(url).map_err(|e| config_error(path, format!("url of [env.{}]: {e}", env.map_or("", Environment::as_str))))?;
            url.clone()
        }
        (None, _, Some(Environment::Local) | None) => LOCAL_URL.to_owned(),
        (None, _, Some(env)) => {
            return Err(CliError::usage(
                format!("no URL for the {} environment", env.as_str()),
                format!(
                    "pass --url, or add to {}:\n    [env.{}]\n    url = \"https://...\"\n    token_env = \"CODE24_{}_TOKEN\"",
                    config_hint(&var),
                    env.as_str(),
                    env.as_str().to_uppercase(),
                ),
            ))
        }
    };
    let url = url.trim_end_matches('/').to_owned();

    if let Some(token) = var(TOKEN_VAR) {
        return Ok(Target { url, token, token_source: TokenSource::Var(TOKEN_VAR.to_owned()) });
    }
    if let Some((path, entry)) = &entry {
        let env_name = env.map_or("local", Environment::as_str);
        match (&entry.token_env, &entry.token) {
            (Some(_), Some(_)) => return Err(config_error(path, format!("[env.{env_name}] sets both token_env and token; keep one"))),
            (Some(name), None) => {
                return match var(name) {
                    Some(token) => Ok(Target { url, token, token_source: TokenSource::Var(name.clone()) }),
                    None => Err(CliError::new(
                        Exit::Auth,
                        format!("${name} is not set (token_env of [env.{env_name}] in {})", path.display()),
                        format!("export {name}=<the dispatcher's ADMIN_TOKEN>, or set ${TOKEN_VAR}"),
                    )),
                };
            }
            (None, Some(token)) if !token.trim().is_empty() => {
                let token_source = TokenSource::ConfigFile { path: path.clone(), env: env.map_or("local", Environment::as_str) };
                return Ok(Target { url, token: token.trim().to_owned(), token_source });
            }
            _ => {}
        }
    }
    if env == Some(Environment::Local) {
        if let Some((path, text)) = &sources.dev_vars {
            if let Some(token) = dev_var(text, DEV_VARS_TOKEN).filter(|t| !t.is_empty()) {
                return Ok(Target { url, token, token_source: TokenSource::DevVars(path.clone()) });
            }
        }
    }
    let hint = match env {
        None => format!("set ${TOKEN_VAR} to the dispatcher's ADMIN_TOKEN"),
        Some(Environment::Local) => {
            format!("set ${TOKEN_VAR}, or run from the repository root where `cargo xtask dev` wrote {DEV_VARS_TOKEN} to {DEV_VARS}")
        }
        Some(env) => format!("set ${TOKEN_VAR}, or add `token_env = \"VAR\"` under [env.{}] in {}", env.as_str(), config_hint(&var)),
    };
    Err(CliError::new(Exit::Auth, format!("no API token for {url}"), hint))
}

/// The config file's path as a hint shows it.
fn config_hint(var: &dyn Fn(&str) -> Option<String>) -> String {
    match config_path(var) {
        Some((path, _)) => path.display().to_string(),
        None => "~/.config/code24/ops.toml".to_owned(),
    }
}

/// Reads `NAME=value` from dotenv-style text, as `cargo xtask` does.
fn dev_var(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        url: Option<&'static str>,
        env: Option<Environment>,
        vars: &'static [(&'static str, &'static str)],
        config: Option<&'static str>,
        dev_vars: Option<&'static str>,
    }

    const NONE: Case = Case { url: None, env: None, vars: &[], config: None, dev_vars: None };

    fn run(case: Case) -> Result<Target, CliError> {
        let vars = case.vars;
        let lookup = move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let sources = Sources {
            var: &lookup,
            config: case.config.map(|t| (PathBuf::from("/cfg/ops.toml"), t.to_owned())),
            dev_vars: case.dev_vars.map(|t| (PathBuf::from(".dev.vars"), t.to_owned())),
        };
        resolve(&Selector { url: case.url.map(str::to_owned), env: case.env }, &sources)
    }

    fn check_ok(case: Case, url: &str, token: &str, source: TokenSource) {
        let target = run(case).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((target.url.as_str(), target.token.as_str(), target.token_source), (url, token, source));
    }

    fn check_err(case: Case, exit: Exit, fragment: &str) {
        let e = run(case).expect_err("resolution should fail");
        assert_eq!(e.exit, exit, "{e}");
        assert!(e.to_string().contains(fragment), "{e}");
    }

    const STAGING: &str = "[env.staging]\nurl = \"https://ops.staging.example/\"\ntoken_env = \"STAGING_TOKEN\"\n";

    #[test]
    fn local_is_the_default_with_the_dev_vars_token() {
        check_ok(
            Case { dev_vars: Some("X=1\nADMIN_TOKEN=dev-token\n"), ..NONE },
            LOCAL_URL,
            "dev-token",
            TokenSource::DevVars(".dev.vars".into()),
        );
    }

    #[test]
    fn the_token_variable_wins_over_every_file() {
        let case = Case { vars: &[(TOKEN_VAR, " t0k ")], dev_vars: Some("ADMIN_TOKEN=dev-token"), ..NONE };
        check_ok(case, LOCAL_URL, "t0k", TokenSource::Var(TOKEN_VAR.into()));
        let case =
            Case { env: Some(Environment::Staging), vars: &[(TOKEN_VAR, "t0k"), ("STAGING_TOKEN", "s")], config: Some(STAGING), ..NONE };
        check_ok(case, "https://ops.staging.example", "t0k", TokenSource::Var(TOKEN_VAR.into()));
    }

    #[test]
    fn an_environment_reads_its_config_entry() {
        let case = Case { env: Some(Environment::Staging), vars: &[("STAGING_TOKEN", "s3")], config: Some(STAGING), ..NONE };
        check_ok(case, "https://ops.staging.example", "s3", TokenSource::Var("STAGING_TOKEN".into()));
        let inline = "[env.local]\nurl = \"http://127.0.0.1:9999\"\ntoken = \"inline\"\n";
        let case = Case { config: Some(inline), dev_vars: Some("ADMIN_TOKEN=dev-token"), ..NONE };
        check_ok(case, "http://127.0.0.1:9999", "inline", TokenSource::ConfigFile { path: "/cfg/ops.toml".into(), env: "local" });
    }

    #[test]
    fn a_url_flag_overrides_the_url_and_alone_reads_only_the_token_variable() {
        let case = Case { url: Some("http://127.0.0.1:4000"), vars: &[(TOKEN_VAR, "t")], config: Some("not toml ["), ..NONE };
        check_ok(case, "http://127.0.0.1:4000", "t", TokenSource::Var(TOKEN_VAR.into()));
        check_err(
            Case { url: Some("http://127.0.0.1:4000"), dev_vars: Some("ADMIN_TOKEN=x"), ..NONE },
            Exit::Auth,
            "set $CODE24_API_TOKEN",
        );
        let case = Case { url: Some("http://127.0.0.1:4000"), env: Some(Environment::Local), dev_vars: Some("ADMIN_TOKEN=x"), ..NONE };
        check_ok(case, "http://127.0.0.1:4000", "x", TokenSource::DevVars(".dev.vars".into()));
    }

    #[test]
    fn missing_pieces_say_what_to_set() {
        check_err(NONE, Exit::Auth, "`cargo xtask dev` wrote ADMIN_TOKEN");
        check_err(Case { env: Some(Environment::Production), vars: &[(TOKEN_VAR, "t")], ..NONE }, Exit::Usage, "[env.production]");
        let case = Case { env: Some(Environment::Staging), config: Some(STAGING), ..NONE };
        check_err(case, Exit::Auth, "export STAGING_TOKEN=");
        let case = Case { env: Some(Environment::Dev), config: Some("[env.dev]\nurl = \"https://d.example\"\n"), ..NONE };
        check_err(case, Exit::Auth, "token_env = \"VAR\"` under [env.dev]");
    }

    #[test]
    fn bad_config_files_are_usage_errors_naming_the_file() {
        let check = |config: &'static str, fragment: &str| check_err(Case { config: Some(config), ..NONE }, Exit::Usage, fragment);
        check("[env.prod]\nurl = \"https://p.example\"\n", "[env.prod] is not an environment");
        check("[env.local]\nurl = \"ftp://x\"\n", "must start with http");
        check("[env.local]\ntoken = \"a\"\ntoken_env = \"B\"\n", "both token_env and token");
        check("[env.local]\ntokn = \"a\"\n", "unknown field");
        check("[env.local\n", "/cfg/ops.toml");
    }

    #[test]
    fn the_config_path_follows_the_variables() {
        let at = |vars: &'static [(&'static str, &'static str)]| {
            config_path(&|n: &str| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()))
        };
        assert_eq!(at(&[(CONFIG_VAR, "/x.toml"), ("HOME", "/h")]), Some(("/x.toml".into(), true)));
        assert_eq!(at(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/h")]), Some(("/xdg/code24/ops.toml".into(), false)));
        assert_eq!(at(&[("HOME", "/h")]), Some(("/h/.config/code24/ops.toml".into(), false)));
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn loopback_targets_are_recognised() {
        let target = |url: &str| Target { url: url.into(), token: String::new(), token_source: TokenSource::Var(String::new()) };
        assert!(target("http://127.0.0.1:8787").is_loopback());
        assert!(target("http://localhost").is_loopback());
        assert!(target("http://[::1]:8787/base").is_loopback());
        assert!(!target("https://ops.example").is_loopback());
        assert!(!target("https://127.0.0.1.example:443").is_loopback());
    }
}
