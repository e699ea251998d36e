//! The report jobs' data over D1 ([`D1Reports`]: rollups through [`crate::rollups`], billing
//! events of `migrations/0005_billing.sql`, monthly sections of
//! `migrations/0006_monthly_sections.sql`; the reads over every customer in keyset pages of
//! `code24_shared::reports::pages`), and the ledger's fan-in as the core's [`RunFinalizer`] port.
//!
//! Numbers come back from D1 as JavaScript numbers and are bound as `f64` (an `i64` would be a
//! BigInt, which D1 refuses); epoch milliseconds and cents stay far below 2^53.

use code24_shared::error::JobError;
use code24_shared::ledger::FinalizeDecision;
use code24_shared::limits::usage::Counted;
use code24_shared::ports::{ReportStore, RunFinalizer};
use code24_shared::reports::analytics::{CustomerMonthly, DailyRollup};
use code24_shared::reports::pages::{
    section_page, whole_customer_events, BillingPage, RollupPage, SectionPage, BILLING_PAGE_ROWS, SECTION_PAGE_ROWS,
};
use code24_shared::reports::period::Month;
use code24_shared::reports::revenue::BillingEvent;
use code24_shared::site::Plan;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

use crate::d1::rows;
use crate::ledger_client::DurableLedger;
use crate::meter::Meter;

/// Rewrites a customer's section of a run: a retried job leaves one row.
const UPSERT_SECTION: &str = "INSERT INTO monthly_sections (run_id, customer_id, section) VALUES (?1, ?2, ?3) \
     ON CONFLICT (run_id, customer_id) DO UPDATE SET section = excluded.section";

pub struct D1Reports {
    db: D1Database,
    /// Counts each query into the invocation's figures (one D1 query, one connection while it
    /// runs); a detached meter until [`D1Reports::metered`].
    meter: Meter,
}

#[derive(Deserialize)]
struct BillingRow {
    customer_id: String,
    at_ms: f64,
    mrr_cents: f64,
}

#[derive(Deserialize)]
struct PlanRow {
    plan: String,
}

#[derive(Deserialize)]
struct SectionRow {
    customer_id: String,
    section: String,
}

impl D1Reports {
    pub fn new(db: D1Database) -> Self {
        Self { db, meter: Meter::detached() }
    }

    /// The same store, counting into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }
}

impl ReportStore for D1Reports {
    async fn month_rollups(&self, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError> {
        let _connection = self.meter.start(Counted::D1Query);
        crate::rollups::month_rollups(&self.db, customer_id, month).await
    }

    async fn month_rollups_page(&self, month: Month, after: Option<&str>) -> Result<RollupPage, JobError> {
        let _connection = self.meter.start(Counted::D1Query);
        crate::rollups::month_rollups_page(&self.db, month, after).await
    }

    async fn billing_page(&self, before_ms: i64, after: Option<&str>) -> Result<BillingPage, JobError> {
        let sql = "SELECT customer_id, at_ms, mrr_cents FROM billing_events WHERE at_ms < ?1 AND customer_id > ?2 \
                   ORDER BY customer_id, at_ms LIMIT ?3";
        let _connection = self.meter.start(Counted::D1Query);
        let params = [JsValue::from_f64(before_ms as f64), after.unwrap_or_default().into(), JsValue::from_f64(BILLING_PAGE_ROWS as f64)];
        let rows: Vec<BillingRow> = rows(&self.db, sql, &params, "billing_events").await?;
        let events = rows
            .into_iter()
            .map(|r| BillingEvent { customer_id: r.customer_id, at_ms: r.at_ms as i64, mrr_cents: r.mrr_cents as i64 })
            .collect();
        // A customer with a page of events or more cannot be read whole: permanent, and named.
        whole_customer_events(events, BILLING_PAGE_ROWS).map_err(JobError::permanent)
    }

    async fn customer_billing(&self, customer_id: &str, before_ms: i64) -> Result<Vec<BillingEvent>, JobError> {
        // The (customer_id, at_ms) unique index of the upsert serves this read.
        let sql = "SELECT customer_id, at_ms, mrr_cents FROM billing_events WHERE customer_id = ?1 AND at_ms < ?2 ORDER BY at_ms";
        let binds = [customer_id.into(), JsValue::from_f64(before_ms as f64)];
        let _connection = self.meter.start(Counted::D1Query);
        let rows: Vec<BillingRow> = rows(&self.db, sql, &binds, "billing_events").await?;
        Ok(rows
            .into_iter()
            .map(|r| BillingEvent { customer_id: r.customer_id, at_ms: r.at_ms as i64, mrr_cents: r.mrr_cents as i64 })
            .collect())
    }

    async fn put_section(&self, run_id: &str, section: &CustomerMonthly) -> Result<(), JobError> {
        let json = serde_json::to_string(section).map_err(|e| JobError::permanent(format!("section does not serialize: {e}")))?;
        let fail = |e: worker::Error| JobError::transient(format!("monthly_sections write of {run_id}/{}: {e}", section.customer_id));
        let _connection = self.meter.start(Counted::D1Query);
        self.db
            .prepare(UPSERT_SECTION)
            .bind(&[run_id.into(), section.customer_id.as_str().into(), json.into()])
            .map_err(fail)?
            .run()
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn sections_page(&self, run_id: &str, after: Option<&str>) -> Result<SectionPage, JobError> {
        let sql = "SELECT customer_id, section FROM monthly_sections WHERE run_id = ?1 AND customer_id > ?2 ORDER BY customer_id LIMIT ?3";
        let params = [run_id.into(), after.unwrap_or_default().into(), JsValue::from_f64(SECTION_PAGE_ROWS as f64)];
        let _connection = self.meter.start(Counted::D1Query);
        let rows: Vec<SectionRow> = rows(&self.db, sql, &params, "monthly_sections").await?;
        let sections = rows
            .into_iter()
            .map(|r| {
                // A row this consumer cannot read will not become readable by retrying.
                serde_json::from_str(&r.section)
                    .map_err(|e| JobError::permanent(format!("monthly_sections {run_id}/{}: undecodable section: {e}", r.customer_id)))
            })
            .collect::<Result<Vec<CustomerMonthly>, JobError>>()?;
        Ok(section_page(sections, SECTION_PAGE_ROWS))
    }

    async fn plan_of(&self, customer_id: &str) -> Result<Option<Plan>, JobError> {
        let sql = "SELECT plan FROM customers WHERE id = ?1";
        let _connection = self.meter.start(Counted::D1Query);
        let found: Vec<PlanRow> = rows(&self.db, sql, &[customer_id.into()], "customers").await?;
        // The table's CHECK admits only the three plans; anything else reads as unknown.
        Ok(found.first().and_then(|r| serde_json::from_value(serde_json::Value::String(r.plan.clone())).ok()))
    }
}

impl RunFinalizer for DurableLedger {
    async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError> {
        // The inherent method of the same name: the ledger's `/sweeps/finalize` route.
        DurableLedger::request_finalize(self, run_id, now_ms).await
    }
}
