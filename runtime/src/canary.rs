//! The canary's sites over D1: the registry's rows whose customer id has the canary prefix
//! (`code24_shared::canary::PREFIX`), active or not (they are registered inactive, so no sweep
//! sees them). A canary run fans out over this registry instead of the active sites.

use crate::registry::{CountRow, SiteRow};
use code24_shared::canary::PREFIX;
use code24_shared::error::JobError;
use code24_shared::ids::CustomerId;
use code24_shared::ports::{SitePage, SiteRegistry};
use code24_shared::site::{Site, SiteUrl};
use wasm_bindgen::JsValue;
use worker::D1Database;

use crate::d1::rows;

pub struct CanarySites {
    db: D1Database,
}

impl CanarySites {
    pub fn new(db: D1Database) -> Self {
        Self { db }
    }
}

/// `LIKE` pattern of the canary prefix (`-` and letters need no escaping).
fn pattern() -> JsValue {
    JsValue::from_str(&format!("{PREFIX}%"))
}

impl SiteRegistry for CanarySites {
    async fn count_active(&self) -> Result<u64, JobError> {
        let counted: Vec<CountRow> =
            rows(&self.db, "SELECT COUNT(*) AS n FROM sites WHERE customer_id LIKE ?1", &[pattern()], "canary count").await?;
        Ok(counted.first().map_or(0, |r| r.n as u64))
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        let after = JsValue::from_str(after.unwrap_or(""));
        let sql = "SELECT customer_id, url FROM sites WHERE customer_id LIKE ?1 AND customer_id > ?2 ORDER BY customer_id LIMIT ?3";
        let rows: Vec<SiteRow> = rows(&self.db, sql, &[pattern(), after, JsValue::from_f64(f64::from(limit))], "canary page").await?;
        let last_key = rows.last().map(|r| r.customer_id.clone());
        // A canary row that does not validate is left out; the canary's verdict then misses
        // its result and says so.
        let sites = rows
            .into_iter()
            .filter_map(|r| Some(Site { customer_id: CustomerId::parse(&r.customer_id).ok()?, url: SiteUrl::parse(&r.url).ok()? }))
            .collect();
        Ok(SitePage { sites, last_key })
    }
}
