//! The producer's fan-out for one cron firing: open the sweep in the ledger, then page
//! through the active sites by keyset in the run's rotated order ([`super::rotation`]), send
//! their messages in queue-sized batches paced under the queue's throughput
//! ([`super::pacing`]), and record the cursor after every page so a producer that dies mid-way
//! is resumed, not restarted. A send the queue refuses is retried with backoff; a fault the
//! fan-out cannot ride out is retried by re-opening the run, which resumes after the last
//! recorded cursor; a fan-out that still dies leaves its cursor to the next sweep, which starts
//! there. A stalled sweep fired again long after its fan-out is re-driven: every site's job is
//! sent once more and nothing is counted (see [`OpenDecision::Redrive`]).
//!
//! How stale a site can get: with every fan-out finishing, each active site is sent once per
//! sweep (every 3 minutes), in an order that changes only when a fan-out dies. A fan-out that
//! dies leaves the sites after its last recorded cursor to the next sweep, which sends them
//! first; so consecutive dying fan-outs work through the sites in turn instead of re-sending the
//! same head. A site misses k sweeps in a row only if k fan-outs in a row die before reaching
//! it, which takes the k of them together sending fewer sites than stand ahead of it; one
//! fan-out that finishes sends every site. Its newest result is then at most (k + 1) × 3
//! minutes old, plus the consumers' backlog (proved by the `limits_fan_outs_the_queue_kills_*`
//! test in `shared/tests/limits.rs`).

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use futures::future::join3;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::config::ProducerConfig;
use crate::error::{ErrorClass, JobError};
use crate::ids::RunId;
use crate::ledger::heads::WorkFront;
use crate::ledger::{FanoutDone, OpenDecision, OpenRun, PageDone};
use crate::limits::{QUEUE_SEND_BATCH_BYTES, QUEUE_SEND_BATCH_MESSAGES};
use crate::pipeline::latest;
use crate::pipeline::pacing::{send_paced, Pacer};
use crate::pipeline::rotation::{by_shard, Rotation};
use crate::ports::{Clock, JobQueue, Ledger, SiteRegistry};
use crate::schedule::Task;
use crate::site::Site;
use crate::wire::{OptimizeJob, MAX_MESSAGE_BYTES};

/// Queues accept at most this many messages per `send_batch`.
pub const MAX_BATCH_MESSAGES: usize = QUEUE_SEND_BATCH_MESSAGES as usize;
/// Queues accept at most this many bytes per `send_batch`; a margin is kept for the
/// per-message overhead the runtime adds.
pub const MAX_BATCH_BYTES: usize = QUEUE_SEND_BATCH_BYTES as usize - 8 * 1024;
/// Sites read from the registry per page. 2,000 rather than 500 because a page read costs
/// nearly the same up to that size (the bench's profile: 20,000 rows read in 332 ms in pages
/// of 500, in 142 ms in pages of 2,000).
pub const PAGE_SIZE: u32 = 2_000;
/// How long a producer holds a sweep's fan-out before another firing may resume it.
pub const PRODUCER_LEASE_MS: i64 = 60_000;
/// `send_batch` calls in flight at once. With the next page's read and the previous page's
/// record running alongside, the producer holds at most 4 connections, inside the 6 an
/// invocation may open with the design's headroom (80 %: 4.8). At the default 4,000 msg/s a
/// slot comes every 25 ms, so two sends in flight keep pace while a send takes under 50 ms.
pub const SENDS_IN_FLIGHT: usize = 2;
/// Attempts of a whole fan-out within one invocation, the first included: after a fault the
/// sends' own retries could not ride out, the producer waits and re-opens its run, which
/// resumes after the last recorded cursor.
pub const FANOUT_ATTEMPTS: u32 = 3;
/// The wait before re-opening, times the attempt number.
pub const FANOUT_RETRY_MS: i64 = 5_000;

/// One cron firing to fan out.
#[derive(Debug, Clone)]
pub struct Firing {
    pub environment: String,
    pub task: Task,
    pub scheduled: DateTime<Utc>,
    /// A token unique to this invocation (the ledger refuses reports from a producer whose
    /// lease another one took over).
    pub owner: String,
}

impl Firing {
    pub fn sweep_id(&self) -> RunId {
        RunId::new(&self.environment, self.task, self.scheduled)
    }
}

