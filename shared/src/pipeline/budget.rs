//! What one consumer invocation may start, by the platform's per-invocation limits (see
//! [`crate::limits`]):
//!
//! - **Service-binding calls in total.** A request may make at most
//!   [`limits::SERVICE_BINDING_CALLS`] Worker invocations through service bindings ("subsequent
//!   calls will throw"), read as a count per invocation. The design keeps to
//!   [`limits::HEADROOM_PERCENT`] of it: [`service_binding_budget`] calls. [`admit`] takes a
//!   batch's jobs in order while their calls fit; the rest are deferred (retried at once, never
//!   claimed, so no attempt is counted). Deployed configs keep `max_batch_size` at or below
//!   [`jobs_per_invocation`] (the configuration check refuses more), so deferral is a guard,
//!   not the plan.
//! - **Simultaneous connections.** At most [`limits::CONNECTIONS`] per invocation; further calls
//!   wait, and a call whose timeout is already running would time out while waiting. The design
//!   keeps to [`connection_budget`] (80 %: four of six, so a connection the model missed, say the
//!   runtime's own, still never makes a call wait). [`bounded`] runs the claimed jobs with at
//!   most [`jobs_in_flight`] at once, each job's work created only when it starts, so each call's
//!   timeout starts with the call; [`Slots`] shares the connections call by call, for a kind
//!   whose job makes several calls at once (an optimization's three) so that the budget's last
//!   slot is not left idle.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::StreamExt;

use crate::limits;

/// The retry delay of a job deferred for the invocation's budget: it was never claimed, so the
/// next invocation may take it at once.
pub const DEFERRED_DELAY_S: u32 = 1;

/// Service-binding calls one invocation may make: the limit with the design's headroom.
pub const fn service_binding_budget() -> u32 {
    (limits::SERVICE_BINDING_CALLS * limits::HEADROOM_PERCENT / 100) as u32
}

/// Connections one invocation may hold open at once: the limit with the design's headroom (4
/// of 6). `ELITE_CALLS_IN_FLIGHT` defaults to it and may not exceed it.
pub const fn connection_budget() -> u32 {
    (limits::CONNECTIONS * limits::HEADROOM_PERCENT / 100) as u32
}

/// The most jobs making `calls_per_job` service-binding calls each that one invocation may
/// take: the largest `max_batch_size` a consumer of such jobs may have.
pub const fn jobs_per_invocation(calls_per_job: u32) -> u32 {
    match service_binding_budget().checked_div(calls_per_job) {
        Some(jobs) => jobs,
        // Jobs without service-binding calls: only the queue's own batch limit.
        None => limits::QUEUE_CONSUMER_BATCH as u32,
    }
}

/// Which of a batch's jobs this invocation takes, in order, given each job's service-binding
/// calls: `true` while the running total fits the budget. A job that does not fit is deferred,
/// and so is every later one (a batch is not reordered to squeeze a cheap job in).
pub fn admit(calls_per_job: impl IntoIterator<Item = u32>) -> Vec<bool> {
    let budget = service_binding_budget();
    let mut used = 0u32;
    let mut open = true;
    calls_per_job
        .into_iter()
        .map(|calls| {
            open = open && used + calls <= budget;
            if open {
                used += calls;
            }
            open
        })
        .collect()
}

/// How many jobs may work at once when each holds up to `connections_per_job` connections
/// and the invocation keeps at most `in_flight` open: at least one (a job needing more than
/// the bound still runs, alone).
pub fn jobs_in_flight(in_flight: u32, connections_per_job: u32) -> usize {
    (in_flight / connections_per_job.max(1)).max(1) as usize
}

/// Runs `work` over `items` with at most `concurrency` at once and returns the outputs in
/// the items' order. An item's future is created only when a slot frees, so nothing of it
/// (a timer included) starts before it may run.
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    let count = items.len();
    let work = &work;
    let mut done: Vec<(usize, R)> = futures::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| async move { (i, work(item).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    done.sort_unstable_by_key(|(i, _)| *i);
    debug_assert_eq!(done.len(), count);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Connections shared call by call within one invocation: a call takes a slot when it starts
/// and gives it back when it ends; a call that finds none free waits, not yet started (its
/// future is created only once it holds a slot, so its timeout starts with it). Single-threaded,
/// as an invocation is. Every release wakes every waiter, which then race for the slot: no
/// wake-up is lost to a waiter that was dropped meanwhile, and an invocation has a few dozen
/// calls at most.
#[derive(Debug)]
pub struct Slots {
    free: Cell<u32>,
    waiting: RefCell<Vec<Waker>>,
}

impl Slots {
    /// `slots` connections (at least one).
    pub fn new(slots: u32) -> Self {
        Self { free: Cell::new(slots.max(1)), waiting: RefCell::new(Vec::new()) }
    }

    /// Runs `call` once a slot is free, holding it until the call ends.
    pub async fn run<Fut: Future>(&self, call: impl FnOnce() -> Fut) -> Fut::Output {
        Take(self).await;
        let _held = Held(self);
        call().await
    }
}

/// Waits for a free slot and takes it.
struct Take<'a>(&'a Slots);

impl Future for Take<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let slots = self.0;
        match slots.free.get() {
            0 => {
                let mut waiting = slots.waiting.borrow_mut();
                if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
                Poll::Pending
            }
            free => {
                slots.free.set(free - 1);
                Poll::Ready(())
            }
        }
    }
}

