//! In-memory twins of the report jobs' ports, with fault knobs for tests: the report store
//! (rollups, billing events, monthly sections), the ledger's fan-in over the very decision
//! function the Durable Object runs, and the health check's probes.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use crate::elite::{EliteHealth, EliteRequest, EliteResponse, EliteRole};
use crate::error::JobError;
use crate::ledger::runs;
use crate::ledger::{FinalizeDecision, FinalizeRequest};
use crate::ports::{EliteClient, HealthProbes, ReportStore, RunFinalizer, SitePage, SiteRegistry};
use crate::reports::analytics::{CustomerMonthly, DailyRollup};
use crate::reports::pages::{
    section_page, whole_customer_events, whole_customers, BillingPage, RollupPage, SectionPage, BILLING_PAGE_ROWS, ROLLUP_PAGE_ROWS,
    SECTION_PAGE_ROWS,
};
use crate::reports::period::Month;
use crate::reports::revenue::BillingEvent;
use crate::site::Plan;
use crate::testkit::ports::{MemoryElite, MemoryLedger, MemoryRegistry};

/// Report store twin (D1's `daily_rollups`, `billing_events`, `monthly_sections`).
#[derive(Debug, Default)]
pub struct MemoryReportStore {
    pub rollups: RefCell<Vec<DailyRollup>>,
    pub billing: RefCell<Vec<BillingEvent>>,
    /// Plans by customer id (the registry's `customers.plan`).
    pub plans: RefCell<BTreeMap<String, Plan>>,
    /// Sections by (run id, customer id).
    pub sections: RefCell<BTreeMap<(String, String), CustomerMonthly>>,
    /// Section writes that succeeded, rewrites included.
    pub section_writes: Cell<u64>,
    /// The next this many section writes fail (transiently), as a D1 outage would.
    pub failing_section_writes: Cell<u32>,
    /// Every read fails while set.
    pub reads_down: Cell<bool>,
    /// Rows per page of [`ReportStore::month_rollups_page`], [`ReportStore::billing_page`] and
    /// [`ReportStore::sections_page`] (`None`: [`ROLLUP_PAGE_ROWS`], [`BILLING_PAGE_ROWS`] and
    /// [`SECTION_PAGE_ROWS`], as in D1); tests make it small to read in many pages.
    pub page_rows: Cell<Option<usize>>,
    /// Page reads made (rollups, billing and sections), for tests of the paging.
    pub page_reads: Cell<u64>,
}

impl MemoryReportStore {
    fn read(&self, what: &str) -> Result<(), JobError> {
        if what.ends_with("page") {
            self.page_reads.set(self.page_reads.get() + 1);
        }
        if self.reads_down.get() {
            return Err(JobError::transient(format!("simulated D1 outage reading {what}")));
        }
        Ok(())
    }
}

impl ReportStore for MemoryReportStore {
    async fn month_rollups(&self, customer_id: &str, month: Month) -> Result<Vec<DailyRollup>, JobError> {
        self.read("rollups")?;
        let prefix = format!("{}-", month.label());
        let wanted = |r: &&DailyRollup| r.day.starts_with(&prefix) && r.customer_id == customer_id;
        Ok(self.rollups.borrow().iter().filter(wanted).cloned().collect())
    }

    /// As D1 answers it: ordered by customer then day, `page_rows` rows read after `after`.
    async fn month_rollups_page(&self, month: Month, after: Option<&str>) -> Result<RollupPage, JobError> {
        self.read("rollups page")?;
        let prefix = format!("{}-", month.label());
        let after = after.unwrap_or_default();
        let mut rows: Vec<DailyRollup> =
            self.rollups.borrow().iter().filter(|r| r.day.starts_with(&prefix) && r.customer_id.as_str() > after).cloned().collect();
        rows.sort_by(|a, b| (&a.customer_id, &a.day).cmp(&(&b.customer_id, &b.day)));
        let limit = self.page_rows.get().unwrap_or(ROLLUP_PAGE_ROWS);
        rows.truncate(limit);
        Ok(whole_customers(rows, limit))
    }

    /// As D1 answers it: ordered by customer then time, `page_rows` events read after `after`.
    async fn billing_page(&self, before_ms: i64, after: Option<&str>) -> Result<BillingPage, JobError> {
        self.read("billing page")?;
        let after = after.unwrap_or_default();
        let mut rows: Vec<BillingEvent> =
            self.billing.borrow().iter().filter(|e| e.at_ms < before_ms && e.customer_id.as_str() > after).cloned().collect();
        rows.sort_by(|a, b| (&a.customer_id, a.at_ms).cmp(&(&b.customer_id, b.at_ms)));
        let limit = self.page_rows.get().unwrap_or(BILLING_PAGE_ROWS);
        rows.truncate(limit);
        whole_customer_events(rows, limit).map_err(JobError::permanent)
    }

