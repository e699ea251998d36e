//! Twins for runs at a scale the in-memory twins cannot hold (a million customers' month of
//! rollups is tens of gigabytes as values): [`GeneratedReports`] makes each page's rows from
//! their position when it is read, as D1 would return them, and [`CountingObjects`] keeps an
//! object's size and parts instead of its bytes, checking R2's rules on parts. The bench's
//! capacity part runs the finalize and end-of-month jobs over them.

use std::cell::Cell;

use crate::error::JobError;
use crate::limits::R2_PARTS_MAX;
use crate::ports::{ObjectReader, PartUploads, ReportStore, ResultStore};
use crate::reports::analytics::{customer_section, CustomerMonthly, DailyRollup};
use crate::reports::pages::{
    section_page, whole_customer_events, whole_customers, BillingPage, RollupPage, SectionPage, BILLING_PAGE_ROWS, ROLLUP_PAGE_ROWS,
    SECTION_PAGE_ROWS,
};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;

/// A report store of `customers` customers, each with a rollup on every day of every month and
/// [`GeneratedReports::BILLING_EVENTS`] billing events, made on demand.
#[derive(Debug, Default)]
pub struct GeneratedReports {
    pub customers: u64,
    /// Rows handed out by page reads, for the bench's report.
    pub rows_read: Cell<u64>,
}

impl GeneratedReports {
    /// Billing events per customer: a sign-up, a plan change and a later change.
    pub const BILLING_EVENTS: u64 = 3;

    pub fn new(customers: u64) -> Self {
        Self { customers, rows_read: Cell::new(0) }
    }

    /// The id of customer `i` (ids sort as their positions do).
    pub fn customer(i: u64) -> String {
        format!("c{i:08}")
    }

    /// The position after customer `after`.
    fn first_after(after: Option<&str>) -> u64 {
        after.and_then(|a| a.strip_prefix('c')).and_then(|n| n.parse::<u64>().ok()).map_or(0, |n| n + 1)
    }

    fn rollup(i: u64, day: String) -> DailyRollup {
        let mut r = crate::ledger::rollups::empty(&Self::customer(i), &day);
        let score = (i % 90) as u8 + 5;
        r.runs = 480;
        r.successes = 470;
        r.transient_failures = 10;
        r.duration_ms_sum = 470 * 1_800;
        r.duration_buckets[4] = 470;
        r.score_sums = [u64::from(score) * 470; 3];
        r.scored = 470;
        r.first_scores = Some([score; 3]);
        r.last_scores = Some([score + 1; 3]);
        r
    }

    fn days(month: Month) -> Vec<String> {
        let n = month.end().signed_duration_since(month.start()).num_days();
        (1..=n).map(|d| format!("{}-{d:02}", month.label())).collect()
    }

    /// Rows `first..` of a read of `limit`, made by `row(customer)` for whole customers.
    fn read<T>(&self, after: Option<&str>, limit: usize, per_customer: impl Fn(u64) -> Vec<T>) -> Vec<T> {
        let mut rows = Vec::with_capacity(limit);
        let mut i = Self::first_after(after);
        while rows.len() < limit && i < self.customers {
            rows.extend(per_customer(i));
            i += 1;
        }
        rows.truncate(limit);
        self.rows_read.set(self.rows_read.get() + rows.len() as u64);
        rows
    }
}

