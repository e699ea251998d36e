//! What one invocation uses of its per-invocation limits, counted as it goes: subrequests,
//! service-binding calls, connections in flight (and their peak), Analytics Engine points, D1
//! queries and queue messages sent. Sans-IO: a driver (a runtime adapter, a twin, the bench)
//! calls [`Usage::call`] or [`Usage::start`] before each operation, and asks
//! [`Usage::overruns`] (or [`Usage::fresh_overruns`], once per figure) what went over.
//!
//! ```
//! use code24_shared::limits::usage::{Counted, InvocationLimits, Usage};
//!
//! let usage = Usage::new("optimizer", "batch");
//! {
//!     let _call = usage.start(Counted::ServiceBinding); // one call, one connection until dropped
//!     usage.call(Counted::AnalyticsPoint);
//! }
//! let figures = usage.figures();
//! assert_eq!((figures.subrequests, figures.service_binding_calls, figures.peak_connections), (1, 1, 1));
//! assert!(usage.overruns(&InvocationLimits::configured(None)).is_empty());
//! ```
//!
//! What counts as what follows the Workers limits page (see [`super`]): every call to a
//! service binding, a Durable Object, R2, D1 or a queue is a subrequest; an Analytics Engine
//! write is not (it is a point). A started operation holds one connection until its guard
//! drops: the page lists fetch, R2, Queues and KV as holding one, and since it is silent about
//! D1, Durable Objects and service bindings, the stricter reading counts them too. Over the
//! limit, the platform makes further connections wait rather than fail; a peak above it still
//! counts as an overrun because the design's latency assumes nothing waits.

use std::cell::Cell;
use std::fmt;

use serde::Serialize;

use super::{AE_POINTS_PER_INVOCATION, CONNECTIONS, D1_QUERIES_PER_INVOCATION, SERVICE_BINDING_CALLS, SUBREQUESTS_DEFAULT};

/// One counted operation of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A call over a service binding (an elite worker): a subrequest and a service-binding call.
    ServiceBinding,
    /// A request to a Durable Object (the ledger) or R2, or a plain `fetch`: a subrequest.
    Subrequest,
    /// One D1 query: a subrequest and a query.
    D1Query,
    /// One D1 `batch` of `statements` statements: one subrequest, and a query per statement
    /// (the stricter reading of the D1 limits page).
    D1Batch { statements: u64 },
    /// One `send` or `sendBatch` of `messages` messages: a subrequest.
    QueueSend { messages: u64 },
    /// One Analytics Engine data point: no subrequest, no connection.
    AnalyticsPoint,
}

/// One figure counted per invocation; `key()` is its limit's key in [`super::LIMITS`] where it
/// has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Subrequests,
    ServiceBindingCalls,
    /// The most connections in flight at once.
    PeakConnections,
    AePoints,
    D1Queries,
    /// Messages sent to queues: no per-invocation limit (the queue's is a rate, see
    /// [`super::rate`]), counted for the capacity table.
    QueueMessages,
}

impl Figure {
    pub const ALL: [Figure; 6] =
        [Self::Subrequests, Self::ServiceBindingCalls, Self::PeakConnections, Self::AePoints, Self::D1Queries, Self::QueueMessages];

    /// The figure's name in logs and JSON lines, which is also its limit's key in
    /// [`super::LIMITS`] for those that have one.
    pub fn key(self) -> &'static str {
        match self {
            Self::Subrequests => "subrequests",
            Self::ServiceBindingCalls => "service_binding_calls",
            Self::PeakConnections => "connections",
            Self::AePoints => "ae_points",
            Self::D1Queries => "d1_queries",
            Self::QueueMessages => "queue_messages",
        }
    }
}

/// An invocation's per-invocation limits. Only the subrequest limit is configurable (`[limits]
/// subrequests` in wrangler config); the others are the platform's. Tests may lower any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationLimits {
    pub subrequests: u64,
    pub service_binding_calls: u64,
    pub connections: u64,
    pub ae_points: u64,
    pub d1_queries: u64,
}

impl InvocationLimits {
    /// The limits of a Worker whose config sets `[limits] subrequests = N` (`Some(N)`) or
    /// nothing (`None`: the platform's default, [`SUBREQUESTS_DEFAULT`]).
    pub fn configured(subrequests: Option<u64>) -> Self {
        Self {
            subrequests: subrequests.unwrap_or(SUBREQUESTS_DEFAULT),
            service_binding_calls: SERVICE_BINDING_CALLS,
            connections: CONNECTIONS,
            ae_points: AE_POINTS_PER_INVOCATION,
            d1_queries: D1_QUERIES_PER_INVOCATION,
        }
    }

