//! The run coordinator's state machine: opening a run exactly once per (environment, task,
//! slot), recording the fan-out cursor page by page so a producer that died
//! resumes instead of starting over, combining the shards' counters into progress, and the
//! fan-in: answering exactly one request "enqueue the final job" once a run is complete.

use crate::pipeline::rotation::{next_origin, rank, worked_through};

use super::{
    FanoutDone, FinalizeDecision, FinalizeRequest, OpenDecision, OpenRun, PageDone, RunPhase, RunProgress, RunRow, ShardCounts, StoreError,
};

/// The rows the coordinator keeps.
pub trait RunTable {
    fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError>;
    fn put_run(&mut self, row: &RunRow) -> Result<(), StoreError>;
    /// The newest runs by scheduled time, newest first.
    fn recent(&self, limit: u32) -> Result<Vec<RunRow>, StoreError>;
}

/// Decides what a cron firing (or a catch-up, or a backfill) for a run must do.
pub fn open(table: &mut impl RunTable, req: &OpenRun) -> Result<OpenDecision, StoreError> {
    let Some(mut row) = table.run(&req.run_id)? else {
        let (origin, by_shard) = origin_of_new(table, req)?;
        table.put_run(&RunRow {
            run_id: req.run_id.clone(),
            task: req.task.clone(),
            scheduled_ms: req.scheduled_ms,
            phase: RunPhase::Enqueuing,
            cursor: None,
            origin: origin.clone(),
            by_shard,
            expected: req.expected,
            enqueued: 0,
            opened_ms: req.now_ms,
            producer_lease_until_ms: req.now_ms + req.lease_ms,
            producer_owner: Some(req.owner.clone()),
            fanout_done_ms: None,
            finished_ms: None,
            firings: 1,
            finalize_requested_ms: None,
        })?;
        abandon_stale(table, req)?;
        return Ok(OpenDecision::Start { origin, by_shard });
    };
    row.firings += 1;
    let stalled = |row: &RunRow| {
        super::is_optimization(&row.run_id)
            && row.finished_ms.is_none()
            && row.fanout_done_ms.is_some_and(|done| req.now_ms - done > req.lease_ms)
    };
    // A producer re-opening its own fan-out (it retries after a fault it could not ride out)
    // resumes it at once, without waiting for its own lease to lapse.
    let own = row.producer_owner.as_deref() == Some(req.owner.as_str());
    let decision = match row.phase {
        RunPhase::Enqueued if stalled(&row) => OpenDecision::Redrive { origin: row.origin.clone(), by_shard: row.by_shard },
        RunPhase::Enqueued | RunPhase::Abandoned => OpenDecision::AlreadyEnqueued,
        RunPhase::Enqueuing if row.producer_lease_until_ms > req.now_ms && !own => {
            OpenDecision::InProgress { lease_until_ms: row.producer_lease_until_ms }
        }
        RunPhase::Enqueuing => {
            row.producer_lease_until_ms = req.now_ms + req.lease_ms;
            row.producer_owner = Some(req.owner.clone());
            OpenDecision::Resume { cursor: row.cursor.clone(), enqueued: row.enqueued, origin: row.origin.clone(), by_shard: row.by_shard }
        }
    };
    table.put_run(&row)?;
    Ok(decision)
}

/// Where a new run's fan-out starts, and whether it sends by shard. An optimization sweep
/// starts where the previous sweep of its task stopped (`pipeline::rotation::next_origin`):
/// after the last site that sweep sent when its fan-out died (abandoned or still unfinished),
/// or after the last site its work reached (`OpenRun::work_fronts`), else at that sweep's own
/// origin. So a site left unsent by a dead fan-out, or unworked by an overloaded sweep, is among
/// the first the next sweep sends, and neither a fan-out that keeps dying at the same place nor
/// a sweep that is always cut short can starve the sites behind it. Report runs start from the
/// first customer.
///
/// A sweep sends by shard (`pipeline::rotation::by_shard`: fewer ledger requests and rows per
/// job) when the previous sweep of its task was worked through when it opened
/// (`pipeline::rotation::worked_through`): the work keeps up, so the exact order matters
/// little. After a sweep that had not finished (overload, or an outage),
/// it sends in the plain rotated order, whose work front is exact (see "Overload" in
/// ARCHITECTURE.md).
fn origin_of_new(table: &impl RunTable, req: &OpenRun) -> Result<(Option<String>, bool), StoreError> {
    if !super::is_optimization(&req.run_id) {
        return Ok((None, false));
    }
    let previous = table.recent(STALE_SCAN)?.into_iter().find(|r| r.task == req.task && r.scheduled_ms < req.scheduled_ms);
    let by_shard = previous.as_ref().is_some_and(|p| worked_through(p, &req.work_fronts));
    Ok((previous.and_then(|p| next_origin(&p, &req.work_fronts, req.unread_shards)), by_shard))
}

/// How many recent sweeps a new sweep looks through for stale fan-outs to abandon; older ones
/// are pruned after the retention whatever their phase.
const STALE_SCAN: u32 = 50;