impl ReportStore for GeneratedReports {
    async fn month_rollups(&self, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError> {
        let i = Self::first_after(Some(customer_id)).saturating_sub(1);
        Ok(Self::days(month).into_iter().map(|d| Self::rollup(i, d)).collect())
    }

    async fn month_rollups_page(&self, month: Month, after: Option<&str>) -> Result<RollupPage, JobError> {
        let days = Self::days(month);
        let rows = self.read(after, ROLLUP_PAGE_ROWS, |i| days.iter().map(|d| Self::rollup(i, d.clone())).collect());
        Ok(whole_customers(rows, ROLLUP_PAGE_ROWS))
    }

    async fn billing_page(&self, before_ms: i64, after: Option<&str>) -> Result<BillingPage, JobError> {
        let rows = self.read(after, BILLING_PAGE_ROWS, |i| {
            (0..Self::BILLING_EVENTS)
                .map(|k| BillingEvent {
                    customer_id: Self::customer(i),
                    at_ms: before_ms - (1 + i as i64 % 400 + k as i64 * 30) * 86_400_000,
                    mrr_cents: 4_900 * (1 + (i + k) as i64 % 3),
                })
                .rev()
                .collect()
        });
        whole_customer_events(rows, BILLING_PAGE_ROWS).map_err(JobError::permanent)
    }

    async fn customer_billing(&self, customer_id: &str, before_ms: i64) -> Result<Vec<BillingEvent>, JobError> {
        let i = Self::first_after(Some(customer_id)).saturating_sub(1);
        Ok((0..Self::BILLING_EVENTS)
            .map(|k| BillingEvent {
                customer_id: Self::customer(i),
                at_ms: before_ms - (1 + i as i64 % 400 + k as i64 * 30) * 86_400_000,
                mrr_cents: 4_900 * (1 + (i + k) as i64 % 3),
            })
            .rev()
            .collect())
    }

    async fn plan_of(&self, _customer_id: &str) -> Result<Option<crate::site::Plan>, JobError> {
        Ok(None)
    }

    async fn put_section(&self, _run_id: &str, _section: &CustomerMonthly) -> Result<(), JobError> {
        Ok(())
    }

    async fn sections_page(&self, _run_id: &str, after: Option<&str>) -> Result<SectionPage, JobError> {
        let month = Month { year: 2026, month: 11 };
        let days = Self::days(month);
        let rows = self.read(after, SECTION_PAGE_ROWS, |i| {
            let rollups: Vec<DailyRollup> = days.iter().take(2).map(|d| Self::rollup(i, d.clone())).collect();
            vec![customer_section(&Self::customer(i), &rollups)]
        });
        Ok(section_page(rows, SECTION_PAGE_ROWS))
    }
}

/// An object store that keeps sizes, not bytes: objects written, bytes, parts and the largest
/// part, with R2's rules on parts checked as the R2 twin checks them.
#[derive(Debug, Default)]
pub struct CountingObjects {
    pub puts: Cell<u64>,
    pub bytes: Cell<u64>,
    pub uploads: Cell<u64>,
    pub parts: Cell<u64>,
    pub largest_part: Cell<u64>,
    /// Bytes of the open upload's parts, by number, to check sizes on completion.
    open: std::cell::RefCell<std::collections::BTreeMap<u16, u64>>,
}

impl ResultStore for CountingObjects {
    async fn put(&self, _key: &str, body: Vec<u8>, _job_id: &str) -> Result<(), JobError> {
        self.puts.set(self.puts.get() + 1);
        self.bytes.set(self.bytes.get() + body.len() as u64);
        Ok(())
    }

    async fn job_of(&self, _key: &str) -> Result<Option<String>, JobError> {
        Ok(None)
    }
}

/// It keeps sizes, not bytes: every object reads as absent (a customer's insight sample is then
/// empty, as for an object that is gone), but each read is a call the meter counts.
impl ObjectReader for CountingObjects {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, JobError> {
        Ok(None)
    }
}

impl PartUploads for CountingObjects {
    fn part_bytes(&self) -> usize {
        crate::limits::R2_PART_MIN_BYTES as usize
    }

    async fn start_upload(&self, _key: &str, _job_id: &str) -> Result<String, JobError> {
        self.uploads.set(self.uploads.get() + 1);
        self.open.borrow_mut().clear();
        Ok(format!("upload-{}", self.uploads.get()))
    }

    async fn upload_part(&self, key: &str, _upload_id: &str, number: u16, body: Vec<u8>) -> Result<String, JobError> {
        if number == 0 || u64::from(number) > R2_PARTS_MAX {
            return Err(JobError::permanent(format!("part number {number} of {key} out of range")));
        }
        self.parts.set(self.parts.get() + 1);
        self.largest_part.set(self.largest_part.get().max(body.len() as u64));
        self.open.borrow_mut().insert(number, body.len() as u64);
        Ok(number.to_string())
    }

    async fn complete_upload(&self, key: &str, _upload_id: &str, parts: &[(u16, String)]) -> Result<(), JobError> {
        let open = std::mem::take(&mut *self.open.borrow_mut());
        if parts.len() != open.len() {
            return Err(JobError::permanent(format!("{key} completed with {} of {} parts", parts.len(), open.len())));
        }
        let sizes: Vec<(u16, usize)> = open.iter().map(|(n, s)| (*n, *s as usize)).collect();
        super::results::check_part_sizes(key, &sizes, self.part_bytes())?;
        self.puts.set(self.puts.get() + 1);
        self.bytes.set(self.bytes.get() + open.values().sum::<u64>());
        Ok(())
    }

    async fn abort_upload(&self, _key: &str, _upload_id: &str) -> Result<(), JobError> {
        self.open.borrow_mut().clear();
        Ok(())
    }
}
