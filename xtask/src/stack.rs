//! The local stack: one `wrangler dev` session running every Worker of [`WORKERS`] on local
//! workerd, plus the database preparation before it. `dev` and the end-to-end tier of `test`
//! both launch it through here, so they run exactly the same configuration.
//!
//! Wrangler runs in its own process group: stopping the stack signals the whole group, which
//! also reaches workerd and anything else wrangler spawned. Its stdin is closed, because a
//! background process group reading a terminal would be stopped by SIGTTIN. All of its output
//! is appended to a log file (the tail is printed when something fails) and optionally echoed.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::interrupt::Interrupt;
use crate::setup::Tools;
use crate::workers::WORKERS;
use crate::{cmd, Result};

/// The D1 binding the migrations apply to, as in the top-level wrangler.toml.
const DB_BINDING: &str = code24_shared::names::binding::DB;
/// How long workerd may take to answer after wrangler started (cold starts load every wasm).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long [`Stack::watch_sweep`] follows one sweep.
const WATCH_TIMEOUT: Duration = Duration::from_secs(180);
/// How long wrangler gets to shut down after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How to launch the stack.
#[derive(Debug)]
pub(crate) struct Options {
    /// Where wrangler persists D1, R2, queues and Durable Objects; absolute.
    pub(crate) persist_dir: PathBuf,
    /// The entry Worker's (dispatcher's) port on 127.0.0.1.
    pub(crate) port: u16,
    /// The inspector port; `None` keeps wrangler's default (9229, for attaching a debugger).
    pub(crate) inspector_port: Option<u16>,
    /// The file wrangler's stdout and stderr are written to, replaced on each launch.
    pub(crate) log_path: PathBuf,
    /// Whether to echo wrangler's output to the terminal, each line prefixed `[wrangler]`.
    pub(crate) echo: bool,
}

/// A wrangler command from the pinned npm package, run from the workspace root.
fn wrangler(root: &Path, tools: &Tools) -> Command {
    let mut command = Command::new(&tools.wrangler);
    command.current_dir(root).env("WRANGLER_SEND_METRICS", "false").stdin(Stdio::null());
    command
}

/// Applies the D1 migrations of the top-level config to the local database in `persist_dir`.
pub(crate) fn apply_migrations(root: &Path, tools: &Tools, persist_dir: &Path) -> Result<()> {
    let mut command = wrangler(root, tools);
    command.args(["d1", "migrations", "apply", DB_BINDING, "--local", "-c", WORKERS[0].config, "--persist-to"]).arg(persist_dir);
    cmd::run(&mut command, "applying the D1 migrations")
}

/// Executes an SQL file against the local database (it must be idempotent: `dev` runs it on
/// every start).
pub(crate) fn execute_sql(root: &Path, tools: &Tools, persist_dir: &Path, file: &Path) -> Result<()> {
    let mut command = wrangler(root, tools);
    command
        .args(["d1", "execute", DB_BINDING, "--local", "-c", WORKERS[0].config, "--persist-to"])
        .arg(persist_dir)
        .arg("--file")
        .arg(file);
    cmd::run(&mut command, &format!("executing {}", cmd::rel(root, file)))
}

/// A port that was free a moment ago (the race with other processes is accepted).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A running `wrangler dev` session. Dropping it stops wrangler's whole process group.
pub(crate) struct Stack {
    /// wrangler itself, the leader of its own process group.
    child: Child,
    /// `http://127.0.0.1:<port>`, the entry Worker.
    base_url: String,
    /// Where wrangler's output (the Workers' logs) goes; the canary reads figures from it.
    pub(crate) log_path: PathBuf,
    /// Long timeout: a scheduled handler may run for a while before it answers.
    agent: ureq::Agent,
    stopped: bool,
}

/// Where wrangler keeps its dev registry (the running `wrangler dev` sessions and their Workers).
const DEV_REGISTRY_VAR: &str = "WRANGLER_REGISTRY_PATH";

