//! `cargo xtask canary --env X [--url URL] [--log FILE]`, and the end of every live `cargo
//! xtask deploy`: a smoke check of a running environment through its admin API.
//!
//! 1. `GET /health`.
//! 2. Register the canary sites (`code24_shared::canary`: reserved ids, *inactive*, so no
//!    sweep, report or health check sees them); re-registering is harmless.
//! 3. `POST /api/canary`: one optimization run over the canary sites only.
//! 4. Follow the run (`GET /api/sweeps/{id}`) until it completes or [`WAIT`] passes.
//! 5. Read each site's result back (`GET /api/results/{key}`): written by this run?
//! 6. The invocations' per-invocation figures from the logs, where a log is available: the
//!    local stack's wrangler log (`--log`), or `wrangler tail` of the optimizer while a
//!    deployed canary runs. They are printed; an overrun the counting meter logged fails the
//!    canary.
//! 7. The verdict (`code24_shared::canary::verdict`): every check passed (and no invocation
//!    logged a limit overrun while it ran), or what failed.
//!
//! The token comes from `CODE24_API_TOKEN` (as for `code24-ops`), never from the command line;
//! locally it falls back to the `ADMIN_TOKEN` of `.dev.vars`.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use code24_shared::canary::{self, Observed, Started};
use code24_shared::ledger::RunProgress;
use code24_shared::names::{self, Environment};
use code24_shared::optimization::OptimizationResult;
use serde::de::DeserializeOwned;

use crate::setup::Tools;
use crate::Result;

/// How long the canary waits for its run to complete: a few elite calls and their retries.
pub(crate) const WAIT: Duration = Duration::from_secs(180);
/// The variable holding the admin token (the same one `code24-ops` reads).
pub(crate) const TOKEN_VAR: &str = "CODE24_API_TOKEN";
/// The variable holding the dispatcher's URL, when `--url` is not given.
pub(crate) const URL_VAR: &str = "CODE24_API_URL";
/// The figures the counting meter logs per invocation, by their limits' keys.
const FIGURE_KEYS: [&str; 2] = ["subrequests", "service_binding_calls"];
/// The event the Workers' counting meter logs when an invocation overruns a limit (the
/// runtime's `meter::OVERRUN_EVENT`): any such line during the canary fails it.
const OVERRUN_EVENT: &str = "limit_overrun";

/// Where the canary runs and how it reads figures.
pub(crate) struct Target {
    pub(crate) env: Environment,
    /// The dispatcher's base URL, without a trailing slash.
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) logs: Logs,
}

/// Where the invocations' figures may be read.
pub(crate) enum Logs {
    /// A log file the Workers write to (the local stack's wrangler log).
    File(PathBuf),
    /// `wrangler tail` of the deployed optimizer, for the duration of the canary.
    Tail(PathBuf),
    /// None available.
    None,
}

/// Resolves `--url` and the token for `env`: the flag, then [`URL_VAR`]; locally the default
/// port of `cargo xtask dev` and the token of `.dev.vars`.
pub(crate) fn target(root: &Path, env: Environment, url: Option<String>, log: Option<PathBuf>) -> Result<Target> {
    let local = env == Environment::Local;
    let url =
        url.or_else(|| std::env::var(URL_VAR).ok()).or_else(|| local.then(|| format!("http://127.0.0.1:{}", crate::dev::DEFAULT_PORT)));
    let url = url.ok_or_else(|| format!("the canary needs the dispatcher's URL of {}: pass --url or set {URL_VAR}", env.as_str()))?;
    let token = match std::env::var(TOKEN_VAR) {
        Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
        _ if local => crate::dev_vars::ensure(root)?,
        _ => return Err(format!("the canary needs the admin token of {}: set {TOKEN_VAR}", env.as_str())),
    };
    let logs = match log {
        Some(file) => Logs::File(file),
        None if local => Logs::None,
        None => Logs::Tail(Tools::at(root).wrangler),
    };
    Ok(Target { env, url: url.trim_end_matches('/').to_owned(), token, logs })
}

