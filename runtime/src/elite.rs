//! The elite workers over service bindings, one call per role with its own timeout. A
//! timeout or a network error is a transient failure; answers are classified by the core.
//!
//! A call's timeout starts when the call starts: [`within`] starts its timer when it is first
//! polled, and the consumer creates a job's calls only once the invocation's bound on calls in
//! flight admits the job (`code24_shared::pipeline::budget::bounded`), so no call's time runs
//! while it waits for a slot. A body is read up to `elite::MAX_RESPONSE_BYTES` and no further.

use std::time::Duration;

use code24_shared::elite::{
    classify_response, oversized_response, EliteHealth, EliteRequest, EliteResponse, EliteRole, HEALTH_PATH, MAX_RESPONSE_BYTES,
    OPTIMIZE_PATH,
};
use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::ports::EliteClient;
use futures::StreamExt;
use worker::{Env, Fetcher, Headers, Method, RequestInit, Response};

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
        let status = response.status_code();
        let bytes = capped_body(&mut response, request.role).await?;
        Ok((status, bytes))
    }
}

/// The body of an elite answer, read chunk by chunk up to [`MAX_RESPONSE_BYTES`]: an answer
/// declaring or sending more is refused (its class by its status, `elite::oversized_response`)
/// without buffering the rest.
async fn capped_body(response: &mut Response, role: EliteRole) -> Result<Vec<u8>, JobError> {
    let status = response.status_code();
    let name = role.as_str();
    let declared = response.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(oversized_response(role, status, declared));
    }
    let mut stream = match response.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| JobError::transient(format!("elite {name} body: {e}")))?;
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(oversized_response(role, status, declared));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
            let body = capped_body(&mut response, role).await.map_err(|e| JobError::transient(e.message))?;
            if status != 200 {
                return Err(JobError::transient(format!("elite {name} /health answered HTTP {status}")));
            }
            serde_json::from_slice::<EliteHealth>(&body)
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
