//! The elite circuit breakers, one per role (brand, designer, developer), as a pure state
//! machine over plain data; the ledger's `breakers` instance stores it ([`BREAKERS_OBJECT`]),
//! the optimizer asks it once per batch before claiming ([`Breakers::gate`]) and tells it once
//! per batch what its elite calls did ([`Breakers::report`]).
//!
//! - **closed**: calls flow. Every transient failure (5xx, 408, 429, timeout) and every call is
//!   counted over a window of [`BreakerPolicy::window_ms`]; once the window holds at least
//!   `min_calls` calls of which at least `failure_pct` % failed, the breaker opens.
//! - **open**: the role is taken as down. Jobs needing it are not claimed: they are retried
//!   after the cool-down with a queue delay, so no attempt is counted and nothing is
//!   dead-lettered while it lasts.
//! - **half open**: once the cool-down is over, the next batches may work `probes` jobs
//!   between them. Any transient failure of a probe re-opens the breaker with twice the
//!   cool-down (at most `max_cool_down_ms`); `probes` successful calls close it. Probes that
//!   never report (their consumer died, or their claim found nothing to do) are granted
//!   again after `probe_timeout_ms`.
//!
//! Every transition is recorded (time, role, from, to, reason, the window's calls and failures),
//! newest first, the last [`MAX_TRANSITIONS`] kept. [`Breakers::view`] is the JSON of `GET
//! /breakers` (and of the admin API's `GET /api/breakers`).

pub mod replay;

use serde::{Deserialize, Serialize};

use crate::elite::EliteRole;

/// The ledger instance that keeps the breakers (one Durable Object of the ledger's class, like
/// the run coordinator).
pub const BREAKERS_OBJECT: &str = "breakers";
/// Transitions kept, newest first.
pub const MAX_TRANSITIONS: usize = 50;

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerPolicy {
    pub window_ms: i64,
    /// Calls a window needs before its failure rate counts: a few failures of a quiet role
    /// are not an outage.
    pub min_calls: u64,
    pub failure_pct: u64,
    /// The first cool-down; each failed probe doubles it, up to `max_cool_down_ms`.
    pub cool_down_ms: i64,
    pub max_cool_down_ms: i64,
    /// Probe jobs per half-open period; as many successful calls close the breaker.
    pub probes: u32,
    /// Probes granted this long ago without any report are granted again.
    pub probe_timeout_ms: i64,
}

impl BreakerPolicy {
    /// Opens on half the calls of a minute failing (at least 10 calls); 30 s cool-down doubling
    /// to 4 min, so a role that heals is back within 4 minutes, and a job waiting through a
    /// 30-minute outage is delivered about 10 times (the optimizer's queue allows 100).
    pub const DEFAULT: Self = Self {
        window_ms: 60_000,
        min_calls: 10,
        failure_pct: 50,
        cool_down_ms: 30_000,
        max_cool_down_ms: 240_000,
        probes: 2,
        probe_timeout_ms: 60_000,
    };
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One role's breaker, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleBreaker {
    pub role: EliteRole,
    pub state: BreakerState,
    /// When it entered its state.
    pub since_ms: i64,
    /// Why it entered its state.
    pub reason: String,
    /// The current cool-down (open), or the one the next opening starts with.
    pub cool_down_ms: i64,
    /// Closed: the window's start and what it counted so far.
    pub window_start_ms: i64,
    pub calls: u64,
    pub failures: u64,
    /// Half open: probes still to grant, when the last were granted, successful probe calls.
    pub probes_left: u32,
    pub probes_at_ms: i64,
    pub probe_successes: u32,
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at_ms: i64,
    pub role: EliteRole,
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: String,
    /// The calls and failures that decided it (the window's, or the probes').
    pub calls: u64,
    pub failures: u64,
}

/// Every role's breaker and the recent transitions: the `breakers` instance's one stored row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breakers {
    pub policy: BreakerPolicy,
    pub roles: Vec<RoleBreaker>,
    /// Newest first, at most [`MAX_TRANSITIONS`].
    pub transitions: Vec<Transition>,
}

/// Body of `POST /breakers/gate`: a batch of `jobs` optimization jobs asks to be worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRequest {
    pub jobs: u32,
    pub now_ms: i64,
}