    /// The limit of `figure`, if it has one per invocation.
    pub fn of(&self, figure: Figure) -> Option<u64> {
        match figure {
            Figure::Subrequests => Some(self.subrequests),
            Figure::ServiceBindingCalls => Some(self.service_binding_calls),
            Figure::PeakConnections => Some(self.connections),
            Figure::AePoints => Some(self.ae_points),
            Figure::D1Queries => Some(self.d1_queries),
            Figure::QueueMessages => None,
        }
    }
}

impl Default for InvocationLimits {
    fn default() -> Self {
        Self::configured(None)
    }
}

/// What one invocation used, as plain numbers (for logs, the bench's capacity table, tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub subrequests: u64,
    pub service_binding_calls: u64,
    pub peak_connections: u64,
    pub ae_points: u64,
    pub d1_queries: u64,
    pub queue_messages: u64,
}

impl Figures {
    pub fn get(&self, figure: Figure) -> u64 {
        match figure {
            Figure::Subrequests => self.subrequests,
            Figure::ServiceBindingCalls => self.service_binding_calls,
            Figure::PeakConnections => self.peak_connections,
            Figure::AePoints => self.ae_points,
            Figure::D1Queries => self.d1_queries,
            Figure::QueueMessages => self.queue_messages,
        }
    }

    /// Every figure over its limit, in [`Figure::ALL`] order.
    pub fn overruns(&self, limits: &InvocationLimits) -> Vec<Overrun> {
        Figure::ALL
            .into_iter()
            .filter_map(|figure| {
                let (value, limit) = (self.get(figure), limits.of(figure)?);
                (value > limit).then_some(Overrun { figure, value, limit })
            })
            .collect()
    }

    /// The larger of each figure (the peak over several invocations of one kind).
    pub fn max(self, other: Figures) -> Figures {
        Figures {
            subrequests: self.subrequests.max(other.subrequests),
            service_binding_calls: self.service_binding_calls.max(other.service_binding_calls),
            peak_connections: self.peak_connections.max(other.peak_connections),
            ae_points: self.ae_points.max(other.ae_points),
            d1_queries: self.d1_queries.max(other.d1_queries),
            queue_messages: self.queue_messages.max(other.queue_messages),
        }
    }
}

/// One figure over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Overrun {
    pub figure: Figure,
    pub value: u64,
    pub limit: u64,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} over its limit of {}", self.figure.key(), self.value, self.limit)
    }
}

/// The meter of one invocation. Shared by reference between the invocation's concurrent
/// futures (Workers and the simulation are single-threaded, hence `Cell`s).
#[derive(Debug, Default)]
pub struct Usage {
    /// The Worker and the kind of invocation (e.g. `dispatcher`, `scheduled`), for log lines.
    pub worker: &'static str,
    pub invocation: &'static str,
    figures: Cell<Figures>,
    in_flight: Cell<u64>,
    /// Figures already returned by [`Usage::fresh_overruns`], as bits of [`Figure::ALL`].
    reported: Cell<u8>,
}

impl Usage {
    pub fn new(worker: &'static str, invocation: &'static str) -> Self {
        Self { worker, invocation, ..Self::default() }
    }

    /// Counts one operation that holds no connection while it runs (or whose connection is not
    /// tracked, such as an Analytics Engine point).
    pub fn call(&self, counted: Counted) {
        let mut f = self.figures.get();
        match counted {
            Counted::ServiceBinding => {
                f.subrequests += 1;
                f.service_binding_calls += 1;
            }
            Counted::Subrequest => f.subrequests += 1,
            Counted::D1Query => {
                f.subrequests += 1;
                f.d1_queries += 1;
            }
            Counted::D1Batch { statements } => {
                f.subrequests += 1;
                f.d1_queries += statements;
            }
            Counted::QueueSend { messages } => {
                f.subrequests += 1;
                f.queue_messages += messages;
            }
            Counted::AnalyticsPoint => f.ae_points += 1,
        }
        self.figures.set(f);
    }

