//! The forecast section of the end-of-month report: MRR for the next three months from the
//! billing history ([`mrr`]), and each customer's expected scores next month from its trend in
//! the monthly analytics ([`scores`]). Each method reports its own backtest beside its numbers
//! (forecast month k from the months before k, compare with what happened), so a reader knows
//! how much to trust them; a horizon without enough history to be measured says so instead of
//! giving a number.
//!
//! Money is integer cents and ratios are basis points, as in [`crate::reports::revenue`];
//! scores are points on the 0-100 scale, as in [`crate::reports::analytics`].

pub mod mrr;
pub mod scores;

use serde::{Deserialize, Serialize};

use crate::reports::analytics::CustomerMonthly;
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;

pub use mrr::{MrrForecast, MrrOutlook};
pub use scores::ScoreOutlook;

/// `forecast` in the final report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub mrr: MrrOutlook,
    pub scores: ScoreOutlook,
}

/// The forecast after `month` from every billing event before its end and every customer's
/// section of the month and of the month before.
pub fn forecast(month: Month, billing: &[BillingEvent], sections: &[CustomerMonthly], previous_sections: &[CustomerMonthly]) -> Forecast {
    Forecast { mrr: mrr::mrr_outlook(billing, month), scores: scores::score_outlook(month, sections, previous_sections) }
}

impl Forecast {
    /// Next month's MRR forecast.
    pub fn next_month_mrr(&self) -> Option<&MrrForecast> {
        self.mrr.months.first()
    }
}
