//! The ledger Durable Object's routes: one table of what a request to a ledger instance may
//! ask for, with each route's path and properties. The client (`runtime/src/ledger_client.rs`)
//! sends to [`Route::path`]; the Durable Object (`ledger/src/object.rs`) routes with
//! [`Route::parse`] and decides from [`Route::writes`] and [`Route::rolls_up`] what a request
//! may have changed. Every route is `POST` with a JSON body and answers JSON, but the
//! breakers' state, a `GET` ([`Route::is_get`]).

/// What a request to a ledger instance asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Body: [`super::OpenRun`]; answer: [`super::OpenDecision`].
    OpenRun,
    /// Body: [`super::PageDone`].
    RecordPage,
    /// Body: [`super::FanoutDone`].
    FinishFanout,
    /// Body: [`super::ProgressRequest`]; answer: `Option<RunProgress>`.
    Progress,
    /// Body: [`super::RecentRequest`]; answer: `Vec<RunProgress>`.
    Recent,
    /// Body: [`super::FinalizeRequest`]; answer: [`super::FinalizeDecision`].
    Finalize,
    /// Body: [`super::ClaimRequest`]; answer: [`super::ClaimResponse`].
    Claim,
    /// Body: [`super::CompleteRequest`]; answer: [`super::CompleteResponse`].
    Complete,
    /// Body: [`super::CountsRequest`]; answer: `Vec<ShardCounts>`.
    Counts,
    /// Body: [`super::JobRequest`]; answer: `Option<JobRow>`.
    Job,
    /// Body: [`super::SettleRequest`]; answer: [`super::SettleDecision`].
    Settle,
    /// Body: `{}`; answer: [`super::stats::LedgerStats`] (what the instance cost since it started).
    Stats,
    /// Body: [`super::heads::HeadRequest`]; answer: [`super::heads::HeadRow`].
    Head,
    /// On the `breakers` instance ([`crate::breaker::BREAKERS_OBJECT`]). Body:
    /// [`crate::breaker::GateRequest`]; answer: [`crate::breaker::GateAnswer`].
    BreakerGate,
    /// Body: [`crate::breaker::BreakerReport`]; answer: `null`.
    BreakerReport,
    /// `GET`, no body; answer: [`crate::breaker::BreakersView`].
    Breakers,
}

impl Route {
    /// Every route, coordinator routes first.
    pub const ALL: [Route; 16] = [
        Self::OpenRun,
        Self::RecordPage,
        Self::FinishFanout,
        Self::Progress,
        Self::Recent,
        Self::Finalize,
        Self::Claim,
        Self::Complete,
        Self::Counts,
        Self::Job,
        Self::Settle,
        Self::Stats,
        Self::Head,
        Self::BreakerGate,
        Self::BreakerReport,
        Self::Breakers,
    ];

    /// The route's URL path on a ledger instance. The coordinator's paths keep their first
    /// prefix, `/sweeps`: an old and a new Worker version call each other during a deploy.
    pub fn path(self) -> &'static str {
        match self {
            Self::OpenRun => "/sweeps/open",
            Self::RecordPage => "/sweeps/page",
            Self::FinishFanout => "/sweeps/finish",
            Self::Progress => "/sweeps/progress",
            Self::Recent => "/sweeps/recent",
            Self::Finalize => "/sweeps/finalize",
            Self::Claim => "/jobs/claim",
            Self::Complete => "/jobs/complete",
            Self::Counts => "/jobs/counts",
            Self::Job => "/jobs/get",
            Self::Settle => "/jobs/settle",
            Self::Stats => "/stats",
            Self::Head => "/jobs/head",
            Self::BreakerGate => "/breakers/gate",
            Self::BreakerReport => "/breakers/report",
            Self::Breakers => "/breakers",
        }
    }

    /// Whether the route is a `GET` without a body (every other route is a `POST` of JSON).
    pub fn is_get(self) -> bool {
        self == Self::Breakers
    }

    /// The route of an exact URL path (no trailing slash, no query string).
    pub fn parse(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.path() == path)
    }

    /// Whether the route changes stored rows (and so must make sure the pruning alarm is set).
    pub fn writes(self) -> bool {
        !matches!(self, Self::Counts | Self::Job | Self::Stats | Self::Breakers)
    }

    /// Whether the route may change daily rollups (and so may need a flush soon).
    pub fn rolls_up(self) -> bool {
        matches!(self, Self::Claim | Self::Complete | Self::Settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: Option<Route>) {
        assert_eq!(Route::parse(path), expected, "{path:?}");
    }

    #[test]
    fn every_route_parses_to_itself_and_nothing_else_parses() {
        for route in Route::ALL {
            check(route.path(), Some(route));
        }
        let mut paths: Vec<&str> = Route::ALL.iter().map(|r| r.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), Route::ALL.len(), "every route has its own path");
        check("/jobs/claim/", None);
        check("/jobs/claim?x=1", None);
        check("/", None);
        check("", None);
    }

    #[test]
    fn counts_job_stats_and_the_breakers_view_write_nothing_and_only_job_outcomes_roll_up() {
        let writes: Vec<Route> = Route::ALL.into_iter().filter(|r| !r.writes()).collect();
        assert_eq!(writes, [Route::Counts, Route::Job, Route::Stats, Route::Breakers]);
        assert!(Route::ALL.into_iter().filter(|r| r.is_get()).all(|r| !r.writes()), "a GET changes nothing");
        let rolls_up: Vec<Route> = Route::ALL.into_iter().filter(|r| r.rolls_up()).collect();
        assert_eq!(rolls_up, [Route::Claim, Route::Complete, Route::Settle]);
        assert!(rolls_up.iter().all(|r| r.writes()), "a route that changes rollups writes");
    }
}