impl Stack {
    /// Starts `wrangler dev` with every Worker config; returns once the process runs (see
    /// [`Stack::wait_ready`]).
    pub(crate) fn start(root: &Path, tools: &Tools, options: &Options) -> Result<Self> {
        let configs: Vec<&str> = WORKERS.iter().map(|w| w.config).collect();
        Self::start_with_configs(root, tools, options, &configs)
    }

    /// Like [`Stack::start`], with another set of Worker configs (relative to the root; the
    /// first is the entry Worker). The bench runs its own stacks this way.
    pub(crate) fn start_with_configs(root: &Path, tools: &Tools, options: &Options, configs: &[&str]) -> Result<Self> {
        let mut command = wrangler(root, tools);
        command.arg("dev");
        for config in configs {
            command.args(["-c", config]);
        }
        command
            .arg("--persist-to")
            .arg(&options.persist_dir)
            .args(["--ip", "127.0.0.1", "--port", &options.port.to_string()])
            .arg("--show-interactive-dev-session=false");
        if let Some(port) = options.inspector_port {
            command.args(["--inspector-port", &port.to_string()]);
        }
        // Every stack has its own dev registry (by default one per user, where every running
        // `wrangler dev` announces its Workers by name): all of a stack's Workers run in this one
        // process, and a binding this stack leaves unbound (the bench's stacks have no stand-in)
        // must stay unbound, never reach a Worker of the same name in another engineer's stack.
        command.env(DEV_REGISTRY_VAR, options.persist_dir.join("dev-registry"));
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);

