//! The admin API's router, sans IO: the table of every route ([`ROUTES`]) and the one function
//! that resolves a request against it ([`route`]), so the table the end-to-end tests enumerate
//! is the router itself and cannot drift from it. [`admit`] is the whole decision for one
//! `/api/` request: the token's verdict first (the same refusal whatever the path), then the
//! route, then 405 or 404.

use crate::auth::Access;
use crate::standin::CONTROL_PREFIX;

/// What a route does: one handler of the dispatcher's admin API per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ListSweeps,
    /// Parameter `sweep_id`.
    ShowSweep,
    ListResults,
    /// Parameter `key`: the rest of the path, slashes included.
    GetResult,
    ListSites,
    AddSite,
    /// Parameter `customer_id`.
    DeactivateSite,
    BackfillRun,
    /// Starts the post-deploy canary: one optimization run over the canary sites only
    /// (`crate::canary`).
    StartCanary,
    AddBillingEvent,
    ListRollups,
    /// How fresh D1's rollups are: every job shard's write-behind
    /// (`crate::ledger::freshness::Freshness`).
    RollupFreshness,
    ListDeadLetters,
    /// Parameter `id`.
    ShowDeadLetter,
    ReplayDeadLetters,
    PurgeDeadLetters,
    /// The audit log, read-only: there is no route that changes or deletes an entry.
    ListAudit,
    /// Who the caller is, as the API identified them (Access operator or service).
    WhoAmI,
    /// The platform's health: the latest health check, the breakers, incidents and alerts
    /// (`crate::alerts::HealthView`).
    ShowHealth,
    /// The elite circuit breakers: each role's state and the recent transitions, the ledger's
    /// `GET /breakers` answer unchanged (`crate::breaker::BreakersView`).
    ListBreakers,
    /// Forwarded to the local elite stand-in at [`standin_control_path`], whatever the method:
    /// the stand-in answers its own 405s, and where it is not bound (every deployed
    /// environment) the dispatcher answers 404 for each of these paths alike.
    Standin,
}

/// One route of the admin API. `{name}` is a path parameter (one segment, possibly empty); a
/// trailing `{name...}` takes the rest of the path, slashes included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

impl Route {
    /// Answers only where the local elite stand-in is bound (404 in every deployed environment).
    pub fn local_only(&self) -> bool {
        self.endpoint == Endpoint::Standin
    }
}

const fn route_to(method: &'static str, path: &'static str, endpoint: Endpoint) -> Route {
    Route { method, path, endpoint }
}

const fn local(method: &'static str, path: &'static str) -> Route {
    Route { method, path, endpoint: Endpoint::Standin }
}

/// Where the stand-in's routes live in the admin API; the rest of the path is the stand-in's
/// control path after [`CONTROL_PREFIX`].
pub const STANDIN_PREFIX: &str = "/api/standin";

/// Every route of the admin API. All of them require the bearer token; the token is checked
/// before the router looks at the path ([`admit`]), so an unknown `/api/` path is refused (401)
/// too.
pub const ROUTES: &[Route] = &[
    route_to("GET", "/api/sweeps", Endpoint::ListSweeps),
    route_to("GET", "/api/sweeps/{sweep_id}", Endpoint::ShowSweep),
    route_to("GET", "/api/results", Endpoint::ListResults),
    route_to("GET", "/api/results/{key...}", Endpoint::GetResult),
    route_to("GET", "/api/sites", Endpoint::ListSites),
    route_to("POST", "/api/sites", Endpoint::AddSite),
    route_to("POST", "/api/sites/{customer_id}/deactivate", Endpoint::DeactivateSite),
    route_to("POST", "/api/runs", Endpoint::BackfillRun),
    route_to("POST", "/api/canary", Endpoint::StartCanary),
    route_to("POST", "/api/billing-events", Endpoint::AddBillingEvent),
    route_to("GET", "/api/rollups", Endpoint::ListRollups),
    route_to("GET", "/api/rollups/freshness", Endpoint::RollupFreshness),
    route_to("GET", "/api/dead-letters", Endpoint::ListDeadLetters),
    route_to("POST", "/api/dead-letters/replay", Endpoint::ReplayDeadLetters),
    route_to("POST", "/api/dead-letters/purge", Endpoint::PurgeDeadLetters),
    route_to("GET", "/api/dead-letters/{id}", Endpoint::ShowDeadLetter),
    route_to("GET", "/api/audit", Endpoint::ListAudit),
    route_to("GET", "/api/whoami", Endpoint::WhoAmI),
    route_to("GET", "/api/health", Endpoint::ShowHealth),
    route_to("GET", "/api/breakers", Endpoint::ListBreakers),
    local("GET", "/api/standin/faults"),
    local("PUT", "/api/standin/faults"),
    local("DELETE", "/api/standin/faults"),
    local("GET", "/api/standin/stats"),
    local("DELETE", "/api/standin/stats"),
    local("POST", "/api/standin/queue/optimize"),
    local("POST", "/api/standin/queue/reports"),
    local("POST", "/api/standin/access/token"),
    local("GET", "/api/standin/send-faults"),
    local("PUT", "/api/standin/send-faults"),
    local("DELETE", "/api/standin/send-faults"),
    local("GET", "/api/standin/alerts"),
    local("PUT", "/api/standin/alerts"),
    local("DELETE", "/api/standin/alerts"),
];

