//! Cross-customer insights of a month: which recommendations were followed by score gains,
//! across all customers and per plan, with the sample behind each claim. The monthly analytics
//! stores them in its report ([`crate::reports::analytics::MonthlyReport::insights`], each an
//! [`Insight`]) and writes
//! the top few beside it as the platform context ([`context_key`]) that every optimization
//! request of the following month carries to the elite workers.
//!
//! **Method.** A customer counts when its section has scores at the month's first and last run
//! and an [`InsightSample`] (its plan and the recommendations of its first scored run). For a
//! cohort (`all`, or `plan:<plan>`) and a recommendation (role, area, action), the *advised* are
//! the cohort's customers whose first run gave it, the *others* the rest of the cohort; a
//! customer's gain is its score in that role at the month's last run minus at its first. An
//! insight states the advised's number, how many of them gained, their mean gain, and the
//! others' number and mean gain beside it. It is kept when at least [`MIN_CUSTOMERS`] were
//! advised and their mean gain is positive and above the others' (when there are others).
//!
//! This is "followed by", not "caused by": the elite workers do not know whether a customer
//! acted on a recommendation, and the comparison with the others is what keeps a month in
//! which every score rose from crediting every recommendation. Gains are integer hundredths
//! of a point, rounded half away from zero, so the report is exact and reproducible.

use std::collections::{BTreeMap, BTreeSet};

use crate::elite::{ContextInsight, EliteRole, PlatformContext, MAX_CONTEXT_INSIGHTS, PLATFORM_CONTEXT_VERSION};
use crate::reports::advice::{Advice, Insight};
use crate::reports::analytics::CustomerMonthly;
use crate::reports::period::Month;

#[cfg(test)]
mod tests;

/// The fewest advised customers behind a stored claim: fewer is an anecdote.
pub const MIN_CUSTOMERS: u64 = 3;
/// The most insights a report stores (best first).
pub const MAX_STORED: usize = 50;

/// `analytics/monthly/{year}/{month}/platform-context.json`: the platform context learned from
/// `month` (the report's top insights), small so the optimizer reads it once per batch.
pub fn context_key(month: Month) -> String {
    format!("analytics/monthly/{:04}/{:02}/platform-context.json", month.year, month.month)
}

/// The month whose insights a sweep scheduled in `sweep_month` carries: the one before.
pub fn context_month(sweep_month: Month) -> Month {
    sweep_month.previous()
}

/// `sum / n` hundredths, rounded half away from zero (`n` > 0).
fn mean_hundredths(sum: i64, n: u64) -> i64 {
    let (num, den) = (i128::from(sum) * 100, i128::from(n));
    let rounded = (num * 2 + num.signum() * den) / (2 * den);
    i64::try_from(rounded).unwrap_or(0)
}

/// `+1.50`, `-0.25`: hundredths of a point as a signed number of points.
pub fn points(hundredths: i64) -> String {
    let sign = if hundredths < 0 { "-" } else { "+" };
    format!("{sign}{}.{:02}", hundredths.unsigned_abs() / 100, hundredths.unsigned_abs() % 100)
}

fn role_index(role: EliteRole) -> usize {
    EliteRole::ALL.iter().position(|r| *r == role).unwrap_or(0)
}

/// The running counts of a month's insights: fed one section at a time (a page of sections
/// at a time, if the caller pages), it holds one entry per cohort and per (cohort,
/// recommendation), never the sections themselves, so its size does not grow with customers.
#[derive(Debug, Default)]
pub struct InsightTally {
    /// Per cohort: its size and its gain sums per role, for the others' side.
    cohorts: BTreeMap<String, (u64, [i64; 3])>,
    /// Per (cohort, recommendation): advised customers, how many gained, their gain sum.
    advised: BTreeMap<(String, Advice), (u64, u64, i64)>,
}

