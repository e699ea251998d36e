//! The fan-in of a monthly-analytics run: once every customer job of the run has ended, its
//! finalize job is sent, once. The ledger decides when a run is complete and answers `Enqueue`
//! to one request only ([`crate::ledger::runs::request_finalize`]); [`finalize_send`] decides,
//! for everyone who asks (the reports consumer after its verdicts, the dispatcher on its
//! ticks), whether a finalize job must be sent (again).

use std::collections::BTreeMap;

use crate::backoff::RetryPolicy;
use crate::ledger::FinalizeDecision;
use crate::pipeline::consumer::{Action, Settled};
use crate::pipeline::delivery::infra_retry;
use crate::ports::{JobQueue, ResultStore, RunFinalizer};
use crate::reports::jobs::{ReportJob, ReportWork};

/// When the ledger says a run's finalize job was requested this long ago (or longer) and its
/// report is still not written, the request is taken as lost (its sender failed after the
/// ledger's `Enqueue`) and the job is sent again; a duplicate is harmless, as the ledger
/// deduplicates it by job id. Younger requests are left alone, so duplicate deliveries of a
/// run's last jobs enqueue its finalize exactly once.
///
/// Two minutes: a finalize job reads one section per customer and writes one object, seconds
/// of work, so a request this old without its report was lost, not slow. It is also how long
/// the reports consumer waits before retrying the messages whose finalize send failed, so that
/// retry is the resend; and the dispatcher, ticking every 3 minutes, resends on its next tick
/// at the latest. (The dispatcher used to wait 10 minutes under the same name: one decision,
/// one value, now.)
pub const FINALIZE_RESEND_AFTER_MS: i64 = 120_000;

/// Whether to send a run's finalize job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizeSend {
    /// The run is not complete, or its finalize job was requested too recently to be lost.
    No,
    /// This request is the first to find the run complete.
    Yes,
    /// An earlier request is old enough to have been lost: send unless the finalize job's
    /// report is written. Only then is the report looked for.
    UnlessReportWritten,
}

/// What the ledger's answer to a fan-in request at `now_ms` means for the finalize job.
pub fn finalize_send(decision: &FinalizeDecision, now_ms: i64) -> FinalizeSend {
    match decision {
        FinalizeDecision::NotComplete => FinalizeSend::No,
        FinalizeDecision::Enqueue => FinalizeSend::Yes,
        FinalizeDecision::AlreadyRequested { at_ms } if now_ms - at_ms >= FINALIZE_RESEND_AFTER_MS => FinalizeSend::UnlessReportWritten,
        FinalizeDecision::AlreadyRequested { .. } => FinalizeSend::No,
    }
}

/// The ports the fan-in works with.
pub(super) struct FanIn<'a, F, Q, R> {
    /// The ledger's fan-in.
    pub(super) finalizer: &'a F,
    /// The reports queue, for the finalize job.
    pub(super) queue: &'a Q,
    /// The report objects: whether a finalize job's report is written.
    pub(super) results: &'a R,
}

impl<F: RunFinalizer, Q: JobQueue, R: ResultStore> FanIn<'_, F, Q, R> {
    /// The reports consumer's hook after the verdicts: one finalize request per
    /// monthly-analytics run whose customer jobs ended in the batch (now, or before this
    /// delivery). The messages of a run are acked only once its finalize decision is carried
    /// out.
    pub(super) async fn after_verdicts(&self, settled: &mut [Settled<'_, ReportJob>], now: &dyn Fn() -> i64, retry: &RetryPolicy) {
        let mut runs: BTreeMap<&str, (&ReportJob, Vec<usize>)> = BTreeMap::new();
        for (i, s) in settled.iter().enumerate() {
            let job = s.job;
            if s.ended && matches!(job.work, ReportWork::MonthlyCustomer { .. }) && s.action == Action::Ack {
                runs.entry(job.run_id.as_str()).or_insert_with(|| (job, Vec::new())).1.push(i);
            }
        }
        for (job, idx) in runs.into_values() {
            let oldest = idx.iter().map(|i| settled[*i].age_ms).max().unwrap_or(0);
            let failed = match self.finalize(job, now).await {
                Ok(()) => continue,
                // The finalize job could not be sent after the ledger's `Enqueue`: the retried
                // messages come back after the resend delay and send it again.
                Err(Failed::Send) => Action::Retry { delay_s: (FINALIZE_RESEND_AFTER_MS / 1000) as u32 },
                Err(Failed::Ledger) => infra_retry(retry, oldest),
            };
            for i in idx {
                settled[i].action = failed;
            }
        }
    }

    /// Carries out the fan-in for the run of `job` (one of its customer jobs).
    async fn finalize(&self, job: &ReportJob, now: &dyn Fn() -> i64) -> Result<(), Failed> {
        let now_ms = now();
        let finalize = ReportJob::single(&job.run_id, job.month, job.scheduled_ms, ReportWork::MonthlyFinalize);
        let decision = self.finalizer.request_finalize(&job.run_id, now_ms).await.map_err(|_| Failed::Ledger)?;
        let send = match finalize_send(&decision, now_ms) {
            FinalizeSend::No => false,
            FinalizeSend::Yes => true,
            FinalizeSend::UnlessReportWritten => !self.report_written(&finalize).await,
        };
        if send {
            self.queue.send_batch(&[finalize.encode()]).await.map_err(|_| Failed::Send)?;
        }
        Ok(())
    }

    /// Whether the finalize job's report is in R2 (written by that job). A failed look counts
    /// as "not written": the resend it causes is harmless.
    async fn report_written(&self, finalize: &ReportJob) -> bool {
        let Some(month) = finalize.month else { return false };
        matches!(self.results.job_of(&month.analytics_key()).await, Ok(Some(id)) if id == finalize.job_id)
    }
}

/// Why a run's fan-in could not be carried out.
enum Failed {
    /// The ledger could not be asked.
    Ledger,
    /// The finalize job could not be sent.
    Send,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finalize_job_is_sent_first_and_resent_only_when_its_request_is_old() {
        let check = |decision, now_ms, expected| assert_eq!(finalize_send(&decision, now_ms), expected, "{decision:?} at {now_ms}");
        check(FinalizeDecision::NotComplete, 1_000_000, FinalizeSend::No);
        check(FinalizeDecision::Enqueue, 1_000_000, FinalizeSend::Yes);
        let at_ms = 1_000_000;
        check(FinalizeDecision::AlreadyRequested { at_ms }, at_ms + 1, FinalizeSend::No);
        check(FinalizeDecision::AlreadyRequested { at_ms }, at_ms + FINALIZE_RESEND_AFTER_MS - 1, FinalizeSend::No);
        check(FinalizeDecision::AlreadyRequested { at_ms }, at_ms + FINALIZE_RESEND_AFTER_MS, FinalizeSend::UnlessReportWritten);
    }
}
