//! The two report jobs that cover every customer, driven page by page so that a Worker holds
//! at most a page and two parts whatever the number of customers: the monthly finalize (a run's
//! sections → the monthly analytics object) and the end-of-month report (the billing history,
//! then both months' rollups → the final report, then its executive summary). The folding is
//! the core's ([`crate::reports::fold`]); this is the reading and the writing ([`Upload`]).

use super::work::{aggregate, put_json};
use crate::datapoints::{end_of_month_point, monthly_platform_point};
use crate::error::JobError;
use crate::ports::{Metrics, PartUploads, ReportStore, ResultStore};
use crate::reports::analytics::sections_of;
use crate::reports::fold::{FinalFold, MonthlyFold, Which};
use crate::reports::forecast::mrr::HistoryFold;
use crate::reports::insights::{context_key, platform_context};
use crate::reports::jobs::ReportJob;
use crate::reports::period::Month;
use crate::reports::stream::{Finished, Part, Parts, StreamError};
use crate::reports::summary::{executive_summary, FinalReport};

/// The monthly analytics object of a run's month, from the run's sections.
pub(super) async fn finalize<R: ResultStore + PartUploads>(
    store: &impl ReportStore,
    results: &R,
    metrics: &impl Metrics,
    job: &ReportJob,
    month: Month,
    generated_at: &str,
) -> Result<(), JobError> {
    let mut fold = MonthlyFold::new(&month.label(), generated_at).map_err(broken)?;
    let key = month.analytics_key();
    let mut upload = Upload::new(results, &key, &job.job_id);
    let written = async {
        let mut after: Option<String> = None;
        loop {
            let page = store.sections_page(&job.run_id, after.as_deref()).await?;
            upload.write(&fold.add_page(&page.sections).map_err(broken)?).await?;
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let (report, head, tail) = fold.finish().map_err(broken)?;
        upload.finish(&head, &tail).await?;
        Ok::<_, JobError>(report)
    }
    .await;
    let report = upload.settle(written).await?;
    // Written after the report, so a context always has its report beside it; `null` when the
    // month taught nothing, replacing an older run's context of the month.
    put_json(results, &context_key(month), &platform_context(month, &report.insights), job).await?;
    aggregate(metrics, monthly_platform_point(&report.month, &report.platform, report.insights.len()));
    Ok(())
}

/// The final report of `month` and then its executive summary (a summary in R2 always has its
/// report beside it).
pub(super) async fn end_of_month<R: ResultStore + PartUploads>(
    store: &impl ReportStore,
    results: &R,
    metrics: &impl Metrics,
    job: &ReportJob,
    month: Month,
    generated_at: &str,
) -> Result<(), JobError> {
    let mut history = HistoryFold::new(month);
    let before_ms = month.end().timestamp_millis();
    let mut after: Option<String> = None;
    loop {
        let page = store.billing_page(before_ms, after.as_deref()).await?;
        history.add_page(&page.events);
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut fold = FinalFold::new(month, generated_at, history.finish()).map_err(broken)?;
    let key = month.final_report_key();
    let mut upload = Upload::new(results, &key, &job.job_id);
    let written = async {
        let mut cursors: [Option<String>; 2] = [None, None];
        while let Some(which) = fold.wants() {
            let of = match which {
                Which::Month => month,
                Which::Previous => month.previous(),
            };
            let page = store.month_rollups_page(of, cursors[which as usize].as_deref()).await?;
            let last = page.next_after.is_none();
            cursors[which as usize] = page.next_after;
            upload.write(&fold.add_page(which, sections_of(&page.rollups), last).map_err(broken)?).await?;
        }
        let (report, head, tail) = fold.finish().map_err(broken)?;
        upload.finish(&head, &tail).await?;
        Ok::<FinalReport, JobError>(report)
    }
    .await;
    let report = upload.settle(written).await?;
    let summary = serde_json::to_vec_pretty(&executive_summary(&report))
        .map_err(|e| JobError::permanent(format!("{} does not serialize: {e}", month.executive_summary_key())))?;
    results.put(&month.executive_summary_key(), summary, &job.job_id).await?;
    aggregate(metrics, end_of_month_point(&report));
    Ok(())
}

/// A report that cannot be streamed will not stream on a retry either.
fn broken(e: StreamError) -> JobError {
    JobError::permanent(e.0)
}

/// One object written as a stream: one plain write if it stays within a part, a multipart
/// upload once it outgrows one ([`Parts`] decides; this carries it out).
pub(super) struct Upload<'a, R> {
    results: &'a R,
    key: &'a str,
    job_id: &'a str,
    parts: Option<Parts>,
    /// The multipart upload's id, once a part had to be sent.
    upload_id: Option<String>,
    sent: Vec<(u16, String)>,
}

impl<'a, R: ResultStore + PartUploads> Upload<'a, R> {
    pub(super) fn new(results: &'a R, key: &'a str, job_id: &'a str) -> Self {
        Self { results, key, job_id, parts: Some(Parts::new(results.part_bytes())), upload_id: None, sent: Vec::new() }
    }

    /// Appends bytes to the object, sending each part as it fills.
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), JobError> {
        for part in self.parts.as_mut().map(|p| p.push(bytes)).unwrap_or_default() {
            self.send(part).await?;
        }
        Ok(())
    }

    /// Writes the head and tail and whatever is held, and completes the object.
    pub(super) async fn finish(&mut self, head: &[u8], tail: &[u8]) -> Result<(), JobError> {
        let parts = self.parts.take().ok_or_else(|| JobError::permanent(format!("{} finished twice", self.key)))?;
        match parts.finish(head, tail).map_err(broken)? {
            Finished::Whole(body) => self.results.put(self.key, body, self.job_id).await,
            Finished::Parts(rest) => {
                for part in rest {
                    self.send(part).await?;
                }
                self.sent.sort_by_key(|(number, _)| *number);
                let id = self.upload_id.take().unwrap_or_default();
                self.results.complete_upload(self.key, &id, &self.sent).await
            }
        }
    }

    /// The outcome of the writing; a failed one aborts its upload (a failed abort is left to
    /// the bucket's expiry of incomplete uploads: the error that matters is the first).
    pub(super) async fn settle<T>(self, outcome: Result<T, JobError>) -> Result<T, JobError> {
        if outcome.is_err() {
            if let Some(id) = &self.upload_id {
                let _ = self.results.abort_upload(self.key, id).await;
            }
        }
        outcome
    }

    async fn send(&mut self, part: Part) -> Result<(), JobError> {
        let id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.results.start_upload(self.key, self.job_id).await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let etag = self.results.upload_part(self.key, &id, part.number, part.body).await?;
        self.sent.push((part.number, etag));
        Ok(())
    }
}
