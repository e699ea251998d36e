//! The R2 results bucket. Each object carries its job id as custom metadata, so a recovered
//! job can tell with one `head` whether a crashed attempt already wrote its result. A report too
//! large to hold whole is written as a multipart upload ([`PartUploads`]); the upload is named
//! by its id alone between calls (`resume_multipart_upload`), so the core holds no JS object.

use std::collections::HashMap;

use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::limits::R2_PART_MIN_BYTES;
use code24_shared::ports::{ObjectReader, PartUploads, ResultStore};
use worker::{Bucket, HttpMetadata, UploadedPart};

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

fn json() -> HttpMetadata {
    HttpMetadata { content_type: Some("application/json".into()), ..HttpMetadata::default() }
}

fn tagged(job_id: &str) -> HashMap<String, String> {
    HashMap::from([(JOB_ID_METADATA.to_owned(), job_id.to_owned())])
}

impl ResultStore for R2Results {
    async fn put(&self, key: &str, body: Vec<u8>, job_id: &str) -> Result<(), JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        self.bucket
            .put(key, body)
            .http_metadata(json())
            .custom_metadata(tagged(job_id))
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

impl PartUploads for R2Results {
    fn part_bytes(&self) -> usize {
        R2_PART_MIN_BYTES as usize
    }

    async fn start_upload(&self, key: &str, job_id: &str) -> Result<String, JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        let upload = self
            .bucket
            .create_multipart_upload(key)
            .http_metadata(json())
            .custom_metadata(tagged(job_id))
            .execute()
            .await
            .map_err(|e| JobError::transient(format!("R2 multipart upload of {key}: {e}")))?;
        Ok(upload.upload_id().await)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, body: Vec<u8>) -> Result<String, JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        let fail = |e: worker::Error| JobError::transient(format!("R2 part {number} of {key}: {e}"));
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(fail)?;
        Ok(upload.upload_part(number, body).await.map_err(fail)?.etag())
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(u16, String)]) -> Result<(), JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        let fail = |e: worker::Error| JobError::transient(format!("R2 completing {key}: {e}"));
        let upload = self.bucket.resume_multipart_upload(key, upload_id).map_err(fail)?;
        let parts = parts.iter().map(|(number, etag)| UploadedPart::new(*number, etag.clone()));
        upload.complete(parts).await.map(|_| ()).map_err(fail)
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), JobError> {
        let _connection = self.meter.start(Counted::Subrequest);
        let fail = |e: worker::Error| JobError::transient(format!("R2 aborting {key}: {e}"));
        self.bucket.resume_multipart_upload(key, upload_id).map_err(fail)?.abort().await.map_err(fail)
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