        if let Some(dir) = options.log_path.parent() {
            fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let log = File::create(&options.log_path).map_err(|e| format!("cannot create {}: {e}", options.log_path.display()))?;
        println!("stack: $ {}", cmd::display(&command));
        println!("stack: wrangler output -> {}", cmd::rel(root, &options.log_path));
        let mut child = command.spawn().map_err(|e| format!("cannot start wrangler: {e}"))?;

        let log = Arc::new(Mutex::new(log));
        if let Some(out) = child.stdout.take() {
            forward(out, Arc::clone(&log), options.echo);
        }
        if let Some(err) = child.stderr.take() {
            forward(err, Arc::clone(&log), options.echo);
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Self {
            child,
            base_url: format!("http://127.0.0.1:{}", options.port),
            log_path: options.log_path.clone(),
            agent,
            stopped: false,
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Polls the entry Worker until it answers any HTTP response. Fails when wrangler exits,
    /// the user interrupts, or [`READY_TIMEOUT`] passes.
    pub(crate) fn wait_ready(&mut self, interrupt: &Interrupt) -> Result<Duration> {
        let probe: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let started = Instant::now();
        loop {
            if probe.get(&self.base_url).call().is_ok() {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.exited() {
                return Err(format!("wrangler exited before answering ({status})"));
            }
            if interrupt.requested() {
                return Err("interrupted".into());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!("{} did not answer within {}", self.base_url, cmd::duration(READY_TIMEOUT)));
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Fires `cron` as if Cloudflare scheduled it at `time_ms` (epoch milliseconds); returns
    /// the HTTP status and body of the scheduled-handler endpoint.
    pub(crate) fn fire_cron(&self, cron: &str, time_ms: i64) -> Result<(u16, String)> {
        let url = format!("{}/cdn-cgi/handler/scheduled?cron={}&time={time_ms}", self.base_url, percent_encode(cron));
        let response = self.agent.get(&url).call().map_err(|e| format!("GET {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response.into_body().read_to_string().unwrap_or_default();
        Ok((status, body))
    }

    /// Prints the progress of the sweep of `task` scheduled at `time_ms` from a background
    /// thread: a line whenever it changes, until it is complete or [`WATCH_TIMEOUT`] passes.
    pub(crate) fn watch_sweep(&self, task: &str, time_ms: i64, token: &str) {
        let (agent, base, task, auth) = (self.agent.clone(), self.base_url.clone(), task.to_owned(), format!("Bearer {token}"));
        thread::spawn(move || {
            let started = Instant::now();
            let mut last = String::new();
            while started.elapsed() < WATCH_TIMEOUT {
                let sweeps: Option<serde_json::Value> = agent
                    .get(format!("{base}/api/sweeps?limit=20"))
                    .header("authorization", &auth)
                    .call()
                    .ok()
                    .and_then(|r| r.into_body().read_to_string().ok())
                    .and_then(|text| serde_json::from_str(&text).ok());
                let sweep = sweeps
                    .as_ref()
                    .and_then(|s| s.as_array())
                    .and_then(|all| all.iter().find(|s| s["task"] == task.as_str() && s["scheduled_ms"] == time_ms).cloned());
                if let Some(s) = sweep {
                    let n = |k: &str| s[k].as_u64().unwrap_or(0);
                    let line = format!(
                        "[sweep] {}: {}/{} succeeded, {} retrying, {} dead, {} superseded, {} duplicates{}",
                        s["sweep_id"].as_str().unwrap_or("?"),
                        n("succeeded"),
                        n("expected"),
                        n("retrying"),
                        n("dead"),
                        n("superseded"),
                        n("duplicates"),
                        match (s["complete"].as_bool(), s["finished_ms"].as_i64(), s["started_ms"].as_i64()) {
                            (Some(true), Some(end), Some(start)) => format!(" - complete in {} ms", end - start),
                            _ => String::new(),
                        }
                    );
                    if line != last {
                        println!("{line}");
                        last = line;
                    }
                    if s["complete"] == true {
                        return;
                    }
                }
                thread::sleep(Duration::from_millis(500));
            }
            println!("[sweep] {task} at {time_ms}: not complete after {}s; see /api/sweeps", WATCH_TIMEOUT.as_secs());
        });
    }

    /// wrangler's exit status, once it has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of wrangler's log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops wrangler's process group: SIGTERM, then SIGKILL after [`STOP_GRACE`]. The group
    /// is always killed at the end, because workerd can outlive the wrangler process.
    pub(crate) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let group = format!("-{}", self.child.id());
        signal_group("TERM", &group);
        let deadline = Instant::now() + STOP_GRACE;
        while self.exited().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        signal_group("KILL", &group);
        let _ = self.child.wait();
        println!("stack: stopped");
    }
}

impl Stack {
    /// Kills wrangler's process group at once, as a crash would: nothing shuts down cleanly.
    pub(crate) fn kill(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        signal_group("KILL", &format!("-{}", self.child.id()));
        let _ = self.child.wait();
        println!("stack: killed");
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill -SIGNAL -- -PGID`, through the `kill` utility because this workspace forbids unsafe
/// code (and with it a direct `libc::kill`). "No such process" is the expected outcome when
/// the group has already gone, so errors are not reported.
fn signal_group(signal: &str, group: &str) {
    let _ = Command::new("kill").args([&format!("-{signal}"), "--", group]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Copies one of wrangler's output streams into the log, and to the terminal when `echo`.
/// wrangler colours some messages even into a pipe; the log gets them without colour codes.
fn forward(stream: impl Read + Send + 'static, log: Arc<Mutex<File>>, echo: bool) {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if let Ok(mut file) = log.lock() {
                let _ = writeln!(file, "{}", strip_ansi(text));
            }
            if echo {
                println!("[wrangler] {text}");
            }
            line.clear();
        }
    });
}

/// `text` without ANSI CSI sequences (`ESC [ ... final-byte`), e.g. colours.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameter and intermediate bytes, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) use code24_shared::url::percent_encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_codes_are_stripped_from_the_log() {
        let line = "\u{1b}[33m▲ \u{1b}[43;33m[\u{1b}[43;30mWARNING\u{1b}[43;33m]\u{1b}[0m \u{1b}[1mScheduled\u{1b}[0m";
        assert_eq!(strip_ansi(line), "▲ [WARNING] Scheduled");
        assert_eq!(strip_ansi("plain [wrangler:info] Ready"), "plain [wrangler:info] Ready");
    }
}
