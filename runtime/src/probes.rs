//! The dev health check's probes over the Workers runtime: the elite workers' `/health`
//! through their service bindings, the results bucket, D1, and plain `fetch` for the customer
//! sites, each bounded in time (a site never holds the check longer than
//! [`SITE_TIMEOUT_MS`]). The canary's optimization calls and the site list go through the
//! existing elite client and registry.

use std::time::Duration;

use code24_shared::elite::{EliteHealth, EliteRequest, EliteResponse, EliteRole};
use code24_shared::error::JobError;
use code24_shared::ports::{EliteClient, HealthProbes, SitePage, SiteRegistry};
use code24_shared::reports::health::SITE_TIMEOUT_MS;
use worker::{Bucket, Fetch, Headers, Method, Request, RequestInit};

use crate::elite::ServiceElite;
use crate::registry::D1Registry;
use crate::timeout::within;

pub struct WorkerProbes {
    elite: ServiceElite,
    /// The site registry; its database also answers the D1 ping.
    registry: D1Registry,
    bucket: Bucket,
}

impl WorkerProbes {
    pub fn new(elite: ServiceElite, registry: D1Registry, bucket: Bucket) -> Self {
        Self { elite, registry, bucket }
    }

    async fn get(url: &str) -> Result<u16, JobError> {
        let headers = Headers::new();
        headers.set("user-agent", "code24-health-check").map_err(|e| JobError::permanent(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let request = Request::new_with_init(url, &init).map_err(|e| JobError::permanent(format!("GET {url}: {e}")))?;
        let response = Fetch::Request(request).send().await.map_err(|e| JobError::transient(format!("GET {url}: {e}")))?;
        Ok(response.status_code())
    }
}

impl EliteClient for WorkerProbes {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        self.elite.optimize(request).await
    }
}

impl SiteRegistry for WorkerProbes {
    async fn count_active(&self) -> Result<u64, JobError> {
        self.registry.count_active().await
    }

    async fn active_page(&self, after: Option<&str>, limit: u32) -> Result<SitePage, JobError> {
        self.registry.active_page(after, limit).await
    }
}

impl HealthProbes for WorkerProbes {
    async fn elite_health(&self, role: EliteRole) -> Result<EliteHealth, JobError> {
        self.elite.health(role).await
    }

    async fn object_put(&self, key: &str, body: Vec<u8>) -> Result<(), JobError> {
        self.bucket.put(key, body).execute().await.map(drop).map_err(|e| JobError::transient(format!("R2 put {key}: {e}")))
    }

    async fn object_get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError> {
        let fail = |e: worker::Error| JobError::transient(format!("R2 get {key}: {e}"));
        let Some(object) = self.bucket.get(key).execute().await.map_err(fail)? else { return Ok(None) };
        match object.body() {
            Some(body) => body.bytes().await.map(Some).map_err(fail),
            None => Ok(Some(Vec::new())),
        }
    }

    async fn object_delete(&self, key: &str) -> Result<(), JobError> {
        self.bucket.delete(key).await.map_err(|e| JobError::transient(format!("R2 delete {key}: {e}")))
    }

    async fn db_ping(&self) -> Result<(), JobError> {
        self.registry
            .database()
            .prepare("SELECT 1 AS one")
            .all()
            .await
            .map(drop)
            .map_err(|e| JobError::transient(format!("D1 SELECT 1: {e}")))
    }

    async fn site_status(&self, url: &str) -> Result<u16, JobError> {
        let limit = Duration::from_millis(u64::from(SITE_TIMEOUT_MS));
        within(limit, Self::get(url))
            .await
            .unwrap_or_else(|| Err(JobError::transient(format!("GET {url}: no answer within {SITE_TIMEOUT_MS} ms"))))
    }
}