/// How many of the batch's jobs may be worked now; the others wait `retry_after_ms`, unclaimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateAnswer {
    pub admit: u32,
    pub retry_after_ms: i64,
    /// The roles that hold jobs back (open, or half open with every probe out).
    pub held_by: Vec<EliteRole>,
}

/// What one role's calls of a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleCalls {
    pub calls: u64,
    /// Transient failures (5xx, 408, 429, timeouts, network): what an outage looks like.
    pub failures: u64,
}

/// Body of `POST /breakers/report`: every role's calls of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerReport {
    pub calls: Vec<(EliteRole, RoleCalls)>,
    /// Jobs the gate admitted that made no elite call (their claim found them a duplicate,
    /// superseded or busy): probes given back to the half-open roles.
    #[serde(default)]
    pub unused: u32,
    pub now_ms: i64,
}

/// One breaker in `GET /breakers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerView {
    pub role: EliteRole,
    pub state: BreakerState,
    pub since_ms: i64,
    pub reason: String,
    pub cool_down_ms: i64,
}

/// The answer of `GET /breakers`: exactly `{"breakers":[...],"transitions":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakersView {
    pub breakers: Vec<BreakerView>,
    pub transitions: Vec<Transition>,
}

impl BreakersView {
    /// The view from an answer of `GET /breakers`: `None` (no breaker data, on which no alert
    /// opens or resolves) for anything but a 2xx answer in exactly this shape, such as a ledger
    /// built before the breakers (404).
    pub fn decode(status: u16, body: &str) -> Option<Self> {
        if !(200..300).contains(&status) {
            return None;
        }
        serde_json::from_str(body).ok()
    }
}

impl Breakers {
    /// Every role closed, since `now_ms`.
    pub fn new(policy: BreakerPolicy, now_ms: i64) -> Self {
        let roles = EliteRole::ALL
            .into_iter()
            .map(|role| RoleBreaker {
                role,
                state: BreakerState::Closed,
                since_ms: now_ms,
                reason: String::new(),
                cool_down_ms: policy.cool_down_ms,
                window_start_ms: now_ms,
                calls: 0,
                failures: 0,
                probes_left: 0,
                probes_at_ms: 0,
                probe_successes: 0,
            })
            .collect();
        Self { policy, roles, transitions: Vec::new() }
    }

    /// The state of `role`.
    pub fn state(&self, role: EliteRole) -> BreakerState {
        self.roles.iter().find(|r| r.role == role).map_or(BreakerState::Closed, |r| r.state)
    }

    /// Decides how many of `req.jobs` jobs may be worked now: every optimization job calls
    /// every role, so the most restrictive role decides. Half-open roles hand out their probes.
    pub fn gate(&mut self, req: &GateRequest) -> GateAnswer {
        let now = req.now_ms;
        let policy = self.policy;
        let mut admit = req.jobs;
        let mut retry_after_ms: i64 = 0;
        let mut held_by = Vec::new();
        let mut opened = Vec::new();
        for r in &mut self.roles {
            if r.state == BreakerState::Open && now >= r.since_ms + r.cool_down_ms {
                opened.push(r.role);
            }
        }
        for role in opened {
            self.shift(role, BreakerState::HalfOpen, now, "cool-down over: probing".into(), 0, 0);
        }
        for r in &mut self.roles {
            let (allowed, wait) = match r.state {
                BreakerState::Closed => (req.jobs, 0),
                BreakerState::Open => (0, r.since_ms + r.cool_down_ms - now),
                BreakerState::HalfOpen => {
                    if r.probes_left == 0 && now - r.probes_at_ms >= policy.probe_timeout_ms {
                        r.probes_left = policy.probes;
                    }
                    (r.probes_left.min(req.jobs), r.cool_down_ms)
                }
            };
            if allowed < req.jobs {
                held_by.push(r.role);
                retry_after_ms = retry_after_ms.max(wait);
            }
            admit = admit.min(allowed);
        }
        if admit > 0 {
            for r in self.roles.iter_mut().filter(|r| r.state == BreakerState::HalfOpen) {
                r.probes_left -= admit;
                r.probes_at_ms = now;
            }
        }
        GateAnswer { admit, retry_after_ms: if held_by.is_empty() { 0 } else { retry_after_ms.max(1_000) }, held_by }
    }

