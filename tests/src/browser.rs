//! A small W3C WebDriver client for the dashboard's browser test: starts Debian's
//! `chromedriver` on a free port (stopped on drop), opens one headless Chromium session and
//! drives it with the handful of commands the test needs (navigate, find, type, click, read,
//! cookies, screenshots). Plain blocking HTTP over the same `ureq` the rest of the harness
//! uses, so the test needs no async runtime.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::wait_until;

/// Debian's packages, installed by `cargo xtask setup`.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

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
        let agent = agent();
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

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).proxy(None).timeout_global(Some(Duration::from_secs(120))).build().into()
}

/// One headless Chromium session; closed on drop.
#[derive(Debug)]
pub struct Browser {
    session: String,
    agent: ureq::Agent,
}

/// An element found on the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Opens a session with a laptop-sized window.
    pub fn open(driver: &Driver) -> Self {
        let agent = agent();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"]
        }}}});
        let mut reply = agent.post(&format!("{}/session", driver.url)).send_json(&caps).expect("chromedriver answers");
        let v: Value = reply.body_mut().read_json().expect("a JSON answer");
        let session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_owned();
        Self { session: format!("{}/session/{session}", driver.url), agent }
    }

    /// One command; panics with the driver's error.
    #[track_caller]
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let reply = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut reply = reply.unwrap_or_else(|e| panic!("{method} {path}: chromedriver did not answer: {e}"));
        let status = reply.status().as_u16();
        let v: Value = reply.body_mut().read_json().unwrap_or(Value::Null);
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    /// Navigates and waits for the page to load.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<Element> {
        let url = format!("{}/element", self.session);
        let mut reply = self.agent.post(&url).send_json(json!({"using": "css selector", "value": css})).ok()?;
        if reply.status().as_u16() != 200 {
            return None;
        }
        let v: Value = reply.body_mut().read_json().ok()?;
        v["value"][ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// The first element matching `css`; panics with the page's text when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        self.try_find(css).unwrap_or_else(|| panic!("no element {css:?} on {}: {}", self.current_url(), self.text("body")))
    }

    /// Types `text` into the element.
    #[track_caller]
    pub fn type_into(&self, element: &Element, text: &str) {
        self.command("POST", &format!("/element/{}/value", element.0), Some(json!({ "text": text })));
    }

    #[track_caller]
    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None);
    }

    /// The rendered text of the first element matching `css` (empty when none).
    /// A live section may be swapped in between the find and the read (a stale element):
    /// the read is retried on a fresh find.
    pub fn text(&self, css: &str) -> String {
        for _ in 0..5 {
            let Some(e) = self.try_find(css) else { return String::new() };
            let url = format!("{}/element/{}/text", self.session, e.0);
            if let Ok(mut reply) = self.agent.get(&url).call() {
                if reply.status().as_u16() == 200 {
                    let v: Value = reply.body_mut().read_json().unwrap_or(Value::Null);
                    return v["value"].as_str().unwrap_or_default().to_owned();
                }
            }
        }
        panic!("cannot read the text of {css:?}: the element keeps going stale");
    }

    /// An attribute of the first element matching `css` (`None` when absent).
    #[track_caller]
    pub fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let e = self.find(css);
        self.command("GET", &format!("/element/{}/attribute/{name}", e.0), None).as_str().map(str::to_owned)
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
        self.command("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// A cookie's value as the browser holds it (HttpOnly cookies included).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = format!("{}/cookie/{name}", self.session);
        let mut reply = self.agent.get(&url).call().ok()?;
        let v: Value = reply.body_mut().read_json().ok()?;
        v["value"]["value"].as_str().map(str::to_owned)
    }

    /// Every cookie the browser holds for the page, as the driver reports it.
    #[track_caller]
    pub fn cookies(&self) -> Value {
        self.command("GET", "/cookie", None)
    }

    /// Resizes the window (a phone, a laptop).
    #[track_caller]
    pub fn resize(&self, width: u32, height: u32) {
        self.command("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// Saves a PNG screenshot of the viewport to `path` (creating its folder).
    #[track_caller]
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.command("GET", "/screenshot", None);
        let png = base64_decode(b64.as_str().unwrap_or_default()).expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
    }
}

/// Standard base64 (with padding) to bytes; `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let trimmed = clean.strip_suffix(b"==").or_else(|| clean.strip_suffix(b"=")).unwrap_or(&clean);
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in trimmed {
        acc = (acc << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64() {
        for (text, expected) in [
            ("", &b""[..]),
            ("TQ==", b"M"),
            ("TWE=", b"Ma"),
            ("TWFu", b"Man"),
            ("aGVsbG8gd29ybGQ=", b"hello world"),
            ("iVBO\nRw==", &[0x89, 0x50, 0x4e, 0x47]),
        ] {
            assert_eq!(base64_decode(text).as_deref(), Some(expected), "{text}");
        }
        assert_eq!(base64_decode("a*b="), None);
    }
}
