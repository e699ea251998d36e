//! Report jobs: the messages of the reports queue, one per unit of report work, versioned JSON
//! text like optimize jobs. A run (a ledger "sweep") is identified by its period, not by the
//! time a cron happened to fire, so a regular run, a catch-up and an operator's backfill of
//! the same month are one and the same run:
//!
//! - monthly analytics: `{env}.monthly-analytics.{YYYY-MM}`, one `MonthlyCustomer` job per
//!   customer, then exactly one `MonthlyFinalize` job once all of them ended (fan-in);
//! - end-of-month: `{env}.end-of-month.{YYYY-MM}`, one `EndOfMonth` job;
//! - health check: `{env}.health-check.{scheduled basic timestamp}`, one `HealthCheck` job.
//!
//! Job ids are `{run id}.{subject}`: the customer id, or `finalize`, `report` or `check` for
//! the single jobs. A customer named `finalize` cannot collide with the finalize job: the ledger
//! would see one job id twice, so customer ids `finalize`, `report` and `check` are refused in
//! monthly runs ([`RESERVED_SUBJECTS`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorClass, JobError};
use crate::ids::{basic_timestamp, from_epoch_ms, CustomerId};
use crate::reports::period::Month;
use crate::schedule::{END_OF_MONTH, HEALTH_CHECK, MONTHLY_ANALYTICS};

/// Version of [`ReportJob`] this build writes and reads.
pub const REPORT_JOB_VERSION: u32 = 1;

/// Subjects of single jobs, which no customer section may use.
pub const RESERVED_SUBJECTS: [&str; 3] = ["finalize", "report", "check"];

/// What one report job does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReportWork {
    /// One customer's section of the month's analytics.
    MonthlyCustomer { customer_id: CustomerId },
    /// The platform-wide monthly report, from every customer's section.
    MonthlyFinalize,
    /// The end-of-month final report and executive summary.
    EndOfMonth,
    /// The dev health checks.
    HealthCheck,
}

impl ReportWork {
    /// The last segment of the job id: the customer, or the single job's reserved word.
    pub fn subject(&self) -> &str {
        match self {
            Self::MonthlyCustomer { customer_id } => customer_id.as_str(),
            Self::MonthlyFinalize => "finalize",
            Self::EndOfMonth => "report",
            Self::HealthCheck => "check",
        }
    }

    /// The task of the runs this work belongs to.
    pub fn task(&self) -> &'static str {
        match self {
            Self::MonthlyCustomer { .. } | Self::MonthlyFinalize => MONTHLY_ANALYTICS,
            Self::EndOfMonth => END_OF_MONTH,
            Self::HealthCheck => HEALTH_CHECK,
        }
    }
}

/// A reports-queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportJob {
    pub v: u32,
    pub job_id: String,
    /// The run (ledger sweep) this job belongs to.
    pub run_id: String,
    /// The reported month (`YYYY-MM`); the hour's time for health checks is `scheduled_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<Month>,
    /// The slot this run stands for, epoch ms (for health checks, the key's timestamp).
    pub scheduled_ms: i64,
    pub work: ReportWork,
}

/// The run id of a monthly report run.
pub fn monthly_run_id(environment: &str, task: &str, month: Month) -> String {
    format!("{environment}.{task}.{}", month.label())
}

/// The run id of a health-check run.
pub fn health_run_id(environment: &str, at: DateTime<Utc>) -> String {
    format!("{environment}.{HEALTH_CHECK}.{}", basic_timestamp(at))
}

impl ReportJob {
    pub fn monthly_customer(run_id: &str, month: Month, scheduled_ms: i64, customer_id: CustomerId) -> Self {
        Self {
            v: REPORT_JOB_VERSION,
            job_id: format!("{run_id}.{customer_id}"),
            run_id: run_id.to_owned(),
            month: Some(month),
            scheduled_ms,
            work: ReportWork::MonthlyCustomer { customer_id },
        }
    }

    pub fn single(run_id: &str, month: Option<Month>, scheduled_ms: i64, work: ReportWork) -> Self {
        let job_id = format!("{run_id}.{}", work.subject());
        Self { v: REPORT_JOB_VERSION, job_id, run_id: run_id.to_owned(), month, scheduled_ms, work }
    }

    /// The ledger lane's "customer" of this job: the customer, or the job's subject.
    pub fn subject(&self) -> &str {
        self.job_id.rsplit('.').next().unwrap_or_default()
    }

    pub fn scheduled(&self) -> Option<DateTime<Utc>> {
        from_epoch_ms(self.scheduled_ms)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and numbers always serializes")
    }

