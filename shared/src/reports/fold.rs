//! The two reports over every customer, folded page by page (sans-IO: pages in, state held,
//! bytes out): the monthly analytics object ([`MonthlyFold`], the finalize job) and the
//! end-of-month final report ([`FinalFold`]). Each keeps only totals, the top few of each list
//! and at most a page of pending sections; each customer's line of the report leaves as bytes
//! at once, and the head (the totals) is cut at the end ([`ArraySplice`]). The bytes are those
//! of `monthly_report` and `final_report` serialized whole.

use std::collections::VecDeque;

use crate::reports::analytics::{monthly_report, CustomerMonthly, MonthlyReport, PlatformFold};
use crate::reports::forecast::mrr::{mrr_outlook_of, BillingHistory};
use crate::reports::forecast::scores::{gap_days, outlook_head, score_forecast, BacktestFold};
use crate::reports::forecast::Forecast;
use crate::reports::insights::InsightTally;
use crate::reports::period::Month;
use crate::reports::stream::{ArraySplice, StreamError};
use crate::reports::summary::{FinalReport, REPORT_VERSION};

/// The name of the per-customer list in both reports.
const LIST: &str = "customers";

/// The items of a list, in customer order.
#[derive(Debug)]
struct Items {
    splice: ArraySplice,
    count: u64,
    last: Option<String>,
}

impl Items {
    fn new(splice: ArraySplice) -> Self {
        Self { splice, count: 0, last: None }
    }

    /// The bytes of the next item, which must come after the previous one in customer order.
    fn next<T: serde::Serialize>(&mut self, customer: &str, item: &T, out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.last.as_deref().is_some_and(|last| last >= customer) {
            return Err(StreamError(format!("customer {customer} out of order after {}", self.last.as_deref().unwrap_or_default())));
        }
        self.last = Some(customer.to_owned());
        out.extend(self.splice.separator(self.count));
        out.extend(self.splice.item(item)?);
        self.count += 1;
        Ok(())
    }

    /// The head and tail of the finished report, cut where the placeholder's list was.
    fn close<T: serde::Serialize>(self, report: &T) -> Result<(Vec<u8>, Vec<u8>), StreamError> {
        let splice = ArraySplice::of(report, LIST)?;
        if splice.separator(0) != self.splice.separator(0) {
            return Err(StreamError("the report's list moved between its placeholder and its end".into()));
        }
        Ok((splice.head().to_vec(), splice.tail(self.count)))
    }
}

/// The monthly analytics object from a run's sections, read in customer order.
#[derive(Debug)]
pub struct MonthlyFold {
    month: String,
    generated_at: String,
    platform: PlatformFold,
    /// What worked across customers, counted one section at a time (never the sections).
    insights: InsightTally,
    items: Items,
}

impl MonthlyFold {
    pub fn new(month: &str, generated_at: &str) -> Result<Self, StreamError> {
        let placeholder = monthly_report(month, generated_at, Vec::new());
        let items = Items::new(ArraySplice::of(&placeholder, LIST)?);
        Ok(Self {
            month: month.to_owned(),
            generated_at: generated_at.to_owned(),
            platform: PlatformFold::default(),
            insights: InsightTally::default(),
            items,
        })
    }

    /// Adds a page of sections (in customer order, after the previous page's); answers their
    /// bytes in the object.
    pub fn add_page(&mut self, sections: &[CustomerMonthly]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        for s in sections {
            self.platform.add(s);
            self.insights.add(s);
            self.items.next(&s.customer_id, s, &mut out)?;
        }
        Ok(out)
    }

    /// The report without its sections (its platform report and insights), and the object's
    /// head (before the first section) and tail (after the last).
    pub fn finish(self) -> Result<(MonthlyReport, Vec<u8>, Vec<u8>), StreamError> {
        let report = MonthlyReport {
            platform: self.platform.finish(),
            insights: self.insights.finish(),
            ..monthly_report(&self.month, &self.generated_at, Vec::new())
        };
        let (head, tail) = self.items.close(&report)?;
        Ok((report, head, tail))
    }
}

/// Which month's sections the end-of-month fold takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The reported month.
    Month,
    /// The month before it.
    Previous,
}

