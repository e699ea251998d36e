//! The stand-in's route table as a pure function of (method, path), so the mapping from a
//! request line to a handler, including the 404 and 405 cases, is tested natively without
//! the Workers runtime.

use code24_shared::elite::{HEALTH_PATH, OPTIMIZE_PATH};
use code24_shared::standin::access::{CERTS_PATH, TOKEN_PATH};
use code24_shared::standin::{
    InjectTarget, ALERTS_PATH, FAULTS_PATH, QUEUE_PATH_PREFIX, SEND_FAULTS_PATH, SEND_FAULTS_TAKE_PATH, STATS_PATH,
};

/// What a request asks the stand-in to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /optimize`: the elite contract call.
    Optimize,
    /// `GET /health`: the elite health probe.
    Health,
    /// `GET /__standin/faults`: read the rules with their remaining budgets (a debugging aid
    /// beyond the shared control contract; tests may use it to see a `times` budget run out).
    GetFaults,
    /// `PUT /__standin/faults`: replace every fault rule.
    PutFaults,
    /// `DELETE /__standin/faults`: clear every fault rule.
    ClearFaults,
    /// `GET /__standin/stats`: read the call counters.
    GetStats,
    /// `DELETE /__standin/stats`: zero the call counters.
    ResetStats,
    /// `POST /__standin/queue/{optimize|reports}`: send raw bodies onto that queue.
    Inject(InjectTarget),
    /// `GET /__standin/access/certs`: the simulated Access team's key set.
    AccessCerts,
    /// `POST /__standin/access/token`: mint a simulated Access token.
    AccessToken,
    /// `GET /__standin/send-faults`: the dispatcher's send failures armed for its next fan-out.
    GetSendFaults,
    /// `PUT /__standin/send-faults`: arm them.
    PutSendFaults,
    /// `DELETE /__standin/send-faults`: disarm them.
    ClearSendFaults,
    /// `POST /__standin/send-faults/take`: hand them to one fan-out, and disarm them.
    TakeSendFaults,
    /// `POST /__standin/alerts`: receive one alert webhook body (the dispatcher's, locally).
    ReceiveAlert,
    /// `GET /__standin/alerts`: what was received.
    GetAlerts,
    /// `DELETE /__standin/alerts`: forget it.
    ClearAlerts,
    /// `PUT /__standin/alerts`: refuse the next bodies.
    FailAlerts,
}

/// The outcome of routing: a handler, or the reason there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    To(Route),
    /// The path exists but not with this method; `allow` is the value of the `Allow` header
    /// a 405 answer must carry (RFC 9110, section 15.5.6).
    MethodNotAllowed {
        allow: &'static str,
    },
    NotFound,
}

