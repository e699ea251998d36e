//! End to end on local workerd: the dashboard's gate. The eleventh wrong login from one
//! client within a minute is refused with 429 (and another client is not); a session that was
//! logged out, or logged out everywhere, no longer opens a page although its cookie's signature
//! still holds.

use code24_tests::{Stack, TOKEN_VAR};
use ureq::http::{self, Method};

/// One dashboard request with the given cookie, client address and form fields (a POST when
/// `fields` is given); redirects are not followed. Returns (status, set-cookie, body).
fn dashboard(
    stack: &Stack,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    client: &str,
    fields: Option<&[(&str, &str)]>,
) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).max_redirects(0).build().into();
    let mut request = http::Request::builder().method(method).uri(stack.url(path)).header("cf-connecting-ip", client);
    if let Some(c) = cookie {
        request = request.header("cookie", format!("code24_session={c}"));
    }
    let body = fields.map_or_else(String::new, |f| {
        f.iter().map(|(k, v)| format!("{k}={}", code24_tests::percent_encode(v))).collect::<Vec<_>>().join("&")
    });
    if fields.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let mut reply = agent.run(request.body(body.into_bytes()).unwrap()).expect("the stack answers");
    let set_cookie = reply.headers().get("set-cookie").and_then(|v| v.to_str().ok()).map(str::to_owned);
    (reply.status().as_u16(), set_cookie, reply.body_mut().read_to_string().unwrap_or_default())
}

/// The session value of a `Set-Cookie` header.
fn session_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_owned()).expect("a cookie value")
}

/// A client address no other test uses, so the per-client limit is this test's alone.
fn client(tag: u8) -> String {
    format!("198.51.100.{}", (std::process::id() % 200) as u8 + tag)
}

fn login(stack: &Stack, client: &str, token: &str) -> (u16, Option<String>, String) {
    dashboard(stack, Method::POST, "/login", None, client, Some(&[("token", token), ("next", "/")]))
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn the_eleventh_wrong_login_within_a_minute_is_refused_with_429() {
    let stack = Stack::from_env();
    let token = std::env::var(TOKEN_VAR).expect("the admin token");
    let guesser = client(1);
    for attempt in 1..=10 {
        let (status, cookie, body) = login(&stack, &guesser, &format!("guess-{attempt}"));
        assert_eq!(status, 401, "attempt {attempt}: {body}");
        assert!(cookie.is_none() && body.contains("That is not the admin token"), "attempt {attempt}: {body}");
    }
    let (status, _, body) = login(&stack, &guesser, "guess-11");
    assert!(status == 429 && body.contains("Too many wrong logins"), "the eleventh: {status} {body}");
    // Limited means refused unseen: even the right token waits out the window.
    let (status, cookie, _) = login(&stack, &guesser, &token);
    assert_eq!((status, cookie), (429, None));
    // The limit is per client: another address logs in.
    let (status, cookie, body) = login(&stack, &client(2), &token);
    assert!(status == 303 && cookie.is_some(), "{status} {body}");
}

#[test]
#[ignore = "end to end: needs the local stack of `cargo xtask test`"]
fn a_revoked_session_no_longer_opens_the_dashboard() {
    let stack = Stack::from_env();
    let token = std::env::var(TOKEN_VAR).expect("the admin token");
    let me = client(3);
    let open = || {
        let (status, cookie, body) = login(&stack, &me, &token);
        assert_eq!(status, 303, "{body}");
        session_of(&cookie.expect("a session cookie"))
    };
    let csrf_of = |cookie: &str| {
        let (status, _, page) = dashboard(&stack, Method::GET, "/sites", Some(cookie), &me, None);
        assert_eq!(status, 200, "the session opens the dashboard: {page}");
        let at = page.find("name=\"csrf\" value=\"").expect("the logout form's CSRF token") + 19;
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };

    // Logout ends this session on the server, not only in the browser.
    let first = open();
    let csrf = csrf_of(&first);
    let (status, _, _) = dashboard(&stack, Method::POST, "/logout", Some(&first), &me, Some(&[("csrf", &csrf)]));
    assert_eq!(status, 303);
    let (status, _, body) = dashboard(&stack, Method::GET, "/sites", Some(&first), &me, None);
    assert!(status == 401 && body.contains("Your session was ended"), "a logged-out cookie: {status} {body}");

    // "Log out everywhere" ends every session of the same actor, here and elsewhere.
    let (here, elsewhere) = (open(), open());
    let csrf = csrf_of(&here);
    csrf_of(&elsewhere);
    let (status, _, _) = dashboard(&stack, Method::POST, "/logout-everywhere", Some(&here), &me, Some(&[("csrf", &csrf)]));
    assert_eq!(status, 303);
    for cookie in [&here, &elsewhere] {
        let (status, _, body) = dashboard(&stack, Method::GET, "/", Some(cookie), &me, None);
        assert!(status == 401 && body.contains("Your session was ended"), "{status} {body}");
    }
    // A new login works again.
    csrf_of(&open());
}
