//! The site registry over D1 (schema: `migrations/0001_site_registry.sql`). Pages are read by
//! keyset (`customer_id > ?`), served by the `sites_active` index, so reading page 1,000 costs
//! what page 1 costs. Rows that fail validation are skipped with an error log, never sent.

use code24_shared::error::JobError;
use code24_shared::ids::CustomerId;
use code24_shared::limits::usage::Counted;
use code24_shared::names::binding;
use code24_shared::ports::{SitePage, SiteRegistry};
use code24_shared::site::{Site, SiteUrl};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{console_error, D1Database, Env};

use crate::d1::rows;
use crate::meter::Meter;

pub struct D1Registry {
    db: D1Database,
    meter: Meter,
}

/// A `site_registry` row as D1 returns it (also read by the canary's sites).
#[derive(Deserialize)]
pub(crate) struct SiteRow {
    pub(crate) customer_id: String,
    pub(crate) url: String,
}

/// A `COUNT(*) AS n` row (D1 numbers are JSON numbers).
#[derive(Deserialize)]
pub(crate) struct CountRow {
    pub(crate) n: f64,
}

impl D1Registry {
    pub fn from_env(env: &Env) -> worker::Result<Self> {
        Ok(Self { db: env.d1(binding::DB)?, meter: Meter::detached() })
    }

    /// Counts every query into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }

    pub fn database(&self) -> &D1Database {
        &self.db
    }
}

impl SiteRegistry for D1Registry {
    async fn count_active(&self) -> Result<u64, JobError> {
        let _connection = self.meter.start(Counted::D1Query);
        let counted: Vec<CountRow> = rows(&self.db, "SELECT COUNT(*) AS n FROM sites WHERE active = 1", &[], "site registry count").await?;
        Ok(counted.first().map_or(0, |r| r.n as u64))
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        // An empty string sorts before every valid customer id, so it stands for "from the start".
        let after = JsValue::from_str(after.unwrap_or(""));
        let sql = "SELECT customer_id, url FROM sites WHERE active = 1 AND customer_id > ?1 ORDER BY customer_id LIMIT ?2";
        let _connection = self.meter.start(Counted::D1Query);
        let rows: Vec<SiteRow> = rows(&self.db, sql, &[after, JsValue::from_f64(f64::from(limit))], "site registry page").await?;
        let last_key = rows.last().map(|r| r.customer_id.clone());
        let mut sites = Vec::with_capacity(rows.len());
        for row in rows {
            match (CustomerId::parse(&row.customer_id), SiteUrl::parse(&row.url)) {
                (Ok(customer_id), Ok(url)) => sites.push(Site { customer_id, url }),
                (c, u) => console_error!(
                    "{}",
                    serde_json::json!({"event": "invalid_site_row", "customer_id": row.customer_id,
                        "customer_error": c.err().map(|e| e.to_string()), "url_error": u.err()})
                ),
            }
        }
        Ok(SitePage { sites, last_key })
    }
}
