//! A model of the memory one invocation holds at its peak, per invocation kind, against the
//! isolate's [`MEMORY_BYTES`](super::MEMORY_BYTES): bytes held as a function of the page sizes
//! the code reads with and of record sizes **measured** here from records the pipeline's own
//! types make, at their largest shape (64-character customer ids, 2,048-byte URLs, counts of a
//! site worked every minute of a day). Local workerd enforces no memory limit, so this model,
//! its test at 100,000 and 1,000,000 customers, and the bench's capacity table are what keep
//! the design inside it.
//!
//! What is counted at the peak of each kind, and the two stated allowances that are not
//! measured on this machine:
//! - a D1 or Durable Object read is held twice at once: as the JavaScript rows the runtime
//!   decoded ([`JS_BYTES_PER_JSON_BYTE`] per byte of the row's JSON text) and as the Rust values
//!   `serde_wasm_bindgen` made of them;
//! - bytes handed to a binding (a queue batch, an R2 part) are copied into JavaScript once;
//! - a streamed report holds its first part back and fills the current one
//!   (`reports::stream::Parts`: each exactly [`R2_PART_MIN_BYTES`], the head aside), beside
//!   the lines of the page just folded;
//! - [`ISOLATE_ALLOWANCE_BYTES`] for the runtime, the glue and the module's code and stack.
//!
//! The sizes are independent of the number of customers beyond one page: that is the design
//! (pages and streamed parts), and the test proves it by evaluating the model at both sizes.

use std::mem::size_of;

use crate::elite::{EliteRequest, EliteRole, ELITE_CONTRACT_VERSION};
use crate::ledger::rollups::FLUSH_MAX_ROWS;
use crate::optimization::OptimizationResult;
use crate::pipeline::producer::PAGE_SIZE;
use crate::reports::analytics::{customer_section, CustomerMonthly, DailyRollup, DURATION_BUCKETS_MS};
use crate::reports::forecast::scores::{gap_days, score_forecast};
use crate::reports::pages::{BILLING_PAGE_ROWS, ROLLUP_PAGE_ROWS, SECTION_PAGE_ROWS};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;
use crate::reports::stream::ArraySplice;
use crate::site::SiteUrl;

use super::{QUEUE_CONSUMER_BATCH, R2_PART_MIN_BYTES};

/// JavaScript bytes per byte of a row's JSON text once decoded to objects: one-byte strings
/// with a 12-16-byte header each, 8-16 bytes a number, an object's map and property slots.
/// An allowance (V8's heap is not measurable from Rust); twice the text covers the text D1
/// sent beside the objects made of it.
pub const JS_BYTES_PER_JSON_BYTE: u64 = 2;
/// The isolate before any data: the JavaScript runtime, the wasm-bindgen glue, the module's
/// code (each Worker's wasm is under 1 MB, BENCHMARKS.md) and the wasm stack. An allowance.
pub const ISOLATE_ALLOWANCE_BYTES: u64 = 16 * 1024 * 1024;

/// One record: its JSON text and what its Rust value holds (inline and on the heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub json: u64,
    pub rust: u64,
}

impl Record {
    fn of<T: serde::Serialize>(value: &T, heap: usize) -> Self {
        let json = serde_json::to_vec(value).map_or(0, |v| v.len()) as u64;
        Self { json, rust: (size_of::<T>() + heap) as u64 }
    }

    /// A read of `rows` of these, as JavaScript rows and Rust values at once.
    fn read(self, rows: u64) -> u64 {
        rows * (self.json * JS_BYTES_PER_JSON_BYTE + self.rust)
    }
}

/// The measured records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSizes {
    pub rollup: Record,
    pub section: Record,
    /// A section's lines in the monthly object (pretty JSON, indented).
    pub section_item: u64,
    /// A customer's score forecast's lines in the final report.
    pub forecast_item: u64,
    pub billing: Record,
    pub site: Record,
    /// An optimize message's body.
    pub job_message: u64,
    /// One elite answer (the stand-in's model of one; a real body is bounded by the optimizer's
    /// cap on elite bodies where one is set) and the optimization object of a job.
    pub elite_answer: Record,
    pub optimization: u64,
}

const LONGEST_ID: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