/// The end-of-month final report: the billing history first ([`HistoryFold`], then
/// [`FinalFold::new`]), then both months' sections, each month in customer order, read as
/// [`FinalFold::wants`] says (so at most a page of each is pending). Each customer's score
/// forecast leaves as bytes as soon as both months are past it.
#[derive(Debug)]
pub struct FinalFold {
    month: Month,
    generated_at: String,
    history: BillingHistory,
    now: PlatformFold,
    before: PlatformFold,
    backtest: BacktestFold,
    gap: f64,
    items: Items,
    pending: [VecDeque<CustomerMonthly>; 2],
    done: [bool; 2],
}

impl FinalFold {
    pub fn new(month: Month, generated_at: &str, history: BillingHistory) -> Result<Self, StreamError> {
        let mut fold = Self {
            month,
            generated_at: generated_at.to_owned(),
            history,
            now: PlatformFold::default(),
            before: PlatformFold::default(),
            backtest: BacktestFold::new(month),
            gap: gap_days(month),
            items: Items::new(ArraySplice::empty()),
            pending: Default::default(),
            done: [false; 2],
        };
        fold.items = Items::new(ArraySplice::of(&fold.report(), LIST)?);
        Ok(fold)
    }

    /// The month whose next page to read, or `None` once both are read.
    pub fn wants(&self) -> Option<Which> {
        let open = |w: Which| !self.done[w as usize];
        [Which::Month, Which::Previous].into_iter().find(|w| open(*w) && self.pending[*w as usize].is_empty())
    }

    /// Adds a page of `which` month's sections (`last`: no page follows); answers the bytes of
    /// every customer both months are now past.
    pub fn add_page(&mut self, which: Which, sections: Vec<CustomerMonthly>, last: bool) -> Result<Vec<u8>, StreamError> {
        self.pending[which as usize].extend(sections);
        self.done[which as usize] |= last;
        let mut out = Vec::new();
        loop {
            let now = self.pending[0].front().map(|s| s.customer_id.as_str());
            let before = self.pending[1].front().map(|s| s.customer_id.as_str());
            let (take_now, take_before) = match (now, before) {
                (Some(n), Some(b)) => (n <= b, b <= n),
                (Some(_), None) => (self.done[1], false),
                (None, Some(_)) => (false, self.done[0]),
                (None, None) => break,
            };
            if !take_now && !take_before {
                break;
            }
            let n = if take_now { self.pending[0].pop_front() } else { None };
            let b = if take_before { self.pending[1].pop_front() } else { None };
            if let Some(b) = &b {
                self.before.add(b);
                self.backtest.add(b, n.as_ref());
            }
            if let Some(n) = &n {
                self.now.add(n);
                self.items.next(&n.customer_id, &score_forecast(n, self.gap), &mut out)?;
            }
        }
        Ok(out)
    }

    /// The report without its score forecasts' list (what the executive summary is made from),
    /// the object's head and its tail.
    pub fn finish(mut self) -> Result<(FinalReport, Vec<u8>, Vec<u8>), StreamError> {
        if self.wants().is_some() || self.pending.iter().any(|p| !p.is_empty()) {
            return Err(StreamError("the end-of-month report finished before both months were read".into()));
        }
        self.done = [true; 2];
        let report = self.report();
        let (head, tail) = std::mem::replace(&mut self.items, Items::new(ArraySplice::empty())).close(&report)?;
        Ok((report, head, tail))
    }

    /// The report as folded so far, with an empty list of score forecasts.
    fn report(&self) -> FinalReport {
        let bridge = |back: usize| self.history.bridges.iter().rev().nth(back).map(|(_, b)| b.clone()).unwrap_or_default();
        FinalReport {
            v: REPORT_VERSION,
            month: self.month.label(),
            generated_at: self.generated_at.clone(),
            revenue: bridge(0),
            previous_revenue: bridge(1),
            technical: self.now.clone().finish(),
            previous_technical: self.before.clone().finish(),
            forecast: Some(Forecast {
                mrr: mrr_outlook_of(self.month, &self.history),
                scores: outlook_head(self.month, self.backtest.clone().finish()),
            }),
        }
    }
}