    async fn put_section(&self, run_id: &str, section: &CustomerMonthly) -> Result<(), JobError> {
        if self.failing_section_writes.get() > 0 {
            self.failing_section_writes.set(self.failing_section_writes.get() - 1);
            return Err(JobError::transient("simulated D1 outage writing a section"));
        }
        self.sections.borrow_mut().insert((run_id.to_owned(), section.customer_id.clone()), section.clone());
        self.section_writes.set(self.section_writes.get() + 1);
        Ok(())
    }

    async fn sections_page(&self, run_id: &str, after: Option<&str>) -> Result<SectionPage, JobError> {
        self.read("sections page")?;
        let limit = self.page_rows.get().unwrap_or(SECTION_PAGE_ROWS);
        let after = after.unwrap_or_default();
        let sections = self.sections.borrow();
        let page = sections.iter().filter(|((run, customer), _)| run == run_id && customer.as_str() > after).take(limit);
        Ok(section_page(page.map(|(_, s)| s.clone()).collect(), limit))
    }

    async fn customer_billing(&self, customer_id: &str, before_ms: i64) -> Result<Vec<BillingEvent>, JobError> {
        self.read("billing events")?;
        Ok(self.billing.borrow().iter().filter(|e| e.customer_id == customer_id && e.at_ms < before_ms).cloned().collect())
    }

    async fn plan_of(&self, customer_id: &str) -> Result<Option<Plan>, JobError> {
        self.read("plans")?;
        Ok(self.plans.borrow().get(customer_id).copied())
    }
}

/// The fan-in over the ledger twin: the coordinator's decision from the shards' counters.
impl RunFinalizer for MemoryLedger {
    async fn request_finalize(&self, run_id: &str, now_ms: i64) -> Result<FinalizeDecision, JobError> {
        self.requests.set(self.requests.get() + 1);
        let counts: Vec<_> = self.shards.borrow().iter().filter_map(|s| s.counts.get(run_id).cloned()).collect();
        let request = FinalizeRequest { run_id: run_id.to_owned(), now_ms };
        Ok(runs::request_finalize(&mut *self.runs.borrow_mut(), &request, &counts)?)
    }
}

/// Health-probe twin. By default everything is healthy except customer sites, which do not
/// resolve (as the demo URLs locally); set `site_answers` to give a URL a status.
#[derive(Debug, Default)]
pub struct MemoryProbes {
    pub elite: MemoryElite,
    pub registry: MemoryRegistry,
    /// The probe's object store.
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    pub unhealthy: RefCell<BTreeSet<EliteRole>>,
    pub db_down: Cell<bool>,
    pub objects_down: Cell<bool>,
    /// URL → HTTP status; any other URL fails as a failed DNS lookup.
    pub site_answers: RefCell<BTreeMap<String, u16>>,
    /// Site checks made.
    pub site_calls: Cell<u64>,
}

impl MemoryProbes {
    fn objects(&self) -> Result<std::cell::RefMut<'_, BTreeMap<String, Vec<u8>>>, JobError> {
        if self.objects_down.get() {
            return Err(JobError::transient("simulated R2 outage"));
        }
        Ok(self.objects.borrow_mut())
    }
}

impl EliteClient for MemoryProbes {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        self.elite.optimize(request).await
    }
}

impl SiteRegistry for MemoryProbes {
    async fn count_active(&self) -> Result<u64, JobError> {
        self.registry.count_active().await
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        self.registry.active_page(after, limit).await
    }
}

impl HealthProbes for MemoryProbes {
    async fn elite_health(&self, role: EliteRole) -> Result<EliteHealth, JobError> {
        if self.unhealthy.borrow().contains(&role) {
            return Err(JobError::transient(format!("elite {} answered HTTP 503", role.as_str())));
        }
        Ok(EliteHealth { status: "ok".into(), version: "memory".into() })
    }

    async fn object_put(&self, key: &str, body: Vec<u8>) -> Result<(), JobError> {
        self.objects()?.insert(key.to_owned(), body);
        Ok(())
    }

    async fn object_get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError> {
        Ok(self.objects()?.get(key).cloned())
    }

    async fn object_delete(&self, key: &str) -> Result<(), JobError> {
        self.objects()?.remove(key);
        Ok(())
    }

    async fn db_ping(&self) -> Result<(), JobError> {
        if self.db_down.get() {
            return Err(JobError::transient("simulated D1 outage"));
        }
        Ok(())
    }

    async fn site_status(&self, url: &str) -> Result<u16, JobError> {
        self.site_calls.set(self.site_calls.get() + 1);
        self.site_answers.borrow().get(url).copied().ok_or_else(|| JobError::transient(format!("GET {url}: DNS lookup failed")))
    }
}