    /// Counts one operation and holds one connection until the returned guard drops. Call it
    /// when the operation starts (not when it is created), and keep the guard alive across
    /// the operation's `.await`.
    #[must_use = "the connection is released when the guard drops"]
    pub fn start(&self, counted: Counted) -> InFlight<'_> {
        self.call(counted);
        let in_flight = self.in_flight.get() + 1;
        self.in_flight.set(in_flight);
        let mut f = self.figures.get();
        f.peak_connections = f.peak_connections.max(in_flight);
        self.figures.set(f);
        InFlight { usage: self }
    }

    /// Connections in flight now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.get()
    }

    pub fn figures(&self) -> Figures {
        self.figures.get()
    }

    /// Every figure over its limit so far.
    pub fn overruns(&self, limits: &InvocationLimits) -> Vec<Overrun> {
        self.figures().overruns(limits)
    }

    /// The overruns not returned by an earlier call: a driver that counts *before* each
    /// operation and calls this right after logs each overrun once, before the platform
    /// would refuse the operation.
    pub fn fresh_overruns(&self, limits: &InvocationLimits) -> Vec<Overrun> {
        let reported = self.reported.get();
        let fresh: Vec<Overrun> = self.overruns(limits).into_iter().filter(|o| reported & bit(o.figure) == 0).collect();
        self.reported.set(fresh.iter().fold(reported, |r, o| r | bit(o.figure)));
        fresh
    }
}

fn bit(figure: Figure) -> u8 {
    1 << Figure::ALL.iter().position(|f| *f == figure).expect("every figure is in ALL")
}

/// One connection in flight; released when dropped.
#[derive(Debug)]
pub struct InFlight<'a> {
    usage: &'a Usage,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.usage.in_flight.set(self.usage.in_flight.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_usage_counts_each_kind_of_call() {
        let usage = Usage::new("w", "i");
        usage.call(Counted::ServiceBinding);
        usage.call(Counted::Subrequest);
        usage.call(Counted::D1Query);
        usage.call(Counted::QueueSend { messages: 100 });
        usage.call(Counted::AnalyticsPoint);
        usage.call(Counted::D1Batch { statements: 50 });
        let expected =
            Figures { subrequests: 5, service_binding_calls: 1, peak_connections: 0, ae_points: 1, d1_queries: 51, queue_messages: 100 };
        assert_eq!(usage.figures(), expected);
    }

    #[test]
    fn limits_usage_keeps_the_peak_of_connections_in_flight() {
        let usage = Usage::default();
        let a = usage.start(Counted::Subrequest);
        let b = usage.start(Counted::ServiceBinding);
        drop(a);
        let c = usage.start(Counted::D1Query);
        assert_eq!((usage.in_flight(), usage.figures().peak_connections), (2, 2));
        drop((b, c));
        let _d = usage.start(Counted::Subrequest);
        assert_eq!((usage.in_flight(), usage.figures().peak_connections), (1, 2));
    }

    #[test]
    fn limits_overruns_name_each_figure_over_its_limit_once() {
        let limits = InvocationLimits { subrequests: 3, service_binding_calls: 2, ..InvocationLimits::configured(Some(3)) };
        let usage = Usage::default();
        for _ in 0..3 {
            usage.call(Counted::ServiceBinding);
        }
        assert_eq!(usage.fresh_overruns(&limits), vec![Overrun { figure: Figure::ServiceBindingCalls, value: 3, limit: 2 }]);
        usage.call(Counted::ServiceBinding);
        let fresh = usage.fresh_overruns(&limits);
        assert_eq!(fresh, vec![Overrun { figure: Figure::Subrequests, value: 4, limit: 3 }]);
        assert_eq!(fresh[0].to_string(), "subrequests 4 over its limit of 3");
        assert_eq!(usage.overruns(&limits).len(), 2);
        assert!(usage.fresh_overruns(&limits).is_empty());
    }

    #[test]
    fn limits_invocation_limits_read_the_table() {
        assert_eq!(InvocationLimits::default().subrequests, SUBREQUESTS_DEFAULT);
        assert_eq!(InvocationLimits::configured(Some(50_000)).subrequests, 50_000);
        for figure in Figure::ALL {
            if let Some(limit) = InvocationLimits::default().of(figure).filter(|_| figure != Figure::Subrequests) {
                assert_eq!(super::super::find(figure.key()).map(|l| l.value), Some(limit), "{figure:?}");
            }
        }
    }
}
