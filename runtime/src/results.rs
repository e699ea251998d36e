//! The R2 results bucket. Each object carries its job id as custom metadata, so a recovered
//! job can tell with one `head` whether a crashed attempt already wrote its result.

use std::collections::HashMap;

use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::ports::{ObjectReader, ResultStore};
use worker::{Bucket, HttpMetadata};

use crate::meter::Meter;

/// Custom-metadata key holding the job id that wrote an object.
pub const JOB_ID_METADATA: &str = "job-id";

pub struct R2Results {
    bucket: Bucket,
    meter: Meter,
}

impl R2Results {
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket, meter: Meter::detached() }
    }

    /// Counts every call into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }
}

impl ResultStore for R2Results {
    async fn put(&self, key: &str, body: Vec<u8>, job_id: &str) -> Result<(), JobError> {
        let metadata = HashMap::from([(JOB_ID_METADATA.to_owned(), job_id.to_owned())]);
        let _connection = self.meter.start(Counted::Subrequest);
        self.bucket
            .put(key, body)
            .http_metadata(HttpMetadata { content_type: Some("application/json".into()), ..HttpMetadata::default() })
            .custom_metadata(metadata)
            .execute()
            .await
            .map(|_| ())
            .map_err(|e| JobError::transient(format!("R2 put {key}: {e}")))
    }

    async fn job_of(&self, key: &str) -> Result<Option<String>, JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        let object = self.bucket.head(key).await.map_err(|e| JobError::transient(format!("R2 head {key}: {e}")))?;
        Ok(object.and_then(|o| o.custom_metadata().ok()).and_then(|m| m.get(JOB_ID_METADATA).cloned()))
    }
}

impl ObjectReader for R2Results {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError> {
        let fail = |e: worker::Error| JobError::transient(format!("R2 get {key}: {e}"));
        let _connection = self.meter.start(Counted::Subrequest);
        let Some(object) = self.bucket.get(key).execute().await.map_err(fail)? else { return Ok(None) };
        match object.body() {
            Some(body) => body.bytes().await.map(Some).map_err(fail),
            None => Ok(None),
        }
    }
}