/// Runs the canary against `target`; `Err` unless the verdict passes.
pub(crate) fn run(root: &Path, target: &Target) -> Result<()> {
    let api = Api::new(&target.url, &target.token);
    println!("canary: {} at {}", target.env.as_str(), target.url);
    let mut figures = Figures::start(root, target)?;
    let mut observed = Observed { health: Some(api.health()), ..Observed::default() };
    let outcome = (|| -> Result<String> {
        for site in canary::site_ids() {
            api.expect(201, api.post("/api/sites", &canary::registration(&site).to_string()), &format!("registering {site}"))?;
        }
        println!("canary: {} canary sites registered (inactive)", canary::SITES);
        let started: Started = api.json(api.expect(202, api.post("/api/canary", ""), "starting the canary run")?)?;
        println!("canary: run {} started, {} jobs sent", started.run_id, started.sent);
        let begun = Instant::now();
        loop {
            let progress: RunProgress =
                api.json(api.expect(200, api.get(&format!("/api/sweeps/{}", started.run_id)), "reading the run")?)?;
            let complete = progress.complete;
            observed.progress = Some(progress);
            if complete {
                break;
            }
            if begun.elapsed() > WAIT {
                observed.timed_out = true;
                break;
            }
            thread::sleep(Duration::from_millis(500));
        }
        println!("canary: run followed for {:.1} s", begun.elapsed().as_secs_f64());
        for (customer, key) in &started.results {
            let read = api.expect(200, api.get(&format!("/api/results/{key}")), &format!("reading {key}"));
            observed.results.push((customer.clone(), read.and_then(|body| api.json::<OptimizationResult>(body))));
        }
        Ok(started.run_id)
    })();
    let lines = figures.finish();
    observed.overruns = lines.as_ref().ok().map(|l| l.iter().filter(|l| l.contains(OVERRUN_EVENT)).cloned().collect());
    let run_id = match outcome {
        Ok(run_id) => run_id,
        Err(e) => {
            println!("canary: FAILED before its run could be judged: {e}");
            return Err(format!("canary of {} failed: {e}", target.env.as_str()));
        }
    };
    print_figures(&lines);
    let verdict = canary::verdict(&run_id, &observed);
    for line in &verdict.findings {
        println!("  - {line}");
    }
    if verdict.pass {
        println!("canary: PASS ({} at {})", target.env.as_str(), target.url);
        Ok(())
    } else {
        Err(format!("canary of {} FAILED: {}", target.env.as_str(), verdict.findings[0]))
    }
}

fn print_figures(figures: &std::result::Result<Vec<String>, String>) {
    match figures {
        Ok(lines) if lines.is_empty() => {
            println!("canary: per-invocation figures: none in the log (no invocation logged {})", FIGURE_KEYS.join(" or "))
        }
        Ok(lines) => {
            println!("canary: per-invocation figures from the log ({} lines):", lines.len());
            for line in lines.iter().take(20) {
                println!("    {line}");
            }
        }
        Err(why) => println!("canary: per-invocation figures: not available ({why})"),
    }
}

/// The admin API over HTTP(S).
struct Api {
    agent: ureq::Agent,
    url: String,
    bearer: String,
}

/// A status and a body, or why no answer came.
type Answer = Result<(u16, String)>;

impl Api {
    fn new(url: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().into();
        Self { agent, url: url.to_owned(), bearer: format!("Bearer {token}") }
    }

    fn health(&self) -> std::result::Result<(), String> {
        let answer = self.agent.get(&format!("{}/health", self.url)).call();
        match answer {
            Ok(r) if r.status().as_u16() == 200 => Ok(()),
            Ok(r) => Err(format!("/health answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("/health: {e}")),
        }
    }

    fn get(&self, path: &str) -> Answer {
        let url = format!("{}{path}", self.url);
        let response = self.agent.get(&url).header("authorization", &self.bearer).call().map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().read_to_string().unwrap_or_default()))
    }

