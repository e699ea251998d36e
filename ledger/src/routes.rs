//! The ledger's route tables as pure functions, tested natively: the Durable Object's routes
//! ([`Route`]), and the local-only debug passage of the ledger Worker ([`debug_target`]).

use code24_shared::ledger::{route, shard_object, JOB_SHARDS, SWEEPS_OBJECT};
use code24_shared::names::Environment;

/// What a request to a ledger instance asks for. Every route is `POST` with a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    OpenSweep,
    RecordPage,
    FinishFanout,
    Progress,
    Recent,
    Finalize,
    Claim,
    Complete,
    Counts,
    Job,
    Settle,
}

impl Route {
    const ALL: [(&'static str, Route); 11] = [
        (route::OPEN_SWEEP, Route::OpenSweep),
        (route::RECORD_PAGE, Route::RecordPage),
        (route::FINISH_FANOUT, Route::FinishFanout),
        (route::PROGRESS, Route::Progress),
        (route::RECENT, Route::Recent),
        (route::FINALIZE, Route::Finalize),
        (route::CLAIM, Route::Claim),
        (route::COMPLETE, Route::Complete),
        (route::COUNTS, Route::Counts),
        (route::JOB, Route::Job),
        (route::SETTLE, Route::Settle),
    ];

    /// The route of an exact URL path (no trailing slash, no query string).
    pub(crate) fn parse(path: &str) -> Option<Self> {
        Self::ALL.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
    }

    pub(crate) fn path(self) -> &'static str {
        Self::ALL.iter().find(|(_, r)| *r == self).map_or("?", |(p, _)| p)
    }

    /// Whether the route changes stored rows (and so must make sure the pruning alarm is set).
    pub(crate) fn writes(self) -> bool {
        !matches!(self, Self::Counts | Self::Job)
    }

    /// Whether the route may change daily rollups (and so may need a flush soon).
    pub(crate) fn rolls_up(self) -> bool {
        matches!(self, Self::Claim | Self::Complete | Self::Settle)
    }
}

/// Path prefix of the local-only debug passage: `POST /debug/{object}/{route}` forwards the
/// body to `{route}` of the instance named `{object}`.
pub(crate) const DEBUG_PREFIX: &str = "/debug/";

/// Splits a debug path into (instance name, ledger route path). Only real instance names pass:
/// a typo must not silently create a new, empty Durable Object.
pub(crate) fn debug_target(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(DEBUG_PREFIX)?;
    let slash = rest.find('/')?;
    let (object, route) = rest.split_at(slash);
    (is_instance_name(object) && Route::parse(route).is_some()).then_some((object, route))
}

/// Whether a request to the ledger Worker's own `fetch` may take the debug passage, and where
/// to: only a `POST` to a debug path, and only when `ENVIRONMENT` is exactly `local`. An
/// unreadable or missing `ENVIRONMENT` closes it, like every deployed value does.
pub(crate) fn debug_passage(environment: Option<Environment>, method_is_post: bool, path: &str) -> Option<(&str, &str)> {
    if environment != Some(Environment::Local) || !method_is_post {
        return None;
    }
    debug_target(path)
}

/// The coordinator's name or one of the [`JOB_SHARDS`] shard names.
fn is_instance_name(name: &str) -> bool {
    name == SWEEPS_OBJECT || (0..JOB_SHARDS).any(|k| shard_object(k) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_parses_to_itself() {
        for (path, r) in Route::ALL {
            assert_eq!(Route::parse(path), Some(r), "{path}");
            assert_eq!(r.path(), path);
        }
        assert_eq!(Route::parse("/jobs/claim/"), None);
        assert_eq!(Route::parse("/"), None);
        assert!(!Route::Counts.writes() && !Route::Job.writes() && Route::Claim.writes());
        assert!(Route::Finalize.writes() && !Route::Finalize.rolls_up() && Route::Complete.rolls_up());
    }

    fn check_debug(path: &str, expected: Option<(&str, &str)>) {
        assert_eq!(debug_target(path), expected, "{path}");
    }

    #[test]
    fn the_debug_passage_opens_only_locally_and_only_to_posts() {
        let path = "/debug/jobs-0/jobs/claim";
        assert_eq!(debug_passage(Some(Environment::Local), true, path), Some(("jobs-0", "/jobs/claim")));
        for env in [None, Some(Environment::Dev), Some(Environment::Staging), Some(Environment::Production)] {
            assert_eq!(debug_passage(env, true, path), None, "{env:?}");
        }
        assert_eq!(debug_passage(Some(Environment::Local), false, path), None, "only POST");
        assert_eq!(debug_passage(Some(Environment::Local), true, "/debug/jobs-9/jobs/claim"), None);
    }

    #[test]
    fn debug_paths_name_a_real_instance_and_route() {
        check_debug("/debug/sweeps/sweeps/open", Some(("sweeps", "/sweeps/open")));
        check_debug("/debug/jobs-0/jobs/claim", Some(("jobs-0", "/jobs/claim")));
        check_debug("/debug/jobs-7/jobs/counts", Some(("jobs-7", "/jobs/counts")));
        check_debug("/debug/jobs-8/jobs/claim", None);
        check_debug("/debug/jobs-x/jobs/claim", None);
        check_debug("/debug/sweeps/nope", None);
        check_debug("/debug/sweeps", None);
        check_debug("/sweeps/open", None);
        check_debug("/debug/../sweeps/sweeps/open", None);
        check_debug("/debug/jobs-0/../../x", None);
        check_debug("/debug/jobs-0//jobs/claim", None);
    }
}