    /// Counts one batch's calls per role, and opens, re-opens or closes breakers on them.
    pub fn report(&mut self, req: &BreakerReport) {
        let now = req.now_ms;
        let policy = self.policy;
        for r in self.roles.iter_mut().filter(|r| r.state == BreakerState::HalfOpen) {
            r.probes_left = (r.probes_left + req.unused).min(policy.probes);
        }
        for (role, c) in &req.calls {
            let Some(r) = self.roles.iter_mut().find(|r| r.role == *role) else { continue };
            let shift = match r.state {
                BreakerState::Closed => {
                    if now - r.window_start_ms >= policy.window_ms {
                        (r.window_start_ms, r.calls, r.failures) = (now, 0, 0);
                    }
                    r.calls += c.calls;
                    r.failures += c.failures;
                    (r.calls >= policy.min_calls && r.failures * 100 >= policy.failure_pct * r.calls).then(|| {
                        let reason =
                            format!("{} of {} calls failed transiently within {} s", r.failures, r.calls, policy.window_ms / 1_000);
                        (BreakerState::Open, reason, r.calls, r.failures)
                    })
                }
                BreakerState::HalfOpen if c.failures > 0 => {
                    let reason = format!("a probe failed: {} of {} calls failed transiently", c.failures, c.calls);
                    Some((BreakerState::Open, reason, c.calls, c.failures))
                }
                BreakerState::HalfOpen => {
                    r.probe_successes = r.probe_successes.saturating_add(u32::try_from(c.calls).unwrap_or(u32::MAX));
                    let successes = u64::from(r.probe_successes);
                    (r.probe_successes >= policy.probes)
                        .then(|| (BreakerState::Closed, format!("{successes} probe calls succeeded"), successes, 0))
                }
                // Calls admitted before it opened: their failures are already the reason.
                BreakerState::Open => None,
            };
            if let Some((to, reason, calls, failures)) = shift {
                self.shift(*role, to, now, reason, calls, failures);
            }
        }
    }

    /// Moves `role` to `to`, recording the transition.
    fn shift(&mut self, role: EliteRole, to: BreakerState, now: i64, reason: String, calls: u64, failures: u64) {
        let policy = self.policy;
        let Some(r) = self.roles.iter_mut().find(|r| r.role == role) else { return };
        let from = r.state;
        r.cool_down_ms = match (from, to) {
            // A failed probe: a longer cool-down.
            (BreakerState::HalfOpen, BreakerState::Open) => (r.cool_down_ms * 2).min(policy.max_cool_down_ms),
            (_, BreakerState::Closed) | (BreakerState::Closed, BreakerState::Open) => policy.cool_down_ms,
            _ => r.cool_down_ms,
        };
        r.state = to;
        r.since_ms = now;
        r.reason.clone_from(&reason);
        (r.window_start_ms, r.calls, r.failures) = (now, 0, 0);
        (r.probes_left, r.probes_at_ms, r.probe_successes) = (if to == BreakerState::HalfOpen { policy.probes } else { 0 }, now, 0);
        self.transitions.insert(0, Transition { at_ms: now, role, from, to, reason, calls, failures });
        self.transitions.truncate(MAX_TRANSITIONS);
    }

    /// What must survive the instance: everything but a closed breaker's window counters. A
    /// request that changed only those (a report of a batch's calls while every breaker is
    /// closed, nearly every report) need not write; an instance that restarts starts its
    /// windows again, which delays an opening by at most one window.
    pub fn durable(&self) -> Breakers {
        let mut kept = self.clone();
        for r in kept.roles.iter_mut().filter(|r| r.state == BreakerState::Closed) {
            (r.window_start_ms, r.calls, r.failures) = (0, 0, 0);
        }
        kept
    }

    /// The answer of `GET /breakers`.
    pub fn view(&self) -> BreakersView {
        let breakers = self
            .roles
            .iter()
            .map(|r| BreakerView {
                role: r.role,
                state: r.state,
                since_ms: r.since_ms,
                reason: r.reason.clone(),
                cool_down_ms: r.cool_down_ms,
            })
            .collect();
        BreakersView { breakers, transitions: self.transitions.clone() }
    }
}

#[cfg(test)]
pub(crate) mod tests;
