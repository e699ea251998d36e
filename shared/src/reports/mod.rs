//! Report jobs' pure parts: the reports-queue messages ([`jobs`]), report periods and keys
//! ([`period`]), the revenue bridge and rates of a month ([`revenue`]), the monthly analytics
//! folded from per-customer daily rollups ([`analytics`]) with their cross-customer insights
//! ([`insights`], over the data of [`advice`]), the end-of-month report with its
//! executive summary ([`summary`]) and its forecasts of MRR and scores ([`forecast`]); which
//! run a firing, catch-up or backfill stands for ([`runs`]); the dev health check's report and
//! status rule ([`health`]). The reports over every customer are read in pages ([`pages`]),
//! folded page by page ([`fold`]) and written as a stream of parts ([`stream`]).
pub mod advice;
pub mod analytics;
pub mod fold;
pub mod forecast;
pub mod health;
pub mod insights;
pub mod jobs;
pub mod pages;
pub mod period;
pub mod revenue;
pub mod runs;
pub mod stream;
pub mod summary;
