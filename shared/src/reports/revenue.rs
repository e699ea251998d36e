//! Revenue metrics of one month from billing events, with the standard SaaS definitions.
//! Money is integer cents throughout; rates are basis points (1 bp = 0.01 %), `None` where
//! the denominator is zero (a zero-MRR start has no churn rate).
//!
//! The input is each customer's MRR history: "from this instant, the customer pays X cents a
//! month" (`billing_events`, see `migrations/0005_billing.sql`). Each change inside the month
//! is classified against the customer's running MRR, never against a stored "before" value, so
//! the bridge always balances:
//!
//! `ending = starting + new + expansion + reactivation − contraction − churned`
//!
//! - **new**: 0 → X for a customer who never paid before;
//! - **reactivation**: 0 → X for a customer who paid before;
//! - **expansion** / **contraction**: X → Y with both above 0, by the difference;
//! - **churned**: X → 0, by X.
//!
//! A churn and a reactivation of one customer in the same month therefore count as both.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// "From `at_ms`, `customer_id` pays `mrr_cents` a month."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingEvent {
    pub customer_id: String,
    pub at_ms: i64,
    pub mrr_cents: i64,
}

impl BillingEvent {
    /// The largest MRR one event may carry: $1bn a month, far above any plan, far below where
    /// sums of cents could overflow.
    pub const MAX_MRR_CENTS: i64 = 100_000_000_000;

    /// Decodes and validates the admin API's body `{customer_id, at_ms, mrr_cents}`: a valid
    /// customer id, a representable instant, whole cents in `0..=MAX_MRR_CENTS`. The message
    /// says which field is wrong.
    pub fn decode(body: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            customer_id: String,
            at_ms: i64,
            mrr_cents: i64,
        }
        let w: Wire = serde_json::from_str(body).map_err(|e| format!("malformed billing event: {e}"))?;
        let customer = crate::ids::CustomerId::parse(&w.customer_id).map_err(|e| format!("customer_id: {e}"))?;
        if crate::ids::from_epoch_ms(w.at_ms).is_none() || w.at_ms < 0 {
            return Err(format!("at_ms: {} is not an instant after 1970 (epoch milliseconds)", w.at_ms));
        }
        if !(0..=Self::MAX_MRR_CENTS).contains(&w.mrr_cents) {
            return Err(format!("mrr_cents: {} is outside 0..={}", w.mrr_cents, Self::MAX_MRR_CENTS));
        }
        Ok(Self { customer_id: customer.as_str().to_owned(), at_ms: w.at_ms, mrr_cents: w.mrr_cents })
    }
}

/// The month's revenue bridge and rates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueMetrics {
    pub starting_mrr_cents: i64,
    pub new_mrr_cents: i64,
    pub expansion_mrr_cents: i64,
    pub contraction_mrr_cents: i64,
    pub churned_mrr_cents: i64,
    pub reactivation_mrr_cents: i64,
    pub ending_mrr_cents: i64,
    /// Customers paying at the start / at the end of the month.
    pub customers_at_start: u64,
    pub customers_at_end: u64,
    /// Customers paying at the start and not at the end.
    pub churned_customers: u64,
    pub new_customers: u64,
    /// churned customers / customers at start.
    pub customer_churn_rate_bp: Option<i64>,
    /// (churned + contraction) / starting MRR.
    pub gross_mrr_churn_rate_bp: Option<i64>,
    /// (starting + expansion − contraction − churned) / starting MRR.
    pub net_revenue_retention_bp: Option<i64>,
    /// Ending MRR per paying customer at the end, rounded down to the cent.
    pub arpa_cents: Option<i64>,
}

/// `numerator / denominator` in basis points, rounded half away from zero; `None` for a zero
/// denominator.
pub fn basis_points(numerator: i64, denominator: i64) -> Option<i64> {
    if denominator == 0 {
        return None;
    }
    let scaled = i128::from(numerator) * 10_000;
    let d = i128::from(denominator);
    let rounded = (scaled * 2 + scaled.signum() * d.abs()) / (2 * d);
    i64::try_from(rounded).ok()
}

/// Computes the metrics of the month `[start_ms, end_ms)` from every billing event up to
/// `end_ms` (earlier events give each customer's MRR at the start).
pub fn revenue_metrics(events: &[BillingEvent], start_ms: i64, end_ms: i64) -> RevenueMetrics {
    let mut by_customer: BTreeMap<&str, Vec<&BillingEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at_ms < end_ms) {
        by_customer.entry(e.customer_id.as_str()).or_default().push(e);
    }
    let mut m = RevenueMetrics::default();
    for history in by_customer.values_mut() {
        add_customer(&mut m, history, start_ms);
    }
    with_rates(m)
}