/// The path parameters of a resolved route, by the names its template declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params<'a> {
    captured: Vec<(&'static str, &'a str)>,
}

impl<'a> Params<'a> {
    /// The value of the parameter `name` (the `{name}` of the route's template). Each
    /// [`Endpoint`] documents its parameters, and the core's tests check every template's
    /// parameters are captured; a name the template does not declare reads as empty.
    pub fn get(&self, name: &str) -> &'a str {
        self.captured.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| v)
    }
}

/// Why a request to the admin API is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The `ADMIN_TOKEN` secret is unset: nothing is served (503).
    Disabled,
    /// A missing, malformed or wrong token (401), whatever the method and path.
    Unauthorized,
    /// A path under a resource of the table with a method it does not take (405).
    MethodNotAllowed,
    /// Nothing of the table (404).
    NotFound,
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Disabled => 503,
            Refusal::Unauthorized => 401,
            Refusal::MethodNotAllowed => 405,
            Refusal::NotFound => 404,
        }
    }
}

/// The whole decision for one `/api/` request. The token's verdict comes first and alone: a
/// request without access is refused the same way whatever it asks for, so an answer tells
/// nothing about which routes exist. With access, the route of [`route`]; without one, 405 for a
/// path under a resource of the table (`/api/sweeps/a/b`, `PATCH /api/sweeps`), 404 otherwise.
pub fn admit<'a>(access: Access, method: &str, path: &'a str) -> Result<(Endpoint, Params<'a>), Refusal> {
    match access {
        Access::Disabled => Err(Refusal::Disabled),
        Access::Refused => Err(Refusal::Unauthorized),
        Access::Allowed => route(method, path).ok_or_else(|| match resource(path) {
            Some(resource) if ROUTES.iter().any(|r| !r.local_only() && resource_of(r.path) == resource) => Refusal::MethodNotAllowed,
            _ => Refusal::NotFound,
        }),
    }
}

/// Resolves a request (`method` upper case, `path` without query string) against [`ROUTES`]:
/// the first route whose method and template match. The stand-in's routes match by path alone
/// (see [`Endpoint::Standin`]).
pub fn route<'a>(method: &str, path: &'a str) -> Option<(Endpoint, Params<'a>)> {
    ROUTES.iter().filter(|r| r.method == method || r.local_only()).find_map(|r| Some((r.endpoint, captures(r.path, path)?)))
}

/// The stand-in's control path a forwarded route reaches: `/api/standin/faults` is
/// `/__standin/faults`.
pub fn standin_control_path(api_path: &str) -> String {
    format!("{CONTROL_PREFIX}{}", api_path.trim_start_matches(STANDIN_PREFIX))
}

/// The parameters of `path` when it matches `template`, segment by segment.
fn captures<'a>(template: &'static str, path: &'a str) -> Option<Params<'a>> {
    let mut captured = Vec::new();
    // `None` once every segment of the path is taken.
    let mut rest = Some(path);
    for part in template.split('/') {
        let remaining = rest?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("...}")) {
            captured.push((name, remaining));
            return Some(Params { captured });
        }
        let (segment, tail) = match remaining.split_once('/') {
            Some((segment, tail)) => (segment, Some(tail)),
            None => (remaining, None),
        };
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => captured.push((name, segment)),
            None if part == segment => {}
            None => return None,
        }
        rest = tail;
    }
    rest.is_none().then_some(Params { captured })
}

/// The first segment after `/api/`: the resource a path is under.
fn resource(path: &str) -> Option<&str> {
    path.strip_prefix("/api/").map(|rest| rest.split('/').next().unwrap_or(rest))
}

