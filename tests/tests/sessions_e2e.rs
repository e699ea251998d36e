//! End to end on local workerd: the dashboard's gate. The eleventh wrong login from one
//! client within a minute is refused with 429 (and another client is not); a session that was
//! logged out, or logged out everywhere, no longer opens a page although its cookie's signature
//! still holds.

use code24_tests::{csrf_of, session_of, Stack, TOKEN_VAR};
use ureq::http::Method;

/// One dashboard request from `client` (its `CF-Connecting-IP`).
fn dashboard(
    stack: &Stack,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    client: &str,
    fields: Option<&[(&str, &str)]>,
) -> (u16, Option<String>, String) {
    stack.dashboard(method, path, cookie, &[("cf-connecting-ip", client)], fields)
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
        csrf_of(&page)
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
