//! The operator dashboard's pure parts; the dispatcher Worker (`producer/src/dashboard/`)
//! serves them. Nothing here touches the network or the clock.
//!
//! A crate of its own, used by the producer only: the other Workers' bundles carry neither
//! the pages nor the session's `hmac`/`sha2`. It reads the core's types (sweep progress, dead
//! letters, the schedule table) and never the other way round.
//!
//! - [`session`]: the signed, expiring session cookie, CSRF tokens, origin checks.
//! - [`schedules`]: each cron's plain-English description and next runs (saffron), last runs.
//! - [`html`]: escaping, the page frame, progress bars, notices.
//! - [`charts`]: inline SVG charts drawn on the server (waterfall, lines with a forecast band,
//!   columns, rows), for the Reports section.
//! - [`pages`]: one function per page, from the admin API's answers to HTML.
//! - [`assets`]: the stylesheet and the small script (live refresh), embedded.

pub mod assets;
pub mod charts;
pub mod html;
pub mod pages;
pub mod schedules;
pub mod session;
