//! The local-only debug passage of the ledger Worker as pure functions, tested natively
//! ([`debug_passage`], [`debug_target`]). The Durable Object's own routes are the core's table,
//! [`Route`].

use code24_shared::ledger::route::Route;
use code24_shared::ledger::shard_map::{ShardMap, MAPS};
use code24_shared::ledger::RUNS_OBJECT;
use code24_shared::names::Environment;

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

/// The coordinator's name or the name of a job shard of any map ([`ShardMap::slot_object`]).
fn is_instance_name(name: &str) -> bool {
    name == RUNS_OBJECT || (0..ShardMap::slots(MAPS)).any(|slot| ShardMap::slot_object(MAPS, slot).as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

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