    /// Decodes and checks a reports-queue body; a newer version is retried (transient), any
    /// other refusal is permanent.
    pub fn decode(body: &str) -> Result<Self, JobError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            v: Option<u32>,
        }
        let version: VersionOnly = serde_json::from_str(body).map_err(|e| JobError::permanent(format!("undecodable report job: {e}")))?;
        match version.v {
            Some(REPORT_JOB_VERSION) => {}
            Some(v) if v > REPORT_JOB_VERSION => {
                return Err(JobError::transient(format!(
                    "report job has version {v}, newer than this consumer's {REPORT_JOB_VERSION}; retrying until it is updated"
                )))
            }
            other => return Err(JobError::permanent(format!("report job has unsupported version {other:?}"))),
        }
        let job: Self = serde_json::from_str(body).map_err(|e| JobError::permanent(format!("malformed report job: {e}")))?;
        // The job id is a function of run and work, the work belongs to the run's task, and a
        // monthly run names its month: a body that breaks any of these would make the ledger
        // and the report keys disagree about which job this is.
        let parts: Vec<&str> = job.run_id.split('.').collect();
        let customer_reserved =
            matches!(&job.work, ReportWork::MonthlyCustomer { customer_id } if RESERVED_SUBJECTS.contains(&customer_id.as_str()));
        let month_named = job.month.is_some() || job.work == ReportWork::HealthCheck;
        let well_formed = crate::ids::RunId::parse(&job.run_id).is_some()
            && parts.len() == 3
            && parts[1] == job.work.task()
            && job.job_id == format!("{}.{}", job.run_id, job.work.subject())
            && !customer_reserved
            && month_named
            && job.scheduled().is_some();
        if !well_formed {
            return Err(JobError::new(
                ErrorClass::Permanent,
                format!("report job {:?} of run {:?} is inconsistent", job.job_id, job.run_id),
            ));
        }
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_jobs_round_trip_and_name_their_run() {
        let m = Month::new(2026, 10).unwrap();
        let run = monthly_run_id("local", MONTHLY_ANALYTICS, m);
        assert_eq!(run, "local.monthly-analytics.2026-10");
        let job = ReportJob::monthly_customer(&run, m, 1_793_545_200_000, CustomerId::parse("acme").unwrap());
        assert_eq!(job.job_id, "local.monthly-analytics.2026-10.acme");
        assert_eq!(job.subject(), "acme");
        assert_eq!(ReportJob::decode(&job.encode()).unwrap(), job);
        let fin = ReportJob::single(&run, Some(m), 0, ReportWork::MonthlyFinalize);
        assert_eq!((fin.job_id.as_str(), fin.subject()), ("local.monthly-analytics.2026-10.finalize", "finalize"));
        assert_eq!(ReportJob::decode(&fin.encode()).unwrap(), fin);
    }

    #[test]
    fn bad_report_jobs_are_refused() {
        let m = Month::new(2026, 10).unwrap();
        let good = ReportJob::single(&monthly_run_id("local", END_OF_MONTH, m), Some(m), 0, ReportWork::EndOfMonth).encode();
        assert_eq!(ReportJob::decode(&good.replace("\"v\":1", "\"v\":2")).unwrap_err().class, ErrorClass::Transient);
        assert_eq!(ReportJob::decode(&good.replace("end-of-month", "nonsense")).unwrap_err().class, ErrorClass::Permanent);
        assert_eq!(ReportJob::decode("{").unwrap_err().class, ErrorClass::Permanent);
        assert!(ReportJob::decode(&good.replace("\"kind\":\"end_of_month\"", "\"kind\":\"monthly_customer\",\"customer_id\":\"../x\""))
            .is_err());
        let refused = |body: String| assert_eq!(ReportJob::decode(&body).map_err(|e| e.class), Err(ErrorClass::Permanent), "{body}");
        // Work of another task than the run's, a job id that is not the run's and the work's,
        // a monthly job without its month, a customer named like a single job.
        refused(good.replace("\"kind\":\"end_of_month\"", "\"kind\":\"health_check\""));
        refused(good.replace(".report\"", ".check\""));
        refused(good.replace("\"month\":{\"year\":2026,\"month\":10},", ""));
        let run = monthly_run_id("local", MONTHLY_ANALYTICS, m);
        let customer = ReportJob::monthly_customer(&run, m, 0, CustomerId::parse("acme").unwrap()).encode();
        refused(customer.replace("2026-10.acme", "2026-10.other"));
        refused(customer.replace("acme", "finalize"));
    }
}