/// Routes one request. `method` is the upper-case HTTP method, `path` the URL path without
/// query string. Paths match exactly: the optimizer and the tests never send a trailing slash,
/// and a lenient match would hide a wrong URL in a caller.
pub(crate) fn route(method: &str, path: &str) -> Routed {
    // Each path lists its (method, route) pairs once; the 405 `Allow` value is written next to
    // them so the two cannot disagree silently (a test checks every listed method routes).
    let (allowed, allow): (&[(&str, Route)], &'static str) = if path == OPTIMIZE_PATH {
        (&[("POST", Route::Optimize)], "POST")
    } else if path == HEALTH_PATH {
        (&[("GET", Route::Health)], "GET")
    } else {
        match path {
            FAULTS_PATH => (&[("GET", Route::GetFaults), ("PUT", Route::PutFaults), ("DELETE", Route::ClearFaults)], "GET, PUT, DELETE"),
            STATS_PATH => (&[("GET", Route::GetStats), ("DELETE", Route::ResetStats)], "GET, DELETE"),
            CERTS_PATH => (&[("GET", Route::AccessCerts)], "GET"),
            TOKEN_PATH => (&[("POST", Route::AccessToken)], "POST"),
            SEND_FAULTS_PATH => {
                (&[("GET", Route::GetSendFaults), ("PUT", Route::PutSendFaults), ("DELETE", Route::ClearSendFaults)], "GET, PUT, DELETE")
            }
            SEND_FAULTS_TAKE_PATH => (&[("POST", Route::TakeSendFaults)], "POST"),
            ALERTS_PATH => (
                &[("POST", Route::ReceiveAlert), ("GET", Route::GetAlerts), ("DELETE", Route::ClearAlerts), ("PUT", Route::FailAlerts)],
                "POST, GET, DELETE, PUT",
            ),
            _ => match path.strip_prefix(QUEUE_PATH_PREFIX).and_then(InjectTarget::from_segment) {
                Some(InjectTarget::Optimize) => (&[("POST", Route::Inject(InjectTarget::Optimize))], "POST"),
                Some(InjectTarget::Reports) => (&[("POST", Route::Inject(InjectTarget::Reports))], "POST"),
                None => return Routed::NotFound,
            },
        }
    };
    match allowed.iter().find(|(m, _)| *m == method) {
        Some((_, r)) => Routed::To(*r),
        None => Routed::MethodNotAllowed { allow },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &str, path: &str, expected: Routed) {
        assert_eq!(route(method, path), expected, "{method} {path}");
    }

    #[test]
    fn known_routes_are_found() {
        check("POST", "/optimize", Routed::To(Route::Optimize));
        check("GET", "/health", Routed::To(Route::Health));
        check("GET", "/__standin/faults", Routed::To(Route::GetFaults));
        check("PUT", "/__standin/faults", Routed::To(Route::PutFaults));
        check("DELETE", "/__standin/faults", Routed::To(Route::ClearFaults));
        check("GET", "/__standin/stats", Routed::To(Route::GetStats));
        check("DELETE", "/__standin/stats", Routed::To(Route::ResetStats));
        check("POST", "/__standin/queue/optimize", Routed::To(Route::Inject(InjectTarget::Optimize)));
        check("POST", "/__standin/queue/reports", Routed::To(Route::Inject(InjectTarget::Reports)));
        check("GET", "/__standin/access/certs", Routed::To(Route::AccessCerts));
        check("POST", "/__standin/access/token", Routed::To(Route::AccessToken));
        check("PUT", "/__standin/send-faults", Routed::To(Route::PutSendFaults));
        check("POST", "/__standin/send-faults/take", Routed::To(Route::TakeSendFaults));
        check("POST", "/__standin/alerts", Routed::To(Route::ReceiveAlert));
        check("GET", "/__standin/alerts", Routed::To(Route::GetAlerts));
        check("DELETE", "/__standin/alerts", Routed::To(Route::ClearAlerts));
        check("PUT", "/__standin/alerts", Routed::To(Route::FailAlerts));
    }

    #[test]
    fn wrong_methods_are_405_with_allow() {
        check("GET", "/optimize", Routed::MethodNotAllowed { allow: "POST" });
        check("POST", "/health", Routed::MethodNotAllowed { allow: "GET" });
        check("POST", "/__standin/faults", Routed::MethodNotAllowed { allow: "GET, PUT, DELETE" });
        check("PUT", "/__standin/stats", Routed::MethodNotAllowed { allow: "GET, DELETE" });
    }

    #[test]
    fn unknown_paths_are_404() {
        check("GET", "/", Routed::NotFound);
        check("POST", "/optimize/", Routed::NotFound);
        check("GET", "/__standin", Routed::NotFound);
        check("GET", "/__standin/other", Routed::NotFound);
        check("GET", "/healthz", Routed::NotFound);
        check("POST", "/__standin/queue/", Routed::NotFound);
        check("POST", "/__standin/queue/optimize-dlq", Routed::NotFound);
        check("POST", "/__standin/queue/optimize/x", Routed::NotFound);
    }

    #[test]
    fn every_allowed_method_routes() {
        // The `Allow` header must list exactly the methods that route somewhere.
        for path in [
            "/optimize",
            "/health",
            "/__standin/faults",
            "/__standin/stats",
            "/__standin/queue/optimize",
            "/__standin/queue/reports",
            CERTS_PATH,
            TOKEN_PATH,
            "/__standin/send-faults",
            "/__standin/send-faults/take",
            "/__standin/alerts",
        ] {
            let Routed::MethodNotAllowed { allow } = route("TRACE", path) else { panic!("{path}") };
            for method in allow.split(", ") {
                assert!(matches!(route(method, path), Routed::To(_)), "{method} {path}");
            }
        }
    }
}
