//! Finished jobs and report aggregates to Workers Analytics Engine (the seed's "platform
//! analytics engine"): the points are the core's (`code24_shared::datapoints`), this adapter
//! hands them to the binding, counts each into the invocation's meter, and keeps the invocation
//! within its budget of points. The binding is optional, so a configuration without it still
//! runs; a point the core refuses, one over the budget, or a failed write is logged, never
//! allowed to fail the job.

use code24_shared::datapoints::{job_point, DataPoint, PointBudget, MAX_POINTS_PER_INVOCATION};
use code24_shared::limits::usage::Counted;
use code24_shared::names::binding;
use code24_shared::ports::{JobFinished, Metrics};
use worker::{console_error, AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Env};

use crate::meter::Meter;

/// One invocation's writer: build it per invocation, so its budget is the invocation's.
pub struct AnalyticsMetrics {
    dataset: Option<AnalyticsEngineDataset>,
    budget: PointBudget,
    meter: Meter,
}

impl AnalyticsMetrics {
    pub fn from_env(env: &Env) -> Self {
        Self { dataset: env.analytics_engine(binding::JOB_ANALYTICS).ok(), budget: PointBudget::default(), meter: Meter::detached() }
    }

    /// Counts every data point into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }

    fn write(&self, point: &DataPoint) {
        let Some(dataset) = &self.dataset else { return };
        if !self.budget.take() {
            let what = serde_json::json!({"event": "analytics_budget_spent", "limit": MAX_POINTS_PER_INVOCATION, "index": point.index});
            console_error!("{what}");
            return;
        }
        self.meter.call(Counted::AnalyticsPoint);
        let built = AnalyticsEngineDataPointBuilder::new()
            .indexes([point.index.as_str()])
            .blobs(point.blobs.iter().map(String::as_str).collect::<Vec<_>>())
            .doubles(point.doubles.clone())
            .build();
        if let Err(err) = dataset.write_data_point(&built) {
            let what = serde_json::json!({"event": "analytics_write_failed", "index": point.index, "error": err.to_string()});
            console_error!("{what}");
        }
    }
}

impl Metrics for AnalyticsMetrics {
    fn job_finished(&self, e: &JobFinished) {
        match job_point(e) {
            Ok(point) => self.write(&point),
            Err(why) => console_error!("{}", serde_json::json!({"event": "analytics_point_refused", "job_id": e.job_id, "error": why})),
        }
    }

    fn aggregate(&self, point: &DataPoint) {
        self.write(point);
    }
}
