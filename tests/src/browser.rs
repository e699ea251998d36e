//! The dashboard's browser test drives headless Chromium through Debian's `chromedriver` with
//! `fantoccini`, a maintained W3C WebDriver client. This module starts chromedriver on a free
//! port (stopped on drop) and gives the test a blocking view of one browser session: the
//! harness and the test are blocking (`ureq`, [`wait_until`]), and fantoccini is async, so each
//! command runs to completion on a single-threaded tokio runtime owned by the session.

use std::future::Future;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::cookies::Cookie;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::wait_until;

/// Debian's packages, installed by `cargo xtask setup`.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Chromium's flags on this machine: headless as root without a sandbox or a GPU, `/tmp`
/// instead of a small `/dev/shm`, a laptop-sized window, and none of the background traffic
/// (updates, sync, first-run pages) that a machine without a network answers with refusals.
const CHROMIUM_ARGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1280,900",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

/// A running chromedriver; killed and reaped on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free local port and waits until it reports ready.
    ///
    /// # Panics
    /// When the binary is missing (run `cargo xtask setup`) or never becomes ready.
    pub fn start() -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: run `cargo xtask setup`"
        );
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let driver = Self { child, url: format!("http://127.0.0.1:{port}") };
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
        wait_until("chromedriver is ready", Duration::from_secs(30), || match agent.get(&format!("{}/status", driver.url)).call() {
            Ok(mut r) => {
                let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                if v["value"]["ready"] == json!(true) {
                    Ok(())
                } else {
                    Err(v.to_string())
                }
            }
            Err(e) => Err(e.to_string()),
        });
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium session; closed on drop.
#[derive(Debug)]
pub struct Browser {
    /// Runs each command to completion; also drives the client's session task, which only
    /// makes progress while a command is awaited.
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// chromedriver's address, for the one command fantoccini does not wrap (the browser log).
    driver_url: String,
}

/// An element found on the current page.
#[derive(Debug, Clone)]
pub struct Element(fantoccini::elements::Element);

impl Browser {
    /// Opens a session with [`CHROMIUM_ARGS`].
    ///
    /// # Panics
    /// When chromedriver refuses the session (e.g. Chromium cannot start).
    pub fn open(driver: &Driver) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        // The browser's console log is kept, so a test can read the page's errors.
        let options = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": CHROMIUM_ARGS},
            "goog:loggingPrefs": {"browser": "ALL"}
        });
        let Value::Object(capabilities) = options else { unreachable!("a JSON object literal") };
        // chromedriver is plain HTTP on loopback: no TLS connector.
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let client = runtime.block_on(builder.connect(&driver.url)).unwrap_or_else(|e| panic!("chromedriver refused a session: {e}"));
        Self { runtime, client, driver_url: driver.url.clone() }
    }

    /// The browser console's errors since the last call (script errors, refused resources,
    /// Content-Security-Policy violations), read from chromedriver's log endpoint.
    #[track_caller]
    pub fn console_errors(&self) -> Vec<String> {
        let session = self.run("read the session id", self.client.session_id()).expect("an open session");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
        let mut reply = agent
            .post(&format!("{}/session/{session}/se/log", self.driver_url))
            .send_json(json!({"type": "browser"}))
            .unwrap_or_else(|e| panic!("chromedriver's log: {e}"));
        let log: Value = reply.body_mut().read_json().unwrap_or(Value::Null);
        let entries = log["value"].as_array().unwrap_or_else(|| panic!("chromedriver's log is not a list: {log}"));
        entries.iter().filter(|e| e["level"] == json!("SEVERE")).map(|e| e["message"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// The number of elements matching `css`.
    pub fn count(&self, css: &str) -> usize {
        self.runtime.block_on(self.client.find_all(Locator::Css(css))).map_or(0, |v| v.len())
    }

    /// Runs one command; panics with the driver's error, naming `what`.
    #[track_caller]
    fn run<T>(&self, what: &str, command: impl Future<Output = Result<T, CmdError>>) -> T {
        self.runtime.block_on(command).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Navigates and waits for the page to load.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.run(&format!("go to {url}"), self.client.goto(url));
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        self.runtime.block_on(self.client.find(Locator::Css(css))).ok().map(Element)
    }

    /// The first element matching `css`; panics with the page's text when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css).unwrap_or_else(|| panic!("no element {css:?} on {}: {}", self.current_url(), self.text("body")))
    }

    /// Types `text` into the element.
    #[track_caller]
    pub fn type_into(&self, element: &Element, text: &str) {
        self.run("type into an element", element.0.send_keys(text));
    }

    #[track_caller]
    pub fn click(&self, element: &Element) {
        self.run("click an element", element.0.click());
    }

    /// The rendered text of the first element matching `css` (empty when none).
    /// A live section may be swapped in between the find and the read (a stale element):
    /// the read is retried on a fresh find.
    pub fn text(&self, css: &str) -> String {
        for _ in 0..5 {
            let Some(e) = self.try_find(css) else { return String::new() };
            if let Ok(text) = self.runtime.block_on(e.0.text()) {
                return text;
            }
        }
        panic!("cannot read the text of {css:?}: the element keeps going stale");
    }

    /// An attribute of the first element matching `css` (`None` when absent).
    #[track_caller]
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css);
        self.run(&format!("read the attribute {name} of {css:?}"), e.0.attr(name))
    }

    /// Waits until the text of `css` contains `fragment` and returns it: a click that submits
    /// a form may return before the next page is in place.
    #[track_caller]
    pub fn wait_for_text(&self, css: &str, fragment: &str) -> String {
        wait_until(&format!("{css:?} shows {fragment:?}"), Duration::from_secs(30), || {
            let text = self.text(css);
            if text.contains(fragment) {
                Ok(text)
            } else {
                Err(text)
            }
        })
    }

    #[track_caller]
    pub fn current_url(&self) -> String {
        self.run("read the current URL", self.client.current_url()).to_string()
    }

    /// A cookie's value as the browser holds it (HttpOnly cookies included).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.runtime.block_on(self.client.get_named_cookie(name)).ok().map(|c| c.value().to_owned())
    }

    /// Every cookie the browser holds for the page.
    #[track_caller]
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.run("read the cookies", self.client.get_all_cookies())
    }

    /// Resizes the window (a phone, a laptop).
    #[track_caller]
    pub fn resize(&self, width: u32, height: u32) {
        self.run("resize the window", self.client.set_window_size(width, height));
    }

    /// Saves a PNG screenshot of the viewport to `path` (creating its folder).
    #[track_caller]
    pub fn screenshot(&self, path: &Path) {
        let png = self.run("take a screenshot", self.client.screenshot());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the WebDriver session, so chromedriver quits this Chromium before it is killed.
        let _ = self.runtime.block_on(self.client.clone().close());
    }
}
