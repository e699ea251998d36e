//! Pages of the reads that cover every customer (the monthly finalize, the end-of-month
//! report): keyset pages in customer order, each holding whole customers, so a report folds one
//! page at a time and never holds a month of everyone's data. Page sizes are chosen against the
//! memory model (`limits::memory`) and the D1 queries an invocation may make.

use crate::reports::analytics::{CustomerMonthly, DailyRollup};
use crate::reports::revenue::BillingEvent;

/// Rows per page when every customer's rollups of a month are read (the end-of-month report,
/// one month after the other): about 31 rows a customer, so 100,000 customers take about 310
/// pages a month; a page is a few megabytes (see `limits::memory`).
pub const ROLLUP_PAGE_ROWS: usize = 10_000;
// A customer has at most 31 rollups in a month; a page must hold at least one whole customer.
const _: () = assert!(ROLLUP_PAGE_ROWS > 31);

/// Sections per page when a monthly-analytics run's sections are read back (its finalize):
/// one row per customer, 20 pages at 100,000 customers.
pub const SECTION_PAGE_ROWS: usize = 5_000;

/// Billing events per page when the billing history is read (the end-of-month report). A
/// customer's whole history must fit one page (see [`whole_customer_events`]).
pub const BILLING_PAGE_ROWS: usize = 10_000;

/// One page of a month's rollups, ordered by customer then day, holding whole customers only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RollupPage {
    pub rollups: Vec<DailyRollup>,
    /// The last customer of this page, to read the next page after; `None` on the last page.
    pub next_after: Option<String>,
}

/// One page of a run's sections, ordered by customer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SectionPage {
    pub sections: Vec<CustomerMonthly>,
    /// The last customer of this page; `None` on the last page.
    pub next_after: Option<String>,
}

/// One page of the billing history, ordered by customer then time, holding whole customers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BillingPage {
    pub events: Vec<BillingEvent>,
    /// The last customer of this page; `None` on the last page.
    pub next_after: Option<String>,
}

/// Cuts a read of up to `limit` rows (ordered by customer, then day) into a page of whole
/// customers: when the read came back full, its last customer may continue beyond it, so that
/// customer's rows are left for the next page. A short read is the last page.
pub fn whole_customers(rows: Vec<DailyRollup>, limit: usize) -> RollupPage {
    let (rollups, next_after, _) = whole_groups(rows, limit, |r| &r.customer_id);
    RollupPage { rollups, next_after }
}

/// [`whole_customers`] for billing events. One customer with a page's worth of events or more
/// cannot be read whole: an error naming the customer, not a silently shortened history.
pub fn whole_customer_events(rows: Vec<BillingEvent>, limit: usize) -> Result<BillingPage, String> {
    match whole_groups(rows, limit, |e| &e.customer_id) {
        (_, Some(customer), true) => {
            Err(format!("customer {customer} has {limit} billing events or more: more than one page of the billing history"))
        }
        (events, next_after, _) => Ok(BillingPage { events, next_after }),
    }
}

/// A page of sections read with `limit`: a full read may have more after its last customer.
pub fn section_page(sections: Vec<CustomerMonthly>, limit: usize) -> SectionPage {
    let next_after = (sections.len() >= limit).then(|| sections.last().map(|s| s.customer_id.clone())).flatten();
    SectionPage { sections, next_after }
}

/// The rows of whole customers of a read, the customer to read after, and whether one customer
/// filled the whole read (kept whole then, rather than lost).
fn whole_groups<T>(mut rows: Vec<T>, limit: usize, customer: impl Fn(&T) -> &String) -> (Vec<T>, Option<String>, bool) {
    if rows.len() < limit {
        return (rows, None, false);
    }
    let Some(last) = rows.last().map(|r| customer(r).clone()) else { return (rows, None, false) };
    let keep = rows.iter().position(|r| *customer(r) == last).unwrap_or(rows.len());
    if keep == 0 {
        return (rows, Some(last), true);
    }
    rows.truncate(keep);
    let next_after = rows.last().map(|r| customer(r).clone());
    (rows, next_after, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_whole_customers() {
        let row = |c: &str, d: u32| DailyRollup { runs: 1, ..crate::ledger::rollups::empty(c, &format!("2026-11-{d:02}")) };
        let ids = |p: &RollupPage| p.rollups.iter().map(|r| r.customer_id.clone()).collect::<Vec<_>>();
        let check = |rows: Vec<DailyRollup>, limit, expected_ids: &[&str], next: Option<&str>| {
            let page = whole_customers(rows, limit);
            assert_eq!((ids(&page), page.next_after.as_deref()), (expected_ids.iter().map(|s| s.to_string()).collect(), next));
        };
        // A short read is the last page.
        check(vec![row("a", 1), row("b", 1)], 3, &["a", "b"], None);
        check(Vec::new(), 3, &[], None);
        // A full read leaves its last customer (maybe cut) for the next page.
        check(vec![row("a", 1), row("a", 2), row("b", 1)], 3, &["a", "a"], Some("a"));
        check(vec![row("a", 1), row("b", 1), row("b", 2)], 3, &["a"], Some("a"));
        // One customer filling the page is kept whole.
        check(vec![row("a", 1), row("a", 2)], 2, &["a", "a"], Some("a"));
    }

    #[test]
    fn a_billing_history_longer_than_a_page_is_refused_not_cut() {
        let ev = |c: &str, at_ms| BillingEvent { customer_id: c.into(), at_ms, mrr_cents: 100 };
        let page = whole_customer_events(vec![ev("a", 1), ev("b", 1), ev("b", 2)], 3).unwrap();
        assert_eq!((page.events.len(), page.next_after.as_deref()), (1, Some("a")));
        assert!(whole_customer_events(vec![ev("b", 1), ev("b", 2)], 2).unwrap_err().contains("customer b"));
        assert_eq!(whole_customer_events(vec![ev("b", 1)], 2).unwrap().next_after, None);
    }
}
