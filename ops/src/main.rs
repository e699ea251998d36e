//! `code24-ops`: the operators' command line over the dispatcher's admin API.
//!
//! - `main.rs` (this file): the command line, and the mapping of every outcome to an exit code.
//! - [`config`]: which API and which token (`--url`/`--env`, variables, the config file).
//! - [`client`]: blocking HTTP with the bearer token; answers classified into [`error`]s.
//! - [`commands`]: `dlq`, `sweeps`, `sites`, `audit`, `breakers`; each validates its arguments with the shared API
//!   types before anything is sent.
//! - [`output`]: tables, key/value views, times and the progress line.
//!
//! Exit codes are part of the interface (see [`EXIT_CODES`]); they are decided in [`error`].

mod client;
mod commands;
mod config;
mod error;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use code24_shared::names::Environment;
use code24_shared::site::SiteUrl;

use crate::commands::audit::AuditCommand;
use crate::commands::dlq::DlqCommand;
use crate::commands::sites::SitesCommand;
use crate::commands::sweeps::SweepsCommand;
use crate::commands::Ctx;
use crate::error::CliError;

/// The exit codes and configuration, shown under `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the API answered an error (5xx, an unexpected answer), or a replay/purge skipped entries
  2  usage error: bad flags or values (checked before any request), a bad config file, or
     input the API refused (400)
  3  authentication: no token, a refused token (401), or an API without its ADMIN_TOKEN (503)
  4  not found: no such dead letter, sweep or site (404)
  5  cannot reach the API (connection refused, DNS, timeout); locally, start `cargo xtask dev`

Where the API is and which token to send:
  --url URL, else `url` of [env.<ENV>] in the config file, else (local) http://127.0.0.1:8787.
  The token: $CODE24_API_TOKEN; else `token_env` (a variable's name) or `token` of
  [env.<ENV>]; else (local) the ADMIN_TOKEN= line of ./.dev.vars, which `cargo xtask dev`
  writes. With --url and no --env, only $CODE24_API_TOKEN is read.
  Behind Cloudflare Access, set $CODE24_ACCESS_CLIENT_ID and $CODE24_ACCESS_CLIENT_SECRET (an
  Access service token) so Access lets the requests through; the API still checks the token.
  The config file is $CODE24_OPS_CONFIG, else ~/.config/code24/ops.toml:

    [env.local]
    url = \"http://127.0.0.1:8787\"
    token_env = \"CODE24_LOCAL_TOKEN\"

    [env.staging]
    url = \"https://dispatcher.staging.example\"
    token_env = \"CODE24_STAGING_TOKEN\"

Examples:
  code24-ops dlq list --customer acme-bakery
  code24-ops dlq show local.optimize.20261129T011500Z.acme-bakery
  code24-ops dlq replay --sweep local.optimize.20261129T011500Z --dry-run
  code24-ops dlq purge --id ID --reason \"poison body, ticket 42\"
  code24-ops audit list --action dead_letters.purge
  code24-ops --env staging sweeps list --limit 10 --json";

#[derive(Debug, Parser)]
#[command(
    name = "code24-ops",
    version,
    about = "Operate the Code24 scheduled-work pipeline: dead letters, sweeps and sites, over the dispatcher's admin API.",
    after_help = "Exit codes: 0 ok, 1 API error or skipped entries, 2 usage, 3 authentication, 4 not found, 5 unreachable \
                  (details: --help).",
    after_long_help = EXIT_CODES
)]
struct Cli {
    /// Which deployment to talk to (default: local)
    #[arg(long, global = true, value_enum, value_name = "ENV", help_heading = "Global options")]
    env: Option<EnvName>,
    /// The dispatcher's base URL (overrides the environment's URL)
    #[arg(long, global = true, value_name = "URL", value_parser = base_url, help_heading = "Global options")]
    url: Option<String>,
    /// Print the API's JSON (for scripts) instead of tables
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dead letters: list, show, replay, purge
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Sweeps and their progress: list, show
    #[command(subcommand)]
    Sweeps(SweepsCommand),
    /// The site registry: list, add, deactivate
    #[command(subcommand)]
    Sites(SitesCommand),
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The elite circuit breakers: each role's state and the recent transitions
    Breakers,
}

/// The deployments, as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EnvName {
    Local,
    Dev,
    Staging,
    Production,
}

impl EnvName {
    fn environment(self) -> Environment {
        match self {
            Self::Local => Environment::Local,
            Self::Dev => Environment::Dev,
            Self::Staging => Environment::Staging,
            Self::Production => Environment::Production,
        }
    }
}

fn base_url(raw: &str) -> Result<String, String> {
    SiteUrl::parse(raw).map(|u| u.as_str().trim_end_matches('/').to_owned())
}