/// A taken slot, given back when dropped (the call ended, or was dropped itself).
struct Held<'a>(&'a Slots);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        let waiting = std::mem::take(&mut *self.0.waiting.borrow_mut());
        waiting.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::config::ELITE_CALLS_PER_JOB;
    use crate::testkit::metered::YieldOnce;

    #[test]
    fn limits_the_budget_keeps_a_fifth_of_the_service_binding_limit() {
        assert_eq!(service_binding_budget(), 25);
        assert!(limits::within_headroom(u64::from(service_binding_budget()), limits::SERVICE_BINDING_CALLS));
        assert!(!limits::within_headroom(u64::from(service_binding_budget()) + 1, limits::SERVICE_BINDING_CALLS));
        assert_eq!(jobs_per_invocation(ELITE_CALLS_PER_JOB), 8);
        assert_eq!(jobs_per_invocation(6), 4);
        assert_eq!(jobs_per_invocation(0), 100);
    }

    #[test]
    fn limits_the_connection_budget_keeps_a_fifth_of_the_connections() {
        assert_eq!(connection_budget(), 4);
        assert!(limits::within_headroom(u64::from(connection_budget()), limits::CONNECTIONS));
        assert!(!limits::within_headroom(u64::from(connection_budget()) + 1, limits::CONNECTIONS));
    }

    #[test]
    fn limits_slots_share_the_connections_call_by_call() {
        // Three jobs of three calls each over four slots: the slots stay full (a job's calls
        // and the next job's first), never more; a call runs only once it holds a slot.
        let slots = Slots::new(4);
        let (open, peak, started) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
        let call = |rounds: u32| {
            let (open, peak, started) = (&open, &peak, &started);
            slots.run(move || async move {
                started.set(started.get() + 1);
                open.set(open.get() + 1);
                peak.set(peak.get().max(open.get()));
                for _ in 0..rounds {
                    YieldOnce(false).await;
                }
                open.set(open.get() - 1);
                rounds
            })
        };
        let job = |i: u32| async move { futures::join!(call(i + 1), call(2), call(3)) };
        let first = futures::future::join3(job(0), job(1), job(2));
        let mut first = Box::pin(first);
        let waker = futures::task::noop_waker();
        assert!(first.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        assert_eq!((started.get(), open.get()), (4, 4), "the fifth call waits, not started");
        let out = futures::executor::block_on(first);
        assert_eq!(out, ((1, 2, 3), (2, 2, 3), (3, 2, 3)));
        assert_eq!((peak.get(), started.get(), open.get()), (4, 9, 0));
        assert_eq!(slots.free.get(), 4, "every slot is given back");
    }

    #[test]
    fn limits_admit_takes_jobs_in_order_while_their_calls_fit() {
        assert_eq!(admit([3; 10]), [true, true, true, true, true, true, true, true, false, false]);
        assert_eq!(admit([0, 6, 6, 6, 6, 6, 0]), [true, true, true, true, true, false, false]);
        assert_eq!(admit([0; 100]).iter().filter(|t| **t).count(), 100);
        assert_eq!(admit([30, 0]), [false, false]);
    }

    #[test]
    fn limits_jobs_in_flight_never_exceed_the_bound_but_one_job_always_runs() {
        assert_eq!(jobs_in_flight(6, 3), 2);
        assert_eq!(jobs_in_flight(5, 3), 1);
        assert_eq!(jobs_in_flight(6, 1), 6);
        assert_eq!(jobs_in_flight(6, 0), 6);
        assert_eq!(jobs_in_flight(3, 6), 1);
    }

    #[test]
    fn limits_bounded_work_keeps_order_and_never_starts_more_than_the_bound() {
        let running = Cell::new(0u32);
        let peak = Cell::new(0u32);
        let started = Cell::new(0u32);
        let out = futures::executor::block_on(bounded((0..20u32).collect(), 2, |i| {
            let (running, peak, started) = (&running, &peak, &started);
            async move {
                // Runs only once the job is polled: this is where a call's timer would start.
                started.set(started.get() + 1);
                running.set(running.get() + 1);
                peak.set(peak.get().max(running.get()));
                for _ in 0..(i % 3) {
                    YieldOnce(false).await;
                }
                YieldOnce(false).await;
                running.set(running.get() - 1);
                i * 10
            }
        }));
        assert_eq!(out, (0..20).map(|i| i * 10).collect::<Vec<_>>());
        assert_eq!((peak.get(), started.get()), (2, 20));
    }
}