impl InsightTally {
    /// Counts one customer's month, if it has scores at both ends and a sample.
    pub fn add(&mut self, s: &CustomerMonthly) {
        let (Some(first), Some(last), Some(sample)) = (s.first_scores, s.last_scores, s.insight_sample.as_ref()) else { return };
        let gains = [0, 1, 2].map(|i| i64::from(last[i]) - i64::from(first[i]));
        let mut cohorts = vec!["all".to_owned()];
        cohorts.extend(sample.plan.map(|p| format!("plan:{}", p.as_str())));
        let unique: BTreeSet<&Advice> = sample.advice.iter().collect();
        for cohort in cohorts {
            let total = self.cohorts.entry(cohort.clone()).or_default();
            total.0 += 1;
            for (sum, gain) in total.1.iter_mut().zip(gains) {
                *sum += gain;
            }
            for a in &unique {
                let gain = gains[role_index(a.role)];
                let e = self.advised.entry((cohort.clone(), (*a).clone())).or_default();
                *e = (e.0 + 1, e.1 + u64::from(gain > 0), e.2 + gain);
            }
        }
    }

    /// Every insight that holds (see the module's method), best first: by mean gain, then by the
    /// gain over the others, then by sample size, then by name. At most [`MAX_STORED`].
    pub fn finish(self) -> Vec<Insight> {
        let cohorts = self.cohorts;
        let mut found: Vec<(Insight, i64)> = self
            .advised
            .into_iter()
            .filter(|(_, (n, _, _))| *n >= MIN_CUSTOMERS)
            .filter_map(|((cohort, a), (n, improved, sum))| {
                let (size, sums) = cohorts.get(&cohort).copied().unwrap_or_default();
                let others = size - n;
                let others_mean = (others > 0).then(|| mean_hundredths(sums[role_index(a.role)] - sum, others));
                let mean = mean_hundredths(sum, n);
                let lift = mean - others_mean.unwrap_or(0);
                let holds = mean > 0 && others_mean.is_none_or(|o| mean > o);
                let mut insight = Insight {
                    cohort,
                    role: a.role,
                    area: a.area,
                    action: a.action,
                    customers: n,
                    improved,
                    mean_gain_hundredths: mean,
                    others,
                    others_mean_gain_hundredths: others_mean,
                    claim: String::new(),
                };
                insight.claim = claim(&insight);
                holds.then_some((insight, lift))
            })
            .collect();
        found.sort_by(|(a, lift_a), (b, lift_b)| {
            (b.mean_gain_hundredths, lift_b, b.customers)
                .cmp(&(a.mean_gain_hundredths, lift_a, a.customers))
                .then_with(|| (&a.cohort, a.role, &a.area, &a.action).cmp(&(&b.cohort, b.role, &b.area, &b.action)))
        });
        found.into_iter().take(MAX_STORED).map(|(i, _)| i).collect()
    }
}

/// The claim sentence of an insight.
fn claim(i: &Insight) -> String {
    let who = match i.cohort.strip_prefix("plan:") {
        Some(plan) => format!("{plan}-plan customers"),
        None => "customers".to_owned(),
    };
    let others = match i.others_mean_gain_hundredths {
        Some(m) => format!(", against {} for the {} not so advised", points(m), i.others),
        None => String::new(),
    };
    format!(
        "{} of {} {who} advised by the {} worker to \"{}\" ({}) scored higher there by the month's last run: mean {} points{others}.",
        i.improved,
        i.customers,
        i.role.as_str(),
        i.action,
        i.area,
        points(i.mean_gain_hundredths),
    )
}

/// Every insight of a month's sections ([`InsightTally`] over all of them).
pub fn insights(sections: &[CustomerMonthly]) -> Vec<Insight> {
    let mut tally = InsightTally::default();
    for s in sections {
        tally.add(s);
    }
    tally.finish()
}

/// The platform context of `month`: its first [`MAX_CONTEXT_INSIGHTS`] insights; `None`
/// when the month taught nothing.
pub fn platform_context(month: Month, insights: &[Insight]) -> Option<PlatformContext> {
    let top: Vec<ContextInsight> = insights
        .iter()
        .take(MAX_CONTEXT_INSIGHTS)
        .map(|i| ContextInsight {
            role: i.role,
            area: i.area.clone(),
            action: i.action.clone(),
            cohort: i.cohort.clone(),
            customers: i.customers,
            improved: i.improved,
            mean_gain_hundredths: i.mean_gain_hundredths,
            claim: i.claim.clone(),
        })
        .collect();
    (!top.is_empty()).then(|| PlatformContext { v: PLATFORM_CONTEXT_VERSION, month: month.label(), insights: top })
}
