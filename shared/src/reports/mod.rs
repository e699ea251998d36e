//! Report jobs' pure parts: report periods and keys ([`period`]), the revenue bridge and
//! rates of a month ([`revenue`]), the monthly analytics folded from per-customer daily
//! rollups ([`analytics`]), and the end-of-month report with its executive summary
//! ([`summary`]).
pub mod analytics;
pub mod period;
pub mod revenue;
pub mod summary;
