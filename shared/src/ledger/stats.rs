//! What a ledger instance has cost since it started, as Cloudflare bills a SQLite Durable
//! Object: rows read and rows written (indexes included), as workerd's `sql.exec` cursor reports
//! them (`rowsRead`, `rowsWritten`), per route and for the alarm, with the database's size. The
//! instance keeps these counters in memory only (writing them would be billed too), so they
//! start at zero whenever the instance starts; `since_ms` tells a reader whether two answers
//! belong to the same life of the instance.

use serde::{Deserialize, Serialize};

/// Locally (where workerd evicts an idle instance, and its counters, after about ten seconds)
/// the ledger also logs every charge as `{ROWS_LOG}{route} read {n} written {n}`; the bench
/// adds the lines up ([`parse_rows_log`]).
pub const ROWS_LOG: &str = "ledger rows: ";

/// The route and rows of one `ROWS_LOG` line (anything may precede the marker).
pub fn parse_rows_log(line: &str) -> Option<(&str, Rows)> {
    let rest = line.split_once(ROWS_LOG)?.1;
    let mut words = rest.split_whitespace();
    let route = words.next()?;
    let (Some("read"), Some(read), Some("written"), Some(written)) = (words.next(), words.next(), words.next(), words.next()) else {
        return None;
    };
    Some((route, Rows { read: read.parse().ok()?, written: written.trim_end_matches('"').parse().ok()? }))
}

/// Rows a group of statements read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    pub read: u64,
    pub written: u64,
}

impl Rows {
    pub fn add(&mut self, other: Rows) {
        self.read += other.read;
        self.written += other.written;
    }

    /// The rows of `self` beyond `before` (an earlier reading of the same counter).
    pub fn since(self, before: Rows) -> Rows {
        Rows { read: self.read.saturating_sub(before.read), written: self.written.saturating_sub(before.written) }
    }
}

/// One route's (or the alarm's) requests and rows since the instance started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRows {
    /// A route's path ([`super::route::Route::path`]), or `alarm`.
    pub route: String,
    pub requests: u64,
    pub rows: Rows,
}

/// The answer of [`super::route::Route::Stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerStats {
    /// When this life of the instance started (its counters' zero).
    pub since_ms: i64,
    /// `ctx.storage.sql.databaseSize`: the bytes the instance stores, against the 10 GB limit.
    pub database_bytes: u64,
    /// A job shard's journal (`super::journal`): its entries and their bytes (text only), part
    /// of `database_bytes`; the ring never holds more than `JOURNAL_SLOTS` entries.
    #[serde(default)]
    pub journal_entries: u64,
    #[serde(default)]
    pub journal_bytes: u64,
    /// Every route that served a request, and `alarm`, in first-use order.
    pub routes: Vec<RouteRows>,
    /// A job shard's write-behind of its rollups to D1 (kept in its SQLite, so it survives a
    /// restart); `None` when it could not be read.
    #[serde(default)]
    pub rollups: Option<super::freshness::FlushState>,
}

impl LedgerStats {
    /// Rows of every route and the alarm together.
    pub fn total(&self) -> Rows {
        let mut all = Rows::default();
        for r in &self.routes {
            all.add(r.rows);
        }
        all
    }

    /// Counts one request (or alarm) of `route` that cost `rows`.
    pub fn record(&mut self, route: &str, rows: Rows) {
        self.entry(route).requests += 1;
        self.charge(route, rows);
    }

    /// Adds `rows` to `route` without counting a request: the parts of one request measured
    /// one by one.
    pub fn charge(&mut self, route: &str, rows: Rows) {
        self.entry(route).rows.add(rows);
    }

    fn entry(&mut self, route: &str) -> &mut RouteRows {
        let at = match self.routes.iter().position(|r| r.route == route) {
            Some(at) => at,
            None => {
                self.routes.push(RouteRows { route: route.to_owned(), ..RouteRows::default() });
                self.routes.len() - 1
            }
        };
        &mut self.routes[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_add_up_per_route_and_in_total() {
        let mut s = LedgerStats::default();
        s.record("/jobs/claim", Rows { read: 3, written: 2 });
        s.record("alarm", Rows { read: 10, written: 0 });
        s.record("/jobs/claim", Rows { read: 1, written: 0 });
        s.charge("/jobs/claim", Rows { read: 0, written: 1 });
        assert_eq!(s.routes[0], RouteRows { route: "/jobs/claim".into(), requests: 2, rows: Rows { read: 4, written: 3 } });
        assert_eq!(s.total(), Rows { read: 14, written: 3 });
        assert_eq!(Rows { read: 5, written: 9 }.since(Rows { read: 2, written: 9 }), Rows { read: 3, written: 0 });
    }

    #[test]
    fn a_rows_log_line_reads_back() {
        let line = format!("[wrangler:info] {ROWS_LOG}/jobs/claim read 12 written 3");
        assert_eq!(parse_rows_log(&line), Some(("/jobs/claim", Rows { read: 12, written: 3 })));
        assert_eq!(parse_rows_log("ledger rows: alarm read x written 1"), None);
        assert_eq!(parse_rows_log("something else"), None);
    }
}