/// What a fan-out did, for the log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FanoutReport {
    /// The run fanned out; `sweep_id` in the log line, which log searches match.
    #[serde(rename = "sweep_id")]
    pub run_id: String,
    /// `start`, `resume`, `redrive`, `already_enqueued` or `in_progress` (the first attempt's).
    pub decision: &'static str,
    /// Messages sent by this firing.
    pub sent: u64,
    pub pages: u32,
    /// Sends the queue refused and the producer retried (429s and other transient errors).
    pub send_retries: u64,
    /// Attempts of the whole fan-out ([`FANOUT_ATTEMPTS`] at most).
    pub attempts: u32,
    /// Job shards told that this sweep's fan-out finished (latest-wins; see [`super::latest`]).
    pub announced: u32,
    /// The fan-out's wall time: from the open to the finish, and for an optimization sweep
    /// from the work fronts' read to the announcements (what `cargo xtask bench` compares
    /// against the bare producer; the firing's alert tick after it is not in it).
    pub elapsed_ms: i64,
}

/// Splits bodies into send batches of at most [`MAX_BATCH_MESSAGES`] messages and
/// [`MAX_BATCH_BYTES`] bytes, in order.
pub fn batches(bodies: Vec<String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut bytes = 0;
    for body in bodies {
        let fits = out.last().is_some_and(|b| b.len() < MAX_BATCH_MESSAGES && bytes + body.len() <= MAX_BATCH_BYTES);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += body.len();
        out.last_mut().expect("pushed above").push(body);
    }
    out
}

/// One run to enqueue: an optimization sweep, or a report run (see `reports::jobs`).
#[derive(Debug, Clone)]
pub struct Run {
    pub run_id: String,
    pub task: Task,
    pub scheduled_ms: i64,
    /// Token of this producer invocation (see [`Firing::owner`]).
    pub owner: String,
    /// Where the work of the task's newest sweeps stands, per job shard (optimization sweeps
    /// only; see [`super::latest`]).
    pub work_fronts: Vec<WorkFront>,
    /// Job shards whose work front could not be read ([`latest::work_fronts`]).
    pub unread_shards: u32,
}

/// What a fan-out needs besides the run: the ports it drives, its clock and its pace.
pub struct Producer<'a, R, Q, L, C> {
    pub registry: &'a R,
    pub queue: &'a Q,
    pub ledger: &'a L,
    /// Reads the time and waits (pacing, backoff).
    pub clock: &'a C,
    pub config: &'a ProducerConfig,
}

/// Where a fan-out starts, as the ledger decided.
struct Start {
    /// Send the sites after this customer id, in the rotated order (all when `None`).
    cursor: Option<String>,
    /// Where the run's rotated order starts.
    origin: Option<String>,
    /// `start`, `resume` or `redrive`, for the log.
    decision: &'static str,
    /// Whether pages are recorded in the ledger (a re-drive records nothing: its sites were
    /// counted by the original fan-out).
    counted: bool,
    /// Whether each block of the order goes out by ledger shard ([`by_shard`]).
    by_shard: bool,
}

