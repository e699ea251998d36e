//! The admin API's envelope, sans IO: its router ([`routes`]: the table of every route, which
//! the dispatcher's `producer/src/api/mod.rs` dispatches on and the end-to-end tests enumerate
//! to prove each one refuses a missing or wrong token, and the token-first decision), and the
//! request-size limits, decided from the declared `Content-Length` before a byte is read (a
//! body that declares no length is refused) and checked again on the bytes read. The page size
//! limits every list, replay and purge shares live here too ([`MAX_LIMIT`], [`DEFAULT_LIMIT`]).

/// Largest page a list returns, and most entries one replay or purge touches.
pub const MAX_LIMIT: u32 = 1_000;
/// Default page size and default replay/purge limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest accepted JSON body of an admin request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

mod routes;

pub use routes::{admit, route, standin_control_path, Endpoint, Params, Refusal, Route, ROUTES, STANDIN_PREFIX};

/// Largest body forwarded to the local stand-in: the queue injection hook must carry a body over
/// the queue's own 128 KB limit (to prove the queue refuses it), so it gets more room than the
/// admin API's [`MAX_BODY_BYTES`]; it is still bounded, and only exists where the stand-in is
/// bound (never deployed).
pub const MAX_STANDIN_BODY_BYTES: usize = 1024 * 1024;

/// Refuses a body by its declared `Content-Length` (the header's value, when present), before
/// reading it: 413 when over `max` (the admin API's is [`MAX_BODY_BYTES`]), 400 when the header
/// is not a length.
pub fn check_declared_length(content_length: Option<&str>, max: usize) -> Result<(), (u16, String)> {
    let Some(raw) = content_length else { return Ok(()) };
    match raw.trim().parse::<u64>() {
        Ok(n) if n > max as u64 => Err(too_large(&format!("declares {n} bytes"), max)),
        Ok(_) => Ok(()),
        Err(_) => Err((400, format!("content-length {:?} is not a length", truncated(raw, 40)))),
    }
}

/// How to read a request's body, decided before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyPlan {
    /// No body at all.
    Empty,
    /// A body of a declared length within the limit: HTTP framing delivers exactly that many
    /// bytes, so it can be read whole.
    Read,
}

/// Decides how to read a body of at most `max` bytes from its `Content-Length` (when present)
/// and whether the request has a body. A body without a declared length (chunked) is refused
/// (411) rather than streamed: a reader that stops mid-stream leaves the runtime with an
/// unread body, and every client of this API (curl, the ops CLI, browsers) declares lengths.
pub fn body_plan(content_length: Option<&str>, has_body: bool, max: usize) -> Result<BodyPlan, (u16, String)> {
    check_declared_length(content_length, max)?;
    match (content_length, has_body) {
        (Some(_), _) => Ok(BodyPlan::Read),
        (None, false) => Ok(BodyPlan::Empty),
        (None, true) => Err((411, format!("send the body with a Content-Length header (at most {max} bytes)"))),
    }
}

/// Refuses a body once more than `max` bytes have been read (the reader stops there).
pub fn check_read_length(read: usize, max: usize) -> Result<(), (u16, String)> {
    if read > max {
        return Err(too_large("is longer", max));
    }
    Ok(())
}

/// A body read in full: JSON bodies must be UTF-8.
pub fn body_text(bytes: Vec<u8>) -> Result<String, (u16, String)> {
    String::from_utf8(bytes)
        .map_err(|e| (400, format!("the body is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())))
}

fn too_large(what: &str, max: usize) -> (u16, String) {
    (413, format!("the body {what}; at most {max} bytes are accepted"))
}

/// At most `max` characters of `raw`, for error messages that quote input.
pub fn truncated(raw: &str, max: usize) -> String {
    match raw.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &raw[..at]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, expected: Result<(), u16>) {
        assert_eq!(check_declared_length(header, MAX_BODY_BYTES).map_err(|(s, _)| s), expected, "{header:?}");
    }

    #[test]
    fn declared_lengths_are_checked_before_reading() {
        check(None, Ok(()));
        check(Some("0"), Ok(()));
        check(Some(&MAX_BODY_BYTES.to_string()), Ok(()));
        check(Some(&(MAX_BODY_BYTES + 1).to_string()), Err(413));
        check(Some("99999999999999999999999"), Err(400));
        check(Some("-1"), Err(400));
        check(Some("12abc"), Err(400));
        assert!(check_read_length(MAX_BODY_BYTES, MAX_BODY_BYTES).is_ok());
        assert_eq!(check_read_length(MAX_BODY_BYTES + 1, MAX_BODY_BYTES).unwrap_err().0, 413);
        assert_eq!(check_declared_length(Some("200000"), MAX_STANDIN_BODY_BYTES), Ok(()));
        assert_eq!(body_plan(None, false, MAX_BODY_BYTES), Ok(BodyPlan::Empty));
        assert_eq!(body_plan(Some("0"), false, MAX_BODY_BYTES), Ok(BodyPlan::Read));
        assert_eq!(body_plan(Some("10"), true, MAX_BODY_BYTES), Ok(BodyPlan::Read));
        assert_eq!(body_plan(None, true, MAX_BODY_BYTES).map_err(|e| e.0), Err(411));
        assert_eq!(body_plan(Some("70000"), true, MAX_BODY_BYTES).map_err(|e| e.0), Err(413));
        assert_eq!(body_text(vec![b'{', 0xff]).unwrap_err().0, 400);
        assert_eq!(body_text(b"{}".to_vec()), Ok("{}".to_owned()));
    }

    #[test]
    fn truncation_keeps_at_most_max_characters() {
        assert_eq!(truncated("abcdef", 3), "abc…");
        assert_eq!(truncated("ab", 3), "ab");
    }
}
