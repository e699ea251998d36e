//! Calendar months as report periods, and the R2 keys of report objects (the seed's layout).
//! A monthly-analytics run covers the month *before* its scheduled time; an end-of-month run
//! covers the month *of* its scheduled time. Months are UTC.

use std::fmt;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::basic_timestamp;

/// A calendar month, UTC. Deserialization validates it like [`Month::new`]: a queue body naming
/// month 13 is refused by the decoder instead of panicking later in [`Month::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "MonthWire")]
pub struct Month {
    pub year: i32,
    /// 1-12.
    pub month: u32,
}

/// The unvalidated wire form of a [`Month`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonthWire {
    year: i32,
    month: u32,
}

impl TryFrom<MonthWire> for Month {
    type Error = String;

    fn try_from(w: MonthWire) -> Result<Self, String> {
        Self::new(w.year, w.month).ok_or_else(|| format!("{}-{} is not a month (years 2000-9999, months 1-12)", w.year, w.month))
    }
}

impl Month {
    pub fn new(year: i32, month: u32) -> Option<Self> {
        ((1..=12).contains(&month) && (2000..=9999).contains(&year)).then_some(Self { year, month })
    }

    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Self {
        Self { year: at.year(), month: at.month() }
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self { year: self.year - 1, month: 12 }
        } else {
            Self { year: self.year, month: self.month - 1 }
        }
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self { year: self.year + 1, month: 1 }
        } else {
            Self { year: self.year, month: self.month + 1 }
        }
    }

    /// The first instant of the month.
    pub fn start(self) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0).single().expect("a valid month starts at midnight")
    }

    /// The first instant after the month.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// `YYYY-MM`, e.g. `2026-11`: part of run ids and API paths.
    pub fn label(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }

    /// Parses `YYYY-MM`.
    pub fn parse(raw: &str) -> Option<Self> {
        let (y, m) = raw.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        Self::new(y.parse().ok()?, m.parse().ok()?)
    }

    /// `analytics/monthly/{year}/{month}/report.json`.
    pub fn analytics_key(self) -> String {
        format!("analytics/monthly/{:04}/{:02}/report.json", self.year, self.month)
    }

    /// `reports/end-of-month/{year}/{month}/final-report.json`.
    pub fn final_report_key(self) -> String {
        format!("reports/end-of-month/{:04}/{:02}/final-report.json", self.year, self.month)
    }

    /// `reports/end-of-month/{year}/{month}/executive-summary.json`.
    pub fn executive_summary_key(self) -> String {
        format!("reports/end-of-month/{:04}/{:02}/executive-summary.json", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The month a monthly-analytics run scheduled at `at` reports on: the previous one.
pub fn analytics_month(at: DateTime<Utc>) -> Month {
    Month::of(at).previous()
}

/// The month an end-of-month run scheduled at `at` reports on: its own.
pub fn end_of_month_month(at: DateTime<Utc>) -> Month {
    Month::of(at)
}

/// `dev/health-checks/{timestamp}.json`, the scheduled time in ISO 8601 basic UTC.
pub fn health_check_key(at: DateTime<Utc>) -> String {
    format!("dev/health-checks/{}.json", basic_timestamp(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn analytics_cover_the_previous_month_across_a_year_boundary() {
        assert_eq!(analytics_month(at(2027, 1, 1, 15, 0)), Month { year: 2026, month: 12 });
        assert_eq!(analytics_month(at(2026, 12, 1, 15, 0)), Month { year: 2026, month: 11 });
        assert_eq!(end_of_month_month(at(2026, 12, 31, 23, 59)), Month { year: 2026, month: 12 });
    }

    #[test]
    fn months_have_bounds_labels_and_keys() {
        let feb = Month::new(2028, 2).unwrap();
        assert_eq!(feb.end().signed_duration_since(feb.start()).num_days(), 29, "2028 is a leap year");
        assert_eq!(Month::new(2026, 12).unwrap().end(), at(2027, 1, 1, 0, 0));
        assert_eq!(Month::parse("2026-11"), Month::new(2026, 11));
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("26-11"), None);
        assert_eq!(feb.analytics_key(), "analytics/monthly/2028/02/report.json");
        assert_eq!(feb.final_report_key(), "reports/end-of-month/2028/02/final-report.json");
        assert_eq!(feb.executive_summary_key(), "reports/end-of-month/2028/02/executive-summary.json");
        assert_eq!(health_check_key(at(2026, 11, 29, 1, 0)), "dev/health-checks/20261129T010000Z.json");
    }
}