impl<R: SiteRegistry, Q: JobQueue, L: Ledger, C: Clock> Producer<'_, R, Q, L, C> {
    /// Opens `run` in the ledger: where to start, or why nothing is to be sent (`Err(decision)`).
    async fn open_run(&self, run: &Run, expected: u64) -> Result<Result<Start, &'static str>, JobError> {
        let open = OpenRun {
            run_id: run.run_id.clone(),
            owner: run.owner.clone(),
            task: run.task.as_str().to_owned(),
            scheduled_ms: run.scheduled_ms,
            expected,
            now_ms: self.clock.now_ms(),
            lease_ms: PRODUCER_LEASE_MS,
            work_fronts: run.work_fronts.clone(),
            unread_shards: run.unread_shards,
        };
        Ok(match self.ledger.open_run(&open).await? {
            OpenDecision::Start { origin, by_shard } => Ok(Start { cursor: None, origin, decision: "start", counted: true, by_shard }),
            OpenDecision::Resume { cursor, origin, by_shard, .. } => {
                Ok(Start { cursor, origin, decision: "resume", counted: true, by_shard })
            }
            OpenDecision::Redrive { origin, by_shard } => Ok(Start { cursor: None, origin, decision: "redrive", counted: false, by_shard }),
            OpenDecision::AlreadyEnqueued => Err("already_enqueued"),
            OpenDecision::InProgress { .. } => Err("in_progress"),
        })
    }

    /// Fans out one run over the active sites: `message` turns a site into the body to send
    /// (`None` skips it). A transient failure the sends' retries could not ride out is retried
    /// by re-opening the run (up to [`FANOUT_ATTEMPTS`]), which resumes after its last recorded
    /// cursor; a permanent one ends the fan-out at once.
    pub async fn fan_out_sites(&self, run: &Run, message: &dyn Fn(Site) -> Option<String>) -> Result<FanoutReport, JobError> {
        let (mut report, started_ms) = (idle(&run.run_id, ""), self.clock.now_ms());
        loop {
            report.attempts += 1;
            match self.fan_out_once(run, message, &mut report).await {
                Err(e) if e.class == ErrorClass::Transient && report.attempts < FANOUT_ATTEMPTS => {
                    let wait = FANOUT_RETRY_MS * i64::from(report.attempts);
                    self.clock.sleep_until(self.clock.now_ms() + wait).await;
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(FanoutReport { elapsed_ms: self.clock.now_ms() - started_ms, ..report }),
            }
        }
    }

    async fn fan_out_once(&self, run: &Run, message: &dyn Fn(Site) -> Option<String>, report: &mut FanoutReport) -> Result<(), JobError> {
        let expected = self.registry.count_active().await?;
        let opened = self.open_run(run, expected).await?;
        if report.decision.is_empty() {
            report.decision = opened.as_ref().map_or_else(|d| *d, |s| s.decision);
        }
        let Ok(Start { cursor, origin, counted, by_shard: shard_order, .. }) = opened else { return Ok(()) };
        let (mut rotation, first) = Rotation::new(origin, cursor);
        let pacer = RefCell::new(Pacer::new(self.config.send_rate_per_s));
        // Pipelined (the bench's profile: the page reads and the cursor records cost as much as
        // the sends): while a page's batches are sent, the next page is read and the previous
        // page's cursor is recorded (one ledger request per page, which also renews the
        // producer's lease). A cursor is recorded only after every message up to it was sent,
        // so a producer that dies resumes after the last recorded cursor and re-sends at most
        // two pages (the ledger absorbs the duplicates).
        let mut page = self.registry.active_page(first.as_deref(), PAGE_SIZE).await?;
        // The previous page: sent, and recorded alongside this page's sends.
        let mut due: Option<PageDone> = None;
        loop {
            let mut step = rotation.step(page);
            if shard_order {
                by_shard(&mut step.sites, self.ledger.shard_maps(), run.scheduled_ms);
            }
            let bodies: Vec<String> = step.sites.into_iter().filter_map(message).filter(|b| b.len() <= MAX_MESSAGE_BYTES).collect();
            let added = bodies.len() as u64;
            let chunks = batches(bodies);
            let sends = futures::stream::iter(&chunks)
                .map(|batch| send_paced(self.queue, self.clock, &pacer, batch))
                .buffer_unordered(SENDS_IN_FLIGHT)
                .try_fold(0u64, |sum, retries| async move { Ok(sum + u64::from(retries)) });
            let next = async {
                match &step.next {
                    Some(after) => self.registry.active_page(after.as_deref(), PAGE_SIZE).await.map(Some),
                    None => Ok(None),
                }
            };
            let record = async {
                match &due {
                    // A re-drive records nothing: the original fan-out counted its sites.
                    Some(done) if counted => self.ledger.record_page(done).await,
                    _ => Ok(()),
                }
            };
            let (retries, next, recorded) = join3(sends, next, record).await;
            report.send_retries += retries?;
            recorded?;
            due = step.cursor.map(|cursor| PageDone {
                run_id: run.run_id.clone(),
                owner: run.owner.clone(),
                cursor,
                added,
                now_ms: self.clock.now_ms(),
                lease_ms: PRODUCER_LEASE_MS,
            });
            report.sent += added;
            report.pages += u32::from(due.is_some());
            match next? {
                Some(read) => page = read,
                None => break,
            }
        }
        if let Some(done) = due.filter(|_| counted) {
            self.ledger.record_page(&done).await?;
        }
        if counted {
            let done = FanoutDone { run_id: run.run_id.clone(), owner: run.owner.clone(), now_ms: self.clock.now_ms() };
            self.ledger.finish_fanout(&done).await?;
        }
        Ok(())
    }

    /// Enqueues a run of one job (`subject` names it in the ledger's cursor).
    pub async fn enqueue_single(&self, run: &Run, subject: &str, body: String) -> Result<FanoutReport, JobError> {
        let started_ms = self.clock.now_ms();
        let (cursor, decision) = match self.open_run(run, 1).await? {
            // Only optimization sweeps are re-driven.
            Ok(Start { counted: false, .. }) => return Ok(idle(&run.run_id, "already_enqueued")),
            Ok(Start { cursor, decision, .. }) => (cursor, decision),
            Err(decision) => return Ok(idle(&run.run_id, decision)),
        };
        let mut report = FanoutReport { attempts: 1, ..idle(&run.run_id, decision) };
        // A resumed run whose cursor already names the job sent it before its producer died.
        if cursor.as_deref() != Some(subject) {
            let pacer = RefCell::new(Pacer::new(self.config.send_rate_per_s));
            report.send_retries = u64::from(send_paced(self.queue, self.clock, &pacer, &[body]).await?);
            let done = PageDone {
                run_id: run.run_id.clone(),
                owner: run.owner.clone(),
                cursor: subject.to_owned(),
                added: 1,
                now_ms: self.clock.now_ms(),
                lease_ms: PRODUCER_LEASE_MS,
            };
            self.ledger.record_page(&done).await?;
            report.sent = 1;
            report.pages = 1;
        }
        let done = FanoutDone { run_id: run.run_id.clone(), owner: run.owner.clone(), now_ms: self.clock.now_ms() };
        self.ledger.finish_fanout(&done).await?;
        report.elapsed_ms = self.clock.now_ms() - started_ms;
        Ok(report)
    }

    /// Fans out one optimization firing: one optimize job per active site, starting where the
    /// previous sweep's work stands; once every job is sent, the job shards are told, and
    /// supersede the older sweeps' jobs from then on ([`super::latest`]).
    pub async fn fan_out(&self, firing: &Firing) -> Result<FanoutReport, JobError> {
        let started_ms = self.clock.now_ms();
        let sweep_id = firing.sweep_id();
        let task = firing.task.as_str();
        let (work_fronts, unread_shards) = latest::work_fronts(self.ledger, task, firing.scheduled.timestamp_millis()).await;
        let run = Run {
            run_id: sweep_id.as_str().to_owned(),
            task: firing.task,
            scheduled_ms: firing.scheduled.timestamp_millis(),
            owner: firing.owner.clone(),
            work_fronts,
            unread_shards,
        };
        let message = |s: Site| Some(OptimizeJob::new(sweep_id.clone(), firing.scheduled, s.customer_id, s.url).encode());
        let mut report = self.fan_out_sites(&run, &message).await?;
        // Another producer fanning out right now announces when it finishes.
        if report.decision != "in_progress" {
            report.announced = latest::announce(self.ledger, task, run.scheduled_ms).await;
        }
        report.elapsed_ms = self.clock.now_ms() - started_ms;
        Ok(report)
    }
}