/// Adds one customer's history (its events before the month's end, in any order) to the
/// month's bridge; the bridge is additive over customers, so a report may read them in pages.
fn add_customer(m: &mut RevenueMetrics, history: &mut [&BillingEvent], start_ms: i64) {
    history.sort_by_key(|e| e.at_ms);
    let (before, during): (Vec<&BillingEvent>, Vec<&BillingEvent>) = history.iter().partition(|e| e.at_ms < start_ms);
    let start = before.last().map_or(0, |e| e.mrr_cents.max(0));
    let mut paid_before = before.iter().any(|e| e.mrr_cents > 0);
    let mut running = start;
    for e in during {
        let next = e.mrr_cents.max(0);
        match (running, next) {
            (0, 0) => {}
            (0, n) if paid_before => m.reactivation_mrr_cents += n,
            (0, n) => {
                m.new_mrr_cents += n;
                m.new_customers += 1;
            }
            (r, 0) => m.churned_mrr_cents += r,
            (r, n) if n > r => m.expansion_mrr_cents += n - r,
            (r, n) => m.contraction_mrr_cents += r - n,
        }
        paid_before |= next > 0;
        running = next;
    }
    m.starting_mrr_cents += start;
    m.ending_mrr_cents += running;
    m.customers_at_start += u64::from(start > 0);
    m.customers_at_end += u64::from(running > 0);
    m.churned_customers += u64::from(start > 0 && running == 0);
}

/// The bridge's rates, once every customer is added.
fn with_rates(mut m: RevenueMetrics) -> RevenueMetrics {
    let i = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    m.customer_churn_rate_bp = basis_points(i(m.churned_customers), i(m.customers_at_start));
    m.gross_mrr_churn_rate_bp = basis_points(m.churned_mrr_cents + m.contraction_mrr_cents, m.starting_mrr_cents);
    m.net_revenue_retention_bp =
        basis_points(m.starting_mrr_cents + m.expansion_mrr_cents - m.contraction_mrr_cents - m.churned_mrr_cents, m.starting_mrr_cents);
    m.arpa_cents = (m.customers_at_end > 0).then(|| m.ending_mrr_cents / i(m.customers_at_end));
    m
}

/// The bridges of consecutive months and the first paid instant, folded from the billing
/// history one page of whole customers at a time (pages in customer order, each customer's
/// events together), as [`revenue_metrics`] computes each month from every event at once.
#[derive(Debug, Clone)]
pub struct BridgeFold {
    months: Vec<(i64, i64)>,
    bridges: Vec<RevenueMetrics>,
    first_paid_ms: Option<i64>,
}

impl BridgeFold {
    /// A fold of the months `[start_ms, end_ms)`, oldest first.
    pub fn new(months: Vec<(i64, i64)>) -> Self {
        Self { bridges: vec![RevenueMetrics::default(); months.len()], months, first_paid_ms: None }
    }

    /// Adds a page of events ordered by customer, each customer's history whole.
    pub fn add_page(&mut self, events: &[BillingEvent]) {
        for history in events.chunk_by(|a, b| a.customer_id == b.customer_id) {
            for ((start_ms, end_ms), bridge) in self.months.iter().zip(&mut self.bridges) {
                let mut before_end: Vec<&BillingEvent> = history.iter().filter(|e| e.at_ms < *end_ms).collect();
                if !before_end.is_empty() {
                    add_customer(bridge, &mut before_end, *start_ms);
                }
            }
            let last_end = self.months.last().map_or(i64::MIN, |(_, end)| *end);
            let paid = history.iter().filter(|e| e.mrr_cents > 0 && e.at_ms < last_end).map(|e| e.at_ms).min();
            self.first_paid_ms = self.first_paid_ms.into_iter().chain(paid).min();
        }
    }

    /// Each month's bridge, oldest first, and the first paid instant before the last month's end.
    pub fn finish(self) -> (Vec<RevenueMetrics>, Option<i64>) {
        (self.bridges.into_iter().map(with_rates).collect(), self.first_paid_ms)
    }
}