fn resource_of(template: &'static str) -> &'static str {
    resource(template).unwrap_or(template)
}

impl Route {
    /// The path with every parameter replaced by a well-formed example value, for tests that
    /// call each route.
    pub fn example_path(&self) -> String {
        self.path
            .split('/')
            .map(|segment| match segment {
                "{sweep_id}" => "local.optimize.20261129T011500Z",
                "{key...}" => "optimizations/acme/20261129T011500Z.json",
                "{customer_id}" => "acme",
                "{id}" => "local.optimize.20261129T011500Z.acme",
                other => other,
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::{FAULTS_PATH, QUEUE_PATH_PREFIX, STATS_PATH};

    const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

    /// Paths that are no route, or no route for most methods: near misses of the table's.
    const NEAR_MISSES: [&str; 16] = [
        "/api/",
        "/api/nope",
        "/api/sweep",
        "/api/sweeps/a/b",
        "/api/sweeps/a/",
        "/api//sweeps",
        "/API/sweeps",
        "api/sweeps",
        "/api/sweeps?limit=1",
        "/api/sites/acme/activate",
        "/api/sites/acme/deactivate/x",
        "/api/dead-letters/replay/x",
        "/api/standin",
        "/api/standin/nope",
        "/api/standin/queue/optimize-dlq",
        "/health",
    ];

    fn check(method: &str, path: &str, expected: Result<Endpoint, Refusal>) {
        let got = admit(Access::Allowed, method, path).map(|(endpoint, _)| endpoint);
        assert_eq!(got, expected, "{method} {path}");
    }

    #[test]
    fn every_route_resolves_to_its_own_endpoint_with_its_parameters() {
        for r in ROUTES {
            let path = r.example_path();
            assert!(path.starts_with("/api/") && !path.contains('{'), "{r:?} → {path}");
            let (endpoint, params) = route(r.method, &path).unwrap_or_else(|| panic!("{} {path} is not routed", r.method));
            assert_eq!(endpoint, r.endpoint, "{} {path}", r.method);
            for part in r.path.split('/').filter(|p| p.starts_with('{')) {
                let name = part.trim_start_matches('{').trim_end_matches('}').trim_end_matches("...");
                assert!(!params.get(name).is_empty(), "{} {path}: {name} is not captured", r.method);
            }
        }
    }

    #[test]
    fn parameters_take_one_segment_and_a_rest_takes_the_rest() {
        let (endpoint, params) = route("GET", "/api/results/optimizations/acme/x.json").expect("a result");
        assert_eq!((endpoint, params.get("key")), (Endpoint::GetResult, "optimizations/acme/x.json"));
        assert_eq!(route("GET", "/api/results/").map(|(e, p)| (e, p.get("key"))), Some((Endpoint::GetResult, "")));
        assert_eq!(route("GET", "/api/results").map(|(e, _)| e), Some(Endpoint::ListResults));
        let (_, params) = route("POST", "/api/sites/acme/deactivate").expect("a deactivation");
        assert_eq!((params.get("customer_id"), params.get("id")), ("acme", ""));
        // A literal route is not shadowed by a parameter of another method's route.
        check("POST", "/api/dead-letters/replay", Ok(Endpoint::ReplayDeadLetters));
        check("GET", "/api/dead-letters/replay", Ok(Endpoint::ShowDeadLetter));
    }

    #[test]
    fn near_misses_are_refused_405_under_a_resource_and_404_elsewhere() {
        for path in NEAR_MISSES {
            let under_a_resource = ["/api/sweeps/", "/api/sites/", "/api/dead-letters/"].iter().any(|p| path.starts_with(p));
            let expected = if under_a_resource { Refusal::MethodNotAllowed } else { Refusal::NotFound };
            for method in METHODS {
                check(method, path, Err(expected));
            }
        }
        // The cases of the end-to-end bad-input test, decided here.
        check("PATCH", "/api/sweeps", Err(Refusal::MethodNotAllowed));
        check("DELETE", "/api/sites", Err(Refusal::MethodNotAllowed));
        check("PUT", "/api/dead-letters/replay", Err(Refusal::MethodNotAllowed));
        check("GET", "/api/sites/acme/deactivate", Err(Refusal::MethodNotAllowed));
        check("POST", "/api/sweeps/local.optimize.20261129T011500Z", Err(Refusal::MethodNotAllowed));
        check("get", "/api/sweeps", Err(Refusal::MethodNotAllowed));
    }

    #[test]
    fn the_stand_in_routes_are_forwarded_by_path_to_its_control_paths() {
        let mut control_paths: Vec<String> = ROUTES.iter().filter(|r| r.local_only()).map(|r| standin_control_path(r.path)).collect();
        control_paths.dedup();
        let stand_in = [
            FAULTS_PATH.to_owned(),
            STATS_PATH.to_owned(),
            format!("{QUEUE_PATH_PREFIX}optimize"),
            format!("{QUEUE_PATH_PREFIX}reports"),
            crate::standin::access::TOKEN_PATH.to_owned(),
            crate::standin::SEND_FAULTS_PATH.to_owned(),
            crate::standin::ALERTS_PATH.to_owned(),
        ];
        assert_eq!(control_paths, stand_in);
        // Any method: the stand-in answers 405 itself (and where it is not bound, every one is a 404).
        for method in METHODS {
            check(method, "/api/standin/queue/optimize", Ok(Endpoint::Standin));
        }
    }

    #[test]
    fn the_refusal_does_not_depend_on_the_route() {
        let mut paths: Vec<String> = ROUTES.iter().map(Route::example_path).collect();
        paths.extend(NEAR_MISSES.iter().map(|p| (*p).to_owned()));
        paths.push("/api/../api/sites".to_owned());
        for path in &paths {
            for method in METHODS {
                assert_eq!(admit(Access::Refused, method, path), Err(Refusal::Unauthorized), "{method} {path}");
                assert_eq!(admit(Access::Disabled, method, path), Err(Refusal::Disabled), "{method} {path}");
            }
        }
        assert_eq!((Refusal::Unauthorized.status(), Refusal::Disabled.status()), (401, 503));
        assert_eq!((Refusal::MethodNotAllowed.status(), Refusal::NotFound.status()), (405, 404));
    }
}
