//! End to end on local workerd: the dispatcher refuses to serve with a weak secret. The test
//! starts a second, throwaway `wrangler dev` of the dispatcher's built bundle (the one the
//! stack runs) whose `.dev.vars` sets `ADMIN_TOKEN=dev-token`, and expects 503 with the reason
//! on every path, the API and the dashboard alike. (The stack itself runs with a strong local
//! token; its own tests prove the same bundle serves then.)

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use code24_tests::{wait_until, Stack};
use ureq::http::Method;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The throwaway `wrangler dev`, stopped (its whole process group) when dropped.
struct Probe {
    child: Child,
    dir: PathBuf,
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(weak_token: &str) -> (Probe, Stack) {
    use std::os::unix::process::CommandExt;
    let root = repo();
    let bundle = root.join("producer/build/index.js");
    assert!(bundle.exists(), "{} is built by `cargo xtask test` before the e2e tier", bundle.display());
    let dir = std::env::temp_dir().join(format!("code24-weak-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "name = \"code24-weak-secret-probe\"\nmain = {:?}\ncompatibility_date = \"2026-04-01\"\n\n[vars]\nENVIRONMENT = \"local\"\n",
        bundle.display().to_string()
    );
    std::fs::write(dir.join("wrangler.toml"), config).unwrap();
    std::fs::write(dir.join(".dev.vars"), format!("ADMIN_TOKEN={weak_token}\n")).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("wrangler.log")).unwrap();
    let child = Command::new(root.join("node_modules/.bin/wrangler"))
        .current_dir(&dir)
        .env("WRANGLER_SEND_METRICS", "false")
        .args(["dev", "-c", "wrangler.toml", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string(), "--persist-to", "state", "--show-interactive-dev-session=false"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("wrangler starts");
    (Probe { child, dir }, Stack::new(&format!("http://127.0.0.1:{port}"), weak_token))
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test` (its built bundle and wrangler)"]
fn a_weak_admin_token_makes_the_dispatcher_refuse_to_serve() {
    let (probe, weak) = start("dev-token");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
    wait_until("the probe dispatcher answers", Duration::from_secs(90), || {
        agent.get(&weak.url("/health")).call().map(drop).map_err(|e| format!("{e}; log: {}", probe.dir.join("wrangler.log").display()))
    });
    for (method, path, authorized) in
        [(Method::GET, "/health", false), (Method::GET, "/api/sweeps", true), (Method::GET, "/", false), (Method::POST, "/login", false)]
    {
        let reply = weak.send(method.clone(), path, None, authorized);
        assert_eq!(reply.status, 503, "{method} {path}: {}", reply.body);
        assert!(
            reply.body.contains("refuses to serve") && reply.body.contains("ADMIN_TOKEN is weak") && !reply.body.contains("dev-token"),
            "{method} {path}: {}",
            reply.body
        );
    }
    // wrangler writes the Worker's console output shortly after the answer.
    wait_until("the refusal is logged", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(probe.dir.join("wrangler.log")).unwrap_or_default();
        if log.contains("\"event\":\"weak_secret\"") && log.contains("\"secret\":\"ADMIN_TOKEN\"") && !log.contains("dev-token") {
            Ok(())
        } else {
            Err(log)
        }
    });
}
