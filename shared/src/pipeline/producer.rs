//! The producer's fan-out for one cron firing: open the sweep in the ledger, then page
//! through the active sites by keyset, send their messages in queue-sized batches, and record
//! the cursor after every page so a producer that dies mid-way is resumed, not restarted. A
//! stalled sweep fired again long after its fan-out is re-driven: every site's job is sent
//! once more and nothing is counted (see [`OpenDecision::Redrive`]).

use chrono::{DateTime, Utc};
use futures::future::{join3, join_all};
use serde::Serialize;

use crate::error::JobError;
use crate::ids::RunId;
use crate::ledger::{FanoutDone, OpenDecision, OpenRun, PageDone};
use crate::ports::{JobQueue, Ledger, SiteRegistry};
use crate::schedule::Task;
use crate::site::Site;
use crate::wire::{OptimizeJob, MAX_MESSAGE_BYTES};

/// Queues accept at most this many messages per `send_batch`.
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Queues accept at most this many bytes per `send_batch`; a margin is kept for the
/// per-message overhead the runtime adds.
pub const MAX_BATCH_BYTES: usize = 256 * 1024 - 8 * 1024;
/// Sites read from the registry per page; a page's batches are sent concurrently. 2,000 rather
/// than 500 because a page read costs nearly the same up to that size (the bench's profile:
/// 20,000 rows read in 332 ms in pages of 500, in 142 ms in pages of 2,000).
pub const PAGE_SIZE: u32 = 2_000;
/// How long a producer holds a sweep's fan-out before another firing may resume it.
pub const PRODUCER_LEASE_MS: i64 = 60_000;

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
    /// `start`, `resume`, `redrive`, `already_enqueued` or `in_progress`.
    pub decision: &'static str,
    /// Messages sent by this firing.
    pub sent: u64,
    pub pages: u32,
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
}

/// Where a fan-out starts, as the ledger decided.
struct Start {
    /// Send the sites after this customer id (all when `None`).
    cursor: Option<String>,
    /// `start`, `resume` or `redrive`, for the log.
    decision: &'static str,
    /// Whether pages are recorded in the ledger (a re-drive records nothing: its sites were
    /// counted by the original fan-out).
    counted: bool,
}

/// Opens `run` in the ledger: where to start, or why nothing is to be sent (`Err(report)`).
async fn open_run(run: &Run, expected: u64, ledger: &impl Ledger, now: &dyn Fn() -> i64) -> Result<Result<Start, FanoutReport>, JobError> {
    let open = OpenRun {
        run_id: run.run_id.clone(),
        owner: run.owner.clone(),
        task: run.task.as_str().to_owned(),
        scheduled_ms: run.scheduled_ms,
        expected,
        now_ms: now(),
        lease_ms: PRODUCER_LEASE_MS,
    };
    Ok(match ledger.open_run(&open).await? {
        OpenDecision::Start => Ok(Start { cursor: None, decision: "start", counted: true }),
        OpenDecision::Resume { cursor, .. } => Ok(Start { cursor, decision: "resume", counted: true }),
        OpenDecision::Redrive => Ok(Start { cursor: None, decision: "redrive", counted: false }),
        OpenDecision::AlreadyEnqueued => Err(idle(&run.run_id, "already_enqueued")),
        OpenDecision::InProgress { .. } => Err(idle(&run.run_id, "in_progress")),
    })
}

