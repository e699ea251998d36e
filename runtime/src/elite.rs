//! The elite workers over service bindings, one call per role with its own timeout. A
//! timeout or a network error is a transient failure; answers are classified by the core.

use std::time::Duration;

use code24_shared::elite::{classify_response, EliteHealth, EliteRequest, EliteResponse, EliteRole, HEALTH_PATH, OPTIMIZE_PATH};
use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::ports::EliteClient;
use worker::{Env, Fetcher, Headers, Method, RequestInit};

use crate::meter::Meter;
use crate::timeout::within;

pub struct ServiceElite {
    brand: Fetcher,
    designer: Fetcher,
    developer: Fetcher,
    timeout: Duration,
    meter: Meter,
}

impl ServiceElite {
    pub fn from_env(env: &Env, timeout_ms: u32) -> worker::Result<Self> {
        Ok(Self {
            brand: env.service(EliteRole::Brand.binding())?,
            designer: env.service(EliteRole::Designer.binding())?,
            developer: env.service(EliteRole::Developer.binding())?,
            timeout: Duration::from_millis(u64::from(timeout_ms)),
            meter: Meter::detached(),
        })
    }

    /// Counts every call into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }

    fn fetcher(&self, role: EliteRole) -> &Fetcher {
        match role {
            EliteRole::Brand => &self.brand,
            EliteRole::Designer => &self.designer,
            EliteRole::Developer => &self.developer,
        }
    }

    async fn call(&self, request: &EliteRequest) -> Result<(u16, Vec<u8>), JobError> {
        let role = request.role.as_str();
        let body = serde_json::to_string(request).map_err(|e| JobError::permanent(format!("elite request: {e}")))?;
        let headers = Headers::new();
        headers.set("content-type", "application/json").map_err(|e| JobError::permanent(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        // The host is irrelevant for a service binding; it names the role in logs.
        let url = format!("https://{role}.elite{OPTIMIZE_PATH}");
        let _connection = self.meter.start(Counted::ServiceBinding);
        let mut response = self
            .fetcher(request.role)
            .fetch(url, Some(init))
            .await
            .map_err(|e| JobError::transient(format!("elite {role} unreachable: {e}")))?;
        let bytes = response.bytes().await.map_err(|e| JobError::transient(format!("elite {role} body: {e}")))?;
        Ok((response.status_code(), bytes))
    }
}

impl ServiceElite {
    /// `GET /health` of one role's worker, within the same timeout as its calls. Any answer
    /// but a 200 with the contract's health body is an error naming what came back.
    pub async fn health(&self, role: EliteRole) -> Result<EliteHealth, JobError> {
        let name = role.as_str();
        let probe = async {
            let _connection = self.meter.start(Counted::ServiceBinding);
            let mut response = self
                .fetcher(role)
                .fetch(format!("https://{name}.elite{HEALTH_PATH}"), None)
                .await
                .map_err(|e| JobError::transient(format!("elite {name} unreachable: {e}")))?;
            let status = response.status_code();
            let text = response.text().await.map_err(|e| JobError::transient(format!("elite {name} health body: {e}")))?;
            if status != 200 {
                return Err(JobError::transient(format!("elite {name} /health answered HTTP {status}")));
            }
            serde_json::from_str::<EliteHealth>(&text)
                .map_err(|e| JobError::transient(format!("elite {name} /health sent an undecodable body ({e})")))
        };
        within(self.timeout, probe).await.unwrap_or_else(|| Err(self.timed_out(role)))
    }

    fn timed_out(&self, role: EliteRole) -> JobError {
        JobError::transient(format!("elite {} timed out after {} ms", role.as_str(), self.timeout.as_millis()))
    }
}

impl EliteClient for ServiceElite {
    async fn optimize(&self, request: &EliteRequest) -> Result<EliteResponse, JobError> {
        match within(self.timeout, self.call(request)).await {
            Some(answer) => {
                let (status, body) = answer?;
                classify_response(request.role, status, &body)
            }
            None => Err(self.timed_out(request.role)),
        }
    }
}