fn main() -> ExitCode {
    // clap exits 2 on a usage error and 0 for --help and --version.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(e.exit.code())
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let selector = config::Selector { url: cli.url, env: cli.env.map(EnvName::environment) };
    let ctx = Ctx::new(cli.json, Box::new(move || resolve_from_process(&selector)));
    match cli.command {
        Command::Dlq(c) => commands::dlq::run(&ctx, c),
        Command::Sweeps(c) => commands::sweeps::run(&ctx, c),
        Command::Sites(c) => commands::sites::run(&ctx, c),
        Command::Audit(c) => commands::audit::run(&ctx, c),
        Command::Breakers => commands::breakers::run(&ctx),
    }
}

/// Gathers the resolution's inputs from this process: its variables, the config file, and
/// `./.dev.vars`.
fn resolve_from_process(selector: &config::Selector) -> Result<config::Target, CliError> {
    let var = |name: &str| std::env::var(name).ok();
    let names_env = selector.env.is_some() || selector.url.is_none();
    let config = match config::config_path(&var) {
        Some((path, explicit)) if names_env => match std::fs::read_to_string(&path) {
            Ok(text) => Some((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(e) => {
                return Err(CliError::usage(
                    format!("cannot read the config file {}: {e}", path.display()),
                    format!("create it, or unset ${}", config::CONFIG_VAR),
                ))
            }
        },
        _ => None,
    };
    let dev_vars = std::fs::read_to_string(config::DEV_VARS).ok().map(|text| (config::DEV_VARS.into(), text));
    let target = config::resolve(selector, &config::Sources { var: &var, config, dev_vars })?;
    if target.url.starts_with("http://") && !target.is_loopback() {
        eprintln!("warning: sending the admin token to {} over plain http; use https", target.url);
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("code24-ops").chain(args.iter().copied()))
    }

    fn refused(args: &[&str], fragment: &str) {
        let e = parse(args).expect_err("should be refused");
        assert_eq!(e.exit_code(), 2, "{args:?}: usage errors exit 2");
        assert!(e.to_string().contains(fragment), "{args:?}: {e}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn invalid_values_are_refused_before_anything_runs() {
        refused(&["dlq", "list", "--customer-id", "../x"], "customer id contains '.'");
        refused(&["dlq", "list", "--sweep", "nope"], "is not a sweep id");
        refused(&["dlq", "list", "--status", "gone"], "dead, replayed or purged");
        refused(&["dlq", "list", "--error-class", "fatal"], "transient or permanent");
        refused(&["dlq", "list", "--from", "yesterday"], "is not a time");
        refused(&["dlq", "list", "--all", "--cursor", "1.x"], "cannot be used with");
        refused(&["dlq", "show", "a b"], "not a dead-letter id");
        refused(&["dlq", "replay", "--id", "x.y", "--customer", "acme"], "cannot be used with");
        refused(&["sweeps", "show", "local.optimize"], "is not a sweep id");
        refused(&["sites", "add", "new-shop", "ftp://x", "--plan", "starter"], "must start with http");
        refused(&["sites", "add", "new-shop", "https://x.example", "--plan", "gold"], "possible values: starter, growth, enterprise");
        refused(&["sites", "add", "new-shop", "https://x.example"], "--plan");
        refused(&["sites", "deactivate", "a/b"], "customer id contains '/'");
        refused(&["--env", "prod", "sweeps", "list"], "possible values: local, dev, staging, production");
        refused(&["--url", "127.0.0.1:8787", "sweeps", "list"], "must start with http");
    }

    #[test]
    fn global_flags_go_anywhere_and_urls_lose_their_trailing_slash() {
        let cli = parse(&["sweeps", "list", "--json", "--url", "http://127.0.0.1:4000/"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.url.as_deref(), Some("http://127.0.0.1:4000"));
        let cli =
            parse(&["sites", "add", "new-shop", "https://new.example", "--plan", "growth", "--url", "http://127.0.0.1:4000"]).unwrap();
        assert_eq!(cli.url.as_deref(), Some("http://127.0.0.1:4000"), "the site's URL is not the API's");
        let Command::Sites(SitesCommand::Add { url, .. }) = cli.command else { panic!("parsed as {:?}", cli.command) };
        assert_eq!(url.as_str(), "https://new.example");
        let cli = parse(&["--env", "staging", "dlq", "replay", "--sweep", "local.optimize.20261129T011500Z", "--rate", "5", "-y"]).unwrap();
        assert_eq!(cli.env, Some(EnvName::Staging));
    }

    #[test]
    fn help_documents_the_exit_codes() {
        let e = parse(&["--help"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DisplayHelp);
        assert_eq!(e.exit_code(), 0);
        let help = e.to_string();
        for line in ["0  success", "3  authentication", "4  not found", "5  cannot reach the API", "CODE24_API_TOKEN", "ops.toml"] {
            assert!(help.contains(line), "--help lacks {line:?}");
        }
    }
}