    fn post(&self, path: &str, body: &str) -> Answer {
        let url = format!("{}{path}", self.url);
        let request = self.agent.post(&url).header("authorization", &self.bearer).header("content-type", "application/json");
        let response = request.send(body).map_err(|e| format!("POST {path}: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().read_to_string().unwrap_or_default()))
    }

    /// The body of an answer with status `want`; otherwise what came back, naming `what`.
    fn expect(&self, want: u16, answer: Answer, what: &str) -> Result<String> {
        match answer? {
            (status, body) if status == want => Ok(body),
            (401, _) => Err(format!("{what}: HTTP 401: the token was refused (is {TOKEN_VAR} this environment's ADMIN_TOKEN?)")),
            (503, _) => Err(format!("{what}: HTTP 503: the admin API is disabled until ADMIN_TOKEN is set (docs/DEPLOY.md)")),
            (status, body) => Err(format!("{what}: HTTP {status}: {}", body.chars().take(300).collect::<String>())),
        }
    }

    fn json<T: DeserializeOwned>(&self, body: String) -> Result<T> {
        serde_json::from_str(&body).map_err(|e| format!("unexpected answer ({e}): {}", body.chars().take(300).collect::<String>()))
    }
}

/// Collecting the figure lines the Workers log while the canary runs.
enum Figures {
    /// A log file and where it ended when the canary started.
    File {
        path: PathBuf,
        from: u64,
    },
    /// `wrangler tail` writing into `path`.
    Tail {
        child: Child,
        path: PathBuf,
    },
    None,
}

impl Figures {
    fn start(root: &Path, target: &Target) -> Result<Self> {
        Ok(match &target.logs {
            Logs::File(path) => Self::File { path: path.clone(), from: fs::metadata(path).map(|m| m.len()).unwrap_or(0) },
            Logs::Tail(wrangler) => {
                let path = root.join(format!("target/canary-tail-{}.jsonl", target.env.as_str()));
                let out = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let worker = names::in_env(names::OPTIMIZER_WORKER, target.env);
                let child = Command::new(wrangler)
                    .current_dir(root)
                    .args(["tail", &worker, "--format", "json"])
                    .env("WRANGLER_SEND_METRICS", "false")
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(Stdio::null())
                    .spawn();
                match child {
                    Ok(child) => {
                        // `wrangler tail` needs a moment to attach before the run starts.
                        thread::sleep(Duration::from_secs(3));
                        Self::Tail { child, path }
                    }
                    Err(_) => Self::None,
                }
            }
            Logs::None => Self::None,
        })
    }

    /// The lines carrying figures, or why there are none to read.
    fn finish(&mut self) -> std::result::Result<Vec<String>, String> {
        let text = match self {
            Self::File { path, from } => {
                let mut file = File::open(&*path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                file.seek(SeekFrom::Start(*from)).map_err(|e| e.to_string())?;
                let mut text = String::new();
                file.read_to_string(&mut text).map_err(|e| e.to_string())?;
                text
            }
            Self::Tail { child, path } => {
                // Our own child: stopped by its id.
                let _ = child.kill();
                let _ = child.wait();
                fs::read_to_string(&*path).map_err(|e| format!("cannot read {}: {e}", path.display()))?
            }
            Self::None => return Err("no log source: pass --log FILE (the stack's wrangler log) to read them".into()),
        };
        Ok(figure_lines(&text))
    }
}

/// The lines of `text` that carry a per-invocation figure or an overrun.
fn figure_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.contains(OVERRUN_EVENT) || FIGURE_KEYS.iter().any(|k| l.contains(k))).map(|l| l.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_lines_are_the_ones_naming_a_figure() {
        let log = "start\n{\"subrequests\":12,\"service_binding_calls\":24}\nnoise\n  x service_binding_calls=3\n";
        assert_eq!(figure_lines(log), ["{\"subrequests\":12,\"service_binding_calls\":24}", "x service_binding_calls=3"]);
        for key in FIGURE_KEYS {
            assert!(code24_shared::limits::find(key).is_some(), "{key} is a limit's key");
        }
    }

    #[test]
    fn a_deployed_canary_needs_a_url_and_a_token() {
        // Only when the process has neither variable set (CI may set them).
        if std::env::var(URL_VAR).is_err() {
            let err = target(&crate::workspace_root(), Environment::Staging, None, None).err().unwrap();
            assert!(err.contains("--url") && err.contains(URL_VAR), "{err}");
        }
    }
}