impl RevenueMetrics {
    /// Whether the bridge balances (it always does when computed by [`revenue_metrics`]).
    pub fn balances(&self) -> bool {
        self.starting_mrr_cents + self.new_mrr_cents + self.expansion_mrr_cents + self.reactivation_mrr_cents
            - self.contraction_mrr_cents
            - self.churned_mrr_cents
            == self.ending_mrr_cents
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// November 2026: [2026-11-01, 2026-12-01).
    const START: i64 = 1_793_491_200_000;
    const END: i64 = START + 30 * DAY;

    fn ev(customer: &str, at_ms: i64, mrr_cents: i64) -> BillingEvent {
        BillingEvent { customer_id: customer.into(), at_ms, mrr_cents }
    }

    #[test]
    fn basis_points_round_half_away_from_zero() {
        assert_eq!(basis_points(1, 3), Some(3_333));
        assert_eq!(basis_points(2, 3), Some(6_667));
        assert_eq!(basis_points(-1, 3), Some(-3_333));
        assert_eq!(basis_points(1, 8), Some(1_250));
        assert_eq!(basis_points(5, 0), None);
    }

    /// A hand-computed month:
    /// - a: 100.00 before, upgraded to 150.00 → expansion 50.00
    /// - b: 200.00 before, downgraded to 120.00 → contraction 80.00
    /// - c: 300.00 before, churns → churned 300.00
    /// - d: paid 50.00 long ago, churned last month, comes back at 80.00 → reactivation 80.00
    /// - e: brand new at 99.00 → new 99.00
    /// - f: 400.00 before, churns and reactivates at 400.00 in the month → churned 400.00 and
    ///   reactivation 400.00, still a paying customer at the end
    /// - g: 250.00 before, untouched
    ///
    /// Start: a+b+c+f+g = 100+200+300+400+250 = 1250.00 (5 customers).
    /// End:   150+120+0+80+99+400+250 = 1099.00 (6 customers).
    #[test]
    fn a_month_with_every_movement() {
        let events = vec![
            ev("a", START - 40 * DAY, 10_000),
            ev("a", START + 3 * DAY, 15_000),
            ev("b", START - 10 * DAY, 20_000),
            ev("b", START + 5 * DAY, 12_000),
            ev("c", START - 90 * DAY, 30_000),
            ev("c", START + 9 * DAY, 0),
            ev("d", START - 200 * DAY, 5_000),
            ev("d", START - 20 * DAY, 0),
            ev("d", START + 12 * DAY, 8_000),
            ev("e", START + 15 * DAY, 9_900),
            ev("f", START - 60 * DAY, 40_000),
            ev("f", START + DAY, 0),
            ev("f", START + 2 * DAY, 40_000),
            ev("g", START - 5 * DAY, 25_000),
            // After the month: ignored.
            ev("g", END + DAY, 0),
        ];
        let m = revenue_metrics(&events, START, END);
        assert_eq!(m.starting_mrr_cents, 125_000);
        assert_eq!(m.new_mrr_cents, 9_900);
        assert_eq!(m.expansion_mrr_cents, 5_000);
        assert_eq!(m.contraction_mrr_cents, 8_000);
        assert_eq!(m.churned_mrr_cents, 30_000 + 40_000);
        assert_eq!(m.reactivation_mrr_cents, 8_000 + 40_000);
        assert_eq!(m.ending_mrr_cents, 109_900);
        assert!(m.balances());
        assert_eq!((m.customers_at_start, m.customers_at_end, m.churned_customers, m.new_customers), (5, 6, 1, 1));
        assert_eq!(m.customer_churn_rate_bp, Some(2_000)); // 1 of 5
        assert_eq!(m.gross_mrr_churn_rate_bp, Some(6_240)); // (700 + 80) / 1250
        assert_eq!(m.net_revenue_retention_bp, Some(4_160)); // (1250 + 50 − 80 − 700) / 1250 = 520 / 1250
        assert_eq!(m.arpa_cents, Some(18_316)); // 1099.00 / 6, rounded down
    }

    #[test]
    fn a_zero_mrr_start_has_no_rates_but_still_balances() {
        let events = vec![ev("x", START + DAY, 5_000), ev("y", START + 2 * DAY, 7_500)];
        let m = revenue_metrics(&events, START, END);
        assert_eq!((m.starting_mrr_cents, m.new_mrr_cents, m.ending_mrr_cents), (0, 12_500, 12_500));
        assert!(m.balances());
        assert_eq!((m.customer_churn_rate_bp, m.gross_mrr_churn_rate_bp, m.net_revenue_retention_bp), (None, None, None));
        assert_eq!(m.arpa_cents, Some(6_250));
    }

    fn check_decode(body: &str, expected: Result<BillingEvent, &str>) {
        match (BillingEvent::decode(body), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{body}"),
            (Err(got), Err(fragment)) => assert!(got.contains(fragment), "{body}: {got}"),
            (got, want) => panic!("{body}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn admin_billing_events_are_validated() {
        check_decode(r#"{"customer_id":"acme","at_ms":1793491200000,"mrr_cents":4900}"#, Ok(ev("acme", START, 4_900)));
        check_decode(r#"{"customer_id":"acme","at_ms":1793491200000,"mrr_cents":0}"#, Ok(ev("acme", START, 0)));
        check_decode(r#"{"customer_id":"a/b","at_ms":1,"mrr_cents":1}"#, Err("customer_id"));
        check_decode(r#"{"customer_id":"acme","at_ms":-5,"mrr_cents":1}"#, Err("at_ms"));
        check_decode(r#"{"customer_id":"acme","at_ms":1,"mrr_cents":-1}"#, Err("mrr_cents: -1"));
        check_decode(r#"{"customer_id":"acme","at_ms":1,"mrr_cents":1.5}"#, Err("malformed"));
        check_decode(r#"{"customer_id":"acme","at_ms":1}"#, Err("missing field `mrr_cents`"));
        check_decode(r#"{"customer_id":"acme","at_ms":1,"mrr_cents":1,"plan":"x"}"#, Err("unknown field"));
    }

    #[test]
    fn nothing_at_all_is_all_zero() {
        let m = revenue_metrics(&[], START, END);
        assert_eq!(m, RevenueMetrics { customer_churn_rate_bp: None, ..RevenueMetrics::default() });
        assert!(m.balances());
    }
}