/// Fans out one run over the active sites: `message` turns a site into the body to send
/// (`None` skips it). `now` reads the clock (a parameter, so tests step a simulated one).
pub async fn fan_out_sites(
    run: &Run,
    registry: &impl SiteRegistry,
    queue: &impl JobQueue,
    ledger: &impl Ledger,
    now: &dyn Fn() -> i64,
    message: &dyn Fn(Site) -> Option<String>,
) -> Result<FanoutReport, JobError> {
    let expected = registry.count_active().await?;
    let Start { cursor, decision, counted } = match open_run(run, expected, ledger, now).await? {
        Ok(start) => start,
        Err(report) => return Ok(report),
    };
    let mut report = FanoutReport { run_id: run.run_id.clone(), decision, sent: 0, pages: 0 };
    // Pipelined (the bench's profile: the page reads and the cursor records cost as much as
    // the sends): while a page's batches are sent, concurrently, the next page is read and the
    // previous page's cursor is recorded (one ledger request per page, which also renews the
    // producer's lease). A cursor is recorded only after every message up to it was sent, so a
    // producer that dies resumes after the last recorded cursor and re-sends at most two pages
    // (the ledger absorbs the duplicates).
    let mut page = registry.active_page(cursor.as_deref(), PAGE_SIZE).await?;
    // The previous page: sent, and recorded alongside this page's sends.
    let mut due: Option<PageDone> = None;
    // The page's raw last key, not its last valid site: a page of rows that all failed
    // validation must not end the fan-out.
    while let Some(last) = page.last_key.take() {
        let bodies: Vec<String> =
            std::mem::take(&mut page.sites).into_iter().filter_map(message).filter(|b| b.len() <= MAX_MESSAGE_BYTES).collect();
        let added = bodies.len() as u64;
        let chunks = batches(bodies);
        let sends = join_all(chunks.iter().map(|batch| queue.send_batch(batch)));
        let next = registry.active_page(Some(&last), PAGE_SIZE);
        let record = async {
            match &due {
                // A re-drive records nothing: the original fan-out counted its sites.
                Some(done) if counted => ledger.record_page(done).await,
                _ => Ok(()),
            }
        };
        let (sent, next, recorded) = join3(sends, next, record).await;
        sent.into_iter().collect::<Result<Vec<()>, JobError>>()?;
        recorded?;
        due = Some(PageDone {
            run_id: run.run_id.clone(),
            owner: run.owner.clone(),
            cursor: last,
            added,
            now_ms: now(),
            lease_ms: PRODUCER_LEASE_MS,
        });
        report.sent += added;
        report.pages += 1;
        page = next?;
    }
    if let Some(done) = due.filter(|_| counted) {
        ledger.record_page(&done).await?;
    }
    if counted {
        ledger.finish_fanout(&FanoutDone { run_id: run.run_id.clone(), owner: run.owner.clone(), now_ms: now() }).await?;
    }
    Ok(report)
}

/// Enqueues a run of one job (`subject` names it in the ledger's cursor).
pub async fn enqueue_single(
    run: &Run,
    queue: &impl JobQueue,
    ledger: &impl Ledger,
    now: &dyn Fn() -> i64,
    subject: &str,
    body: String,
) -> Result<FanoutReport, JobError> {
    let (cursor, decision) = match open_run(run, 1, ledger, now).await? {
        // Only optimization sweeps are re-driven.
        Ok(Start { counted: false, .. }) => return Ok(idle(&run.run_id, "already_enqueued")),
        Ok(Start { cursor, decision, .. }) => (cursor, decision),
        Err(report) => return Ok(report),
    };
    let mut report = FanoutReport { run_id: run.run_id.clone(), decision, sent: 0, pages: 0 };
    // A resumed run whose cursor already names the job sent it before its producer died.
    if cursor.as_deref() != Some(subject) {
        queue.send_batch(&[body]).await?;
        let done = PageDone {
            run_id: run.run_id.clone(),
            owner: run.owner.clone(),
            cursor: subject.to_owned(),
            added: 1,
            now_ms: now(),
            lease_ms: PRODUCER_LEASE_MS,
        };
        ledger.record_page(&done).await?;
        report.sent = 1;
        report.pages = 1;
    }
    ledger.finish_fanout(&FanoutDone { run_id: run.run_id.clone(), owner: run.owner.clone(), now_ms: now() }).await?;
    Ok(report)
}

/// Fans out one optimization firing: one optimize job per active site.
pub async fn fan_out(
    firing: &Firing,
    registry: &impl SiteRegistry,
    queue: &impl JobQueue,
    ledger: &impl Ledger,
    now: &dyn Fn() -> i64,
) -> Result<FanoutReport, JobError> {
    let sweep_id = firing.sweep_id();
    let run = Run {
        run_id: sweep_id.as_str().to_owned(),
        task: firing.task,
        scheduled_ms: firing.scheduled.timestamp_millis(),
        owner: firing.owner.clone(),
    };
    let message = |s: Site| Some(OptimizeJob::new(sweep_id.clone(), firing.scheduled, s.customer_id, s.url).encode());
    fan_out_sites(&run, registry, queue, ledger, now, &message).await
}

fn idle(run_id: &str, decision: &'static str) -> FanoutReport {
    FanoutReport { run_id: run_id.to_owned(), decision, sent: 0, pages: 0 }
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
        use crate::testkit::ports::{MemoryLedger, MemoryQueue, MemoryRegistry};
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
            let report = block_on(fan_out(&firing(&format!("p{now}")), &registry, &queue, &ledger, &|| now)).unwrap();
            assert_eq!((report.decision, report.sent), (decision, sent), "at {now}");
            assert_eq!(queue.sent.borrow().len() as u64, sent);
        }
        let progress = ledger.progress(firing("").sweep_id().as_str()).unwrap();
        assert_eq!((progress.expected, progress.enqueued, progress.firings), (7, 7, 3), "{progress:?}");
    }
}
