//! The data of the cross-customer insights ([`crate::reports::insights`] computes them): what
//! one customer's month contributes (its plan, and the recommendations its first scored
//! optimization of the month gave, read back from that one R2 object by the customer's monthly
//! job with [`advice_of`]), and an [`Insight`] as the monthly report stores it. Kept apart from
//! the computation so the analytics' types can hold these without depending on it.

use serde::{Deserialize, Serialize};

use crate::elite::{EliteResponse, EliteRole};
use crate::optimization::OptimizationResult;
use crate::site::Plan;

/// Most recommendations a section keeps per role: the sample is about what the elite workers
/// led with, and a section stays small in D1.
pub const MAX_ADVICE_PER_ROLE: usize = 3;
/// Longest area or action kept, in bytes (cut at a character boundary): the strings come from
/// the elite workers and end up in every next month's request.
pub const MAX_ADVICE_TEXT: usize = 120;

/// One recommendation, with the role that gave it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Advice {
    pub role: EliteRole,
    pub area: String,
    pub action: String,
}

/// A customer's part of the insight computation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InsightSample {
    /// The customer's plan in the registry; `None` if the customer is no longer there.
    pub plan: Option<Plan>,
    /// The recommendations of the month's first scored optimization, each once.
    pub advice: Vec<Advice>,
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The advice of one optimization object: each role's first recommendations, cut to size,
/// sorted and without repeats.
pub fn advice_of(result: &OptimizationResult) -> Vec<Advice> {
    let answers: [&EliteResponse; 3] = [&result.brand, &result.designer, &result.developer];
    let mut advice: Vec<Advice> = answers
        .iter()
        .flat_map(|a| {
            a.recommendations.iter().take(MAX_ADVICE_PER_ROLE).map(|r| Advice {
                role: a.role,
                area: cut(&r.area, MAX_ADVICE_TEXT),
                action: cut(&r.action, MAX_ADVICE_TEXT),
            })
        })
        .collect();
    advice.sort();
    advice.dedup();
    advice
}

/// One insight, as the monthly report stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insight {
    /// `all`, or `plan:<plan>`.
    pub cohort: String,
    pub role: EliteRole,
    pub area: String,
    pub action: String,
    /// The cohort's customers whose first run of the month gave this recommendation.
    pub customers: u64,
    /// Of those, how many scored higher in the role at the month's last run.
    pub improved: u64,
    /// Their mean change of the role's score, hundredths of a point.
    pub mean_gain_hundredths: i64,
    /// The rest of the cohort, and their mean change (`None` when there is no one else).
    pub others: u64,
    pub others_mean_gain_hundredths: Option<i64>,
    /// The claim in one sentence, with its sample sizes.
    pub claim: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elite::{Impact, Recommendation};

    fn answer(role: EliteRole, recs: &[(&str, &str)]) -> EliteResponse {
        EliteResponse {
            v: 1,
            role,
            score: 50,
            summary: String::new(),
            recommendations: recs
                .iter()
                .map(|(a, x)| Recommendation { area: (*a).into(), action: (*x).into(), impact: Impact::Low })
                .collect(),
        }
    }

    #[test]
    fn insight_advice_keeps_each_roles_first_recommendations_cut_and_unique() {
        let long = "é".repeat(100);
        let result = OptimizationResult {
            v: 1,
            job_id: "j".into(),
            sweep_id: "s".into(),
            customer_id: "c".into(),
            site_url: "https://c.example".into(),
            scheduled_at: "t".into(),
            attempt: 1,
            generated_at: "t".into(),
            brand: answer(EliteRole::Brand, &[("brand", "b1"), ("brand", "b1"), ("brand", "b2"), ("brand", "b3")]),
            designer: answer(EliteRole::Designer, &[]),
            developer: answer(EliteRole::Developer, &[("performance", &long)]),
        };
        let advice = advice_of(&result);
        assert_eq!(advice.len(), 3, "b3 is the fourth brand recommendation; the repeated b1 counts once: {advice:?}");
        assert_eq!(advice[2].role, EliteRole::Developer);
        assert_eq!(advice[2].action.len(), MAX_ADVICE_TEXT, "cut at a character boundary of a two-byte character");
    }
}