impl RecordSizes {
    /// Measures each record at its largest shape.
    pub fn measure() -> Self {
        let heap_rollup = |r: &DailyRollup| r.customer_id.len() + r.day.len() + r.duration_buckets.len() * 8;
        let mut rollup = crate::ledger::rollups::empty(LONGEST_ID, "2026-11-30");
        let busy = 1_440u64;
        rollup.duration_buckets = vec![busy; DURATION_BUCKETS_MS.len()];
        rollup = DailyRollup {
            runs: busy,
            successes: busy,
            transient_failures: busy,
            permanent_failures: busy,
            duration_ms_sum: 60_000 * busy as i64,
            score_sums: [100 * busy; 3],
            scored: busy,
            first_scores: Some([100; 3]),
            first_at_ms: Some(1_796_137_200_000),
            last_scores: Some([100; 3]),
            last_at_ms: Some(1_796_137_200_000),
            ..rollup
        };
        let days: Vec<DailyRollup> = (1..=31).map(|d| DailyRollup { day: format!("2026-10-{d:02}"), ..rollup.clone() }).collect();
        let mut section = customer_section(LONGEST_ID, &days);
        // Averages and trends with every digit a float prints.
        section.average_scores = [Some(100.0 / 3.0); 3];
        section.score_trend_per_day = [Some(-1.0 / 3.0); 3];
        let heap_section = |s: &CustomerMonthly| s.customer_id.len() + s.duration_buckets.len() * 8;
        let splice = ArraySplice::of(&crate::reports::analytics::monthly_report("2026-11", "now", Vec::new()), "customers");
        let item = |bytes: Option<Vec<u8>>| bytes.map_or(0, |b| b.len() as u64);
        let section_item = item(splice.as_ref().ok().and_then(|s| s.item(&section).ok()));
        let forecast = score_forecast(&section, gap_days(Month { year: 2026, month: 11 }));
        // Its lines sit three levels deep in the final report (`forecast.scores.customers`).
        let forecast_item =
            serde_json::to_vec_pretty(&forecast).map_or(0, |v| (v.len() + 8 * v.iter().filter(|b| **b == b'\n').count()) as u64);
        let billing = BillingEvent { customer_id: LONGEST_ID.into(), at_ms: 1_796_137_200_000, mrr_cents: BillingEvent::MAX_MRR_CENTS };
        let url = format!("https://{}.example/", "a".repeat(SiteUrl::MAX_LEN - 30));
        let site = crate::site::Site {
            customer_id: crate::ids::CustomerId::parse(LONGEST_ID).unwrap_or_else(|_| unreachable_id()),
            url: SiteUrl::parse(&url).unwrap_or_else(|_| unreachable_url()),
        };
        let scheduled = crate::ids::from_epoch_ms(1_796_137_200_000).unwrap_or_default();
        let run = crate::ids::RunId::new("production", crate::schedule::Task::Optimize, scheduled);
        let job = crate::wire::OptimizeJob::new(run, scheduled, site.customer_id.clone(), site.url.clone());
        let request = EliteRequest {
            v: ELITE_CONTRACT_VERSION,
            role: EliteRole::Developer,
            job_id: job.job_id.as_str().to_owned(),
            customer_id: LONGEST_ID.into(),
            site_url: url.clone(),
            scheduled_at: crate::ids::rfc3339(scheduled),
            // The stand-in's answer does not depend on the context.
            platform_context: None,
        };
        let answer = crate::standin::simulated_answer(&request);
        let answer_heap = answer.summary.len() + answer.recommendations.iter().map(|r| r.area.len() + r.action.len() + 64).sum::<usize>();
        let optimization = OptimizationResult::new(&job, 1, scheduled, [answer.clone(), answer.clone(), answer.clone()]);
        Self {
            rollup: Record::of(&rollup, heap_rollup(&rollup)),
            section: Record::of(&section, heap_section(&section)),
            section_item,
            forecast_item,
            billing: Record::of(&billing, billing.customer_id.len()),
            site: Record::of(&(LONGEST_ID, &url), LONGEST_ID.len() + url.len()),
            job_message: job.encode().len() as u64,
            elite_answer: Record::of(&answer, answer_heap),
            optimization: serde_json::to_vec_pretty(&optimization).map_or(0, |v| v.len() as u64),
        }
    }
}

fn unreachable_id() -> crate::ids::CustomerId {
    panic!("the longest customer id is valid")
}

fn unreachable_url() -> SiteUrl {
    panic!("the longest URL is valid")
}

/// The invocation kinds of the capacity table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// One cron firing of the dispatcher (a sweep's fan-out).
    Producer,
    /// One batch of the optimizer.
    OptimizerBatch,
    /// One batch of the reports consumer's per-customer jobs.
    ReportsBatch,
    /// The monthly finalize job.
    Finalize,
    /// The end-of-month job.
    EndOfMonth,
    /// One alarm of a ledger job shard (its rollup flush).
    LedgerAlarm,
}

impl Invocation {
    pub const ALL: [Invocation; 6] =
        [Self::Producer, Self::OptimizerBatch, Self::ReportsBatch, Self::Finalize, Self::EndOfMonth, Self::LedgerAlarm];

    /// Its name in the capacity table's JSON lines.
    pub fn key(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::OptimizerBatch => "optimizer_batch",
            Self::ReportsBatch => "reports_batch",
            Self::Finalize => "finalize",
            Self::EndOfMonth => "end_of_month",
            Self::LedgerAlarm => "ledger_alarm",
        }
    }
}

