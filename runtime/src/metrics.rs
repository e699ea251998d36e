//! Finished jobs to Workers Analytics Engine: one data point per job (the seed's "platform
//! analytics engine"). The binding is optional, so a configuration without it still runs;
//! a failed write is logged, never allowed to fail the job.

use code24_shared::limits::usage::Counted;
use code24_shared::names::binding;
use code24_shared::ports::{JobFinished, Metrics};
use worker::{console_error, AnalyticsEngineDataPointBuilder, AnalyticsEngineDataset, Env};

use crate::meter::Meter;

pub struct AnalyticsMetrics {
    dataset: Option<AnalyticsEngineDataset>,
    meter: Meter,
}

impl AnalyticsMetrics {
    pub fn from_env(env: &Env) -> Self {
        Self { dataset: env.analytics_engine(binding::JOB_ANALYTICS).ok(), meter: Meter::detached() }
    }

    /// Counts every data point into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }
}

impl Metrics for AnalyticsMetrics {
    fn job_finished(&self, e: &JobFinished) {
        let Some(dataset) = &self.dataset else { return };
        self.meter.call(Counted::AnalyticsPoint);
        let outcome = if e.succeeded { "succeeded" } else { "dead" };
        let point = AnalyticsEngineDataPointBuilder::new()
            .indexes([e.customer_id.as_str()])
            .blobs([e.job_id.as_str(), e.run_id.as_str(), outcome])
            .doubles([f64::from(e.attempts), e.duration_ms as f64])
            .build();
        if let Err(err) = dataset.write_data_point(&point) {
            console_error!("{}", serde_json::json!({"event": "analytics_write_failed", "job_id": e.job_id, "error": err.to_string()}));
        }
    }
}
