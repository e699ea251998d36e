//! One invocation's usage of its per-invocation limits, counted at each binding call the
//! adapters make ([`code24_shared::limits::usage`]): local workerd enforces none of Cloudflare's
//! limits, so the Workers count what the platform would and say so, in one `console_error!`
//! line per figure, the moment a call would take an invocation over a limit (before the
//! platform would refuse it):
//!
//! `{"event":"limit_overrun","worker":"dispatcher","invocation":"scheduled","figure":"subrequests","value":10001,"limit":10000}`
//!
//! A handler makes one [`Meter`] per invocation and hands it to the adapters it builds
//! (`.metered(&meter)`); an adapter built without one counts into a detached meter, which
//! logs nothing (the admin API's requests, the dead-letters consumer's D1 store and the
//! reports consumer's D1 reads are not metered yet). The subrequest limit is
//! the platform's default ([`SUBREQUESTS_DEFAULT`](code24_shared::limits::SUBREQUESTS_DEFAULT)):
//! a Worker cannot read its `[limits]` section, and the default is the stricter figure.

use std::rc::Rc;

use code24_shared::limits::usage::{Counted, Figures, InFlight, InvocationLimits, Usage};
use serde_json::json;
use worker::{console_error, console_log};

/// The marker e2e tests look for in the wrangler log.
pub const OVERRUN_EVENT: &str = "limit_overrun";

/// The meter of one invocation, shared by the adapters it drives (cloning shares it).
#[derive(Debug, Clone)]
pub struct Meter(Rc<Inner>);

#[derive(Debug)]
struct Inner {
    usage: Usage,
    limits: InvocationLimits,
    /// Whether overruns are logged: not for a detached meter, which counts calls of no one
    /// invocation in particular.
    logs: bool,
}

impl Meter {
    /// A meter for one invocation of `worker` (e.g. `dispatcher`) of kind `invocation`
    /// (e.g. `scheduled`, `queue`, `alarm`).
    pub fn new(worker: &'static str, invocation: &'static str) -> Self {
        Self(Rc::new(Inner { usage: Usage::new(worker, invocation), limits: InvocationLimits::default(), logs: true }))
    }

    /// A meter for a Worker whose `[limits] subrequests` raises the platform's default (the
    /// dispatcher's, `code24_shared::config::DISPATCHER_SUBREQUESTS`): it counts against that.
    pub fn with_subrequests(worker: &'static str, invocation: &'static str, subrequests: u64) -> Self {
        let limits = InvocationLimits::configured(Some(subrequests));
        Self(Rc::new(Inner { usage: Usage::new(worker, invocation), limits, logs: true }))
    }

    /// A meter no handler reads and that logs nothing: what an adapter counts into when none
    /// was given (an adapter may outlive one invocation's calls, e.g. in the admin API).
    pub fn detached() -> Self {
        Self(Rc::new(Inner { usage: Usage::new("unmetered", "unmetered"), limits: InvocationLimits::default(), logs: false }))
    }

    /// Counts one call and holds its connection until the guard drops; logs any limit the call
    /// takes the invocation over, before the call is made.
    pub fn start(&self, counted: Counted) -> InFlight<'_> {
        let guard = self.0.usage.start(counted);
        self.log_fresh_overruns();
        guard
    }

    /// Counts one call that holds no connection (an Analytics Engine point).
    pub fn call(&self, counted: Counted) {
        self.0.usage.call(counted);
        self.log_fresh_overruns();
    }

    pub fn figures(&self) -> Figures {
        self.0.usage.figures()
    }

    /// Logs the invocation's figures in one line, at its end.
    pub fn log_figures(&self) {
        let usage = &self.0.usage;
        console_log!(
            "{}",
            json!({"event": "invocation_usage", "worker": usage.worker, "invocation": usage.invocation, "figures": usage.figures()})
        );
    }

    fn log_fresh_overruns(&self) {
        if !self.0.logs {
            return;
        }
        let usage = &self.0.usage;
        for o in usage.fresh_overruns(&self.0.limits) {
            console_error!(
                "{}",
                json!({"event": OVERRUN_EVENT, "worker": usage.worker, "invocation": usage.invocation,
                    "figure": o.figure.key(), "value": o.value, "limit": o.limit,
                    "error": format!("{} {} of {}: {o}; the platform would refuse this call", usage.worker, usage.invocation, o.figure.key())})
            );
        }
    }
}