/// What an invocation holds at its peak, item by item, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peak(pub Vec<(&'static str, u64)>);

impl Peak {
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, b)| b).sum()
    }
}

/// The peak of `kind` with `customers` active customers (sites).
pub fn peak(kind: Invocation, customers: u64, sizes: &RecordSizes) -> Peak {
    let page = |rows: usize| customers.min(rows as u64);
    let part = R2_PART_MIN_BYTES;
    let batch = QUEUE_CONSUMER_BATCH.min(customers);
    let held = match kind {
        // Two pages of sites (the next is read while this one is sent), a page of message
        // bodies, and the same bodies copied into the page's batches in flight.
        Invocation::Producer => vec![
            ("two pages of sites", 2 * sizes.site.read(page(PAGE_SIZE as usize))),
            ("a page of messages, and their copy in flight", 2 * page(PAGE_SIZE as usize) * sizes.job_message),
        ],
        // A batch of messages, three elite answers and one optimization object per job.
        Invocation::OptimizerBatch => vec![
            ("a batch of messages", batch * sizes.job_message * (1 + JS_BYTES_PER_JSON_BYTE)),
            ("three elite answers a job", 3 * batch * (sizes.elite_answer.json * JS_BYTES_PER_JSON_BYTE + sizes.elite_answer.rust)),
            ("an optimization object a job, and its copy to R2", 2 * batch * sizes.optimization),
        ],
        // A month of rollups and a section per job.
        Invocation::ReportsBatch => vec![
            ("a month of rollups a job", sizes.rollup.read(31 * batch)),
            ("a section a job", batch * (sizes.section.rust + sizes.section.json)),
        ],
        Invocation::Finalize => {
            let rows = page(SECTION_PAGE_ROWS);
            // A section row is its customer id and its JSON text, decoded into a section.
            let read = rows * (sizes.section.json * (JS_BYTES_PER_JSON_BYTE + 1) + sizes.section.rust);
            let chunk = rows * sizes.section_item;
            vec![("a page of sections", read), ("the page's lines", chunk), ("parts: held first, current, copy to R2", 3 * part)]
        }
        Invocation::EndOfMonth => {
            let rows = page(ROLLUP_PAGE_ROWS);
            let billing = sizes.billing.read(page(BILLING_PAGE_ROWS));
            // A page of rollups being read, and up to a page of sections pending per month.
            let sections = rows * sizes.rollup.json * JS_BYTES_PER_JSON_BYTE + sizes.rollup.rust * rows + 2 * rows * sizes.section.rust;
            let chunk = rows * sizes.forecast_item;
            let phase = sections.max(billing);
            vec![
                ("a page of rollups or billing", phase),
                ("the page's lines", chunk),
                ("parts: held first, current, copy to R2", 3 * (part + chunk)),
            ]
        }
        // The rows a flush takes (SQLite rows as JavaScript, rollups, the D1 batch's values).
        Invocation::LedgerAlarm => {
            vec![("dirty rollups of one flush", sizes.rollup.read(FLUSH_MAX_ROWS as u64) + FLUSH_MAX_ROWS as u64 * sizes.rollup.json)]
        }
    };
    let mut all = vec![("isolate allowance", ISOLATE_ALLOWANCE_BYTES)];
    all.extend(held);
    Peak(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{within_headroom, MEMORY_BYTES};

    #[test]
    fn limits_memory_of_every_invocation_stays_within_headroom_at_100k_and_1m_customers() {
        let sizes = RecordSizes::measure();
        for kind in Invocation::ALL {
            let at = |n| peak(kind, n, &sizes).total();
            for n in [100_000, 1_000_000] {
                assert!(within_headroom(at(n), MEMORY_BYTES), "{} at {n}: {:?}", kind.key(), peak(kind, n, &sizes));
            }
            // Bounded: beyond a page, more customers hold nothing more.
            assert_eq!(at(100_000), at(1_000_000), "{}", kind.key());
            assert!(at(10) < at(100_000) || kind == Invocation::LedgerAlarm, "{} grows with its pages", kind.key());
        }
    }

    #[test]
    fn record_sizes_are_measured_from_the_pipelines_records() {
        let s = RecordSizes::measure();
        // The JSON of a 64-character id alone is 66 bytes; every record carries one.
        for (name, bytes) in [("rollup", s.rollup.json), ("section", s.section.json), ("billing", s.billing.json), ("site", s.site.json)] {
            assert!(bytes > 66, "{name}: {bytes}");
        }
        assert!(s.site.json > SiteUrl::MAX_LEN as u64 - 30 && s.job_message > SiteUrl::MAX_LEN as u64 - 30, "{s:?}");
        assert!(s.section_item > s.section.json, "pretty lines are longer than compact JSON: {s:?}");
        assert!(s.rollup.rust >= size_of::<DailyRollup>() as u64 + 64);
    }
}