fn idle(run_id: &str, decision: &'static str) -> FanoutReport {
    FanoutReport { run_id: run_id.to_owned(), decision, sent: 0, pages: 0, send_retries: 0, attempts: 0, announced: 0, elapsed_ms: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sizes: &[usize], expected: &[usize]) {
        let bodies = sizes.iter().map(|n| "x".repeat(*n)).collect();
        let got: Vec<usize> = batches(bodies).iter().map(Vec::len).collect();
        assert_eq!(got, expected, "sizes {sizes:?}");
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        check(&[], &[]);
        check(&[10; 250], &[100, 100, 50]);
        // 2 KB messages: 124 fit in 248 KB, so the byte limit binds before the count.
        check(&[2_048; 100], &[100]);
        check(&[3_000; 100], &[84, 16]);
        check(&[MAX_BATCH_BYTES, 1], &[1, 1]);
    }

    #[test]
    fn a_re_drive_sends_every_site_again_and_records_nothing() {
        use crate::ids::{from_epoch_ms, CustomerId};
        use crate::site::SiteUrl;
        use crate::testkit::ports::{MemoryLedger, MemoryQueue, MemoryRegistry, SimClock};
        use futures::executor::block_on;

        let registry = MemoryRegistry::default();
        for i in 0..7 {
            let site = Site {
                customer_id: CustomerId::parse(&format!("c{i}")).unwrap(),
                url: SiteUrl::parse(&format!("https://{i}.example")).unwrap(),
            };
            registry.add(site, true);
        }
        let (queue, ledger) = (MemoryQueue::default(), MemoryLedger::default());
        let firing = |owner: &str| Firing {
            environment: "t".into(),
            task: Task::Optimize,
            scheduled: from_epoch_ms(0).unwrap(),
            owner: owner.into(),
        };
        // (now, decision, messages sent)
        for (now, decision, sent) in [(0, "start", 7), (1, "already_enqueued", 0), (2 + PRODUCER_LEASE_MS, "redrive", 7)] {
            queue.sent.borrow_mut().clear();
            let clock = SimClock::at(now);
            let config = ProducerConfig::default();
            let producer = Producer { registry: &registry, queue: &queue, ledger: &ledger, clock: &clock, config: &config };
            let report = block_on(producer.fan_out(&firing(&format!("p{now}")))).unwrap();
            assert_eq!((report.decision, report.sent), (decision, sent), "at {now}");
            assert_eq!(queue.sent.borrow().len() as u64, sent);
        }
        let progress = ledger.progress(firing("").sweep_id().as_str()).unwrap();
        assert_eq!((progress.expected, progress.enqueued, progress.firings), (7, 7, 3), "{progress:?}");
    }
}