/// When a new sweep starts, an older sweep of the same task whose producer died mid-fan-out
/// (lease lapsed) will never be resumed by Cloudflare, which does not fire a past time again;
/// the new sweep covers its remaining sites. It is closed as abandoned so its progress can
/// complete over what it did enqueue.
fn abandon_stale(table: &mut impl RunTable, req: &OpenRun) -> Result<(), StoreError> {
    for mut row in table.recent(STALE_SCAN)? {
        let stale = row.task == req.task
            && row.phase == RunPhase::Enqueuing
            && row.scheduled_ms < req.scheduled_ms
            && row.producer_lease_until_ms <= req.now_ms;
        if stale {
            row.phase = RunPhase::Abandoned;
            row.expected = row.enqueued;
            row.fanout_done_ms = Some(req.now_ms);
            row.producer_owner = None;
            table.put_run(&row)?;
        }
    }
    Ok(())
}

/// Refuses reports from a producer that no longer holds the sweep's lease.
fn check_owner(row: &RunRow, owner: &str) -> Result<(), StoreError> {
    if row.producer_owner.as_deref() == Some(owner) {
        Ok(())
    } else {
        Err(StoreError(format!("sweep {}: this producer's lease was taken over; it must stop", row.run_id)))
    }
}

/// Records that the messages of one page were sent. A page at or before the recorded cursor
/// was already counted (a resumed producer re-sent it) and changes nothing.
pub fn record_page(table: &mut impl RunTable, req: &PageDone) -> Result<(), StoreError> {
    let mut row = table.run(&req.run_id)?.ok_or_else(|| StoreError(format!("page recorded for unknown sweep {}", req.run_id)))?;
    check_owner(&row, &req.owner)?;
    let origin = row.origin.as_deref();
    if row.cursor.as_deref().is_some_and(|c| rank(c, origin) >= rank(&req.cursor, origin)) {
        return Ok(());
    }
    row.cursor = Some(req.cursor.clone());
    row.enqueued += req.added;
    row.producer_lease_until_ms = req.now_ms + req.lease_ms;
    table.put_run(&row)
}

/// Records that every message was sent; from now on `expected` is exactly what was sent.
pub fn finish_fanout(table: &mut impl RunTable, req: &FanoutDone) -> Result<(), StoreError> {
    let mut row = table.run(&req.run_id)?.ok_or_else(|| StoreError(format!("fan-out finished for unknown sweep {}", req.run_id)))?;
    if row.phase != RunPhase::Enqueuing {
        return Ok(());
    }
    check_owner(&row, &req.owner)?;
    row.phase = RunPhase::Enqueued;
    row.expected = row.enqueued;
    row.fanout_done_ms = Some(req.now_ms);
    row.producer_lease_until_ms = 0;
    row.producer_owner = None;
    table.put_run(&row)
}

/// Combines a sweep row with its shards' counters. When the sweep is complete and its finish
/// time not yet recorded, returns the row to store with `finished_ms` set (the last terminal
/// time across shards, not the time of this read).
pub fn progress(row: &RunRow, shards: &[ShardCounts]) -> (RunProgress, Option<RunRow>) {
    let sum = |f: fn(&ShardCounts) -> u64| shards.iter().map(f).sum::<u64>();
    let (succeeded, dead, superseded) = (sum(|c| c.succeeded), sum(|c| c.dead), sum(|c| c.superseded));
    let complete = row.phase != RunPhase::Enqueuing && succeeded + dead + superseded >= row.expected;
    let mut finished_ms = row.finished_ms;
    let mut update = None;
    if complete && finished_ms.is_none() {
        let last = shards.iter().filter_map(|c| c.last_terminal_ms).max();
        finished_ms = Some(last.into_iter().chain(row.fanout_done_ms).max().unwrap_or(row.opened_ms));
        update = Some(RunRow { finished_ms, ..row.clone() });
    }
    let progress = RunProgress {
        run_id: row.run_id.clone(),
        task: row.task.clone(),
        scheduled_ms: row.scheduled_ms,
        phase: row.phase,
        expected: row.expected,
        enqueued: row.enqueued,
        in_flight: sum(|c| c.in_flight),
        retrying: sum(|c| c.retrying),
        succeeded,
        dead,
        superseded,
        duplicates: sum(|c| c.duplicates),
        firings: row.firings,
        started_ms: row.opened_ms,
        fanout_done_ms: row.fanout_done_ms,
        finished_ms,
        complete,
    };
    (progress, update)
}

/// The fan-in of a run (e.g. the monthly analytics' per-customer jobs, then one finalize job):
/// the first request that finds the run complete, by `shards`' counters gathered after the
/// caller's own job was recorded, is answered [`FinalizeDecision::Enqueue`] and recorded;
/// every later one is told when that was. Run in one transaction with the read of the row, so
/// two requests that both see the run complete cannot both be answered `Enqueue`.
///
/// The finalize job is one more job of the run, so `Enqueue` also adds it to `expected`: the
/// run reads complete (and gets its finish time) only once the final report is written, and
/// its progress never shows more jobs succeeded than expected.
pub fn request_finalize(table: &mut impl RunTable, req: &FinalizeRequest, shards: &[ShardCounts]) -> Result<FinalizeDecision, StoreError> {
    let Some(row) = table.run(&req.run_id)? else {
        // Unknown (never opened, or pruned): no run to finish.
        return Ok(FinalizeDecision::NotComplete);
    };
    if let Some(at_ms) = row.finalize_requested_ms {
        return Ok(FinalizeDecision::AlreadyRequested { at_ms });
    }
    if !progress(&row, shards).0.complete {
        return Ok(FinalizeDecision::NotComplete);
    }
    table.put_run(&RunRow { finalize_requested_ms: Some(req.now_ms), expected: row.expected + 1, ..row })?;
    Ok(FinalizeDecision::Enqueue)
}
