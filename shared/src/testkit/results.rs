//! The R2 twin ([`MemoryResults`]): objects with their job id, and multipart uploads with R2's
//! rules on parts (numbers, the smallest part, etags named on completion).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::error::JobError;
use crate::ports::{ObjectReader, PartUploads, ResultStore};

/// An object in the results twin.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub job_id: String,
    /// How many times the key was written.
    pub writes: u32,
}

/// A multipart upload in progress in the R2 twin.
#[derive(Debug, Default)]
pub struct OpenUpload {
    pub key: String,
    pub job_id: String,
    /// Parts by number.
    pub parts: BTreeMap<u16, Vec<u8>>,
}

/// R2 twin, multipart uploads included.
#[derive(Debug, Default)]
pub struct MemoryResults {
    pub objects: RefCell<BTreeMap<String, StoredObject>>,
    /// Multipart uploads in progress, by upload id.
    pub uploads: RefCell<BTreeMap<String, OpenUpload>>,
    /// Uploads started, completed and aborted.
    pub uploads_started: Cell<u64>,
    pub uploads_completed: Cell<u64>,
    pub uploads_aborted: Cell<u64>,
    /// The smallest part taken (`None`: R2's, [`crate::limits::R2_PART_MIN_BYTES`]); tests make
    /// it small to write small objects in parts.
    pub min_part_bytes: Cell<Option<usize>>,
    /// The largest part ever uploaded, to check what a writer held.
    pub largest_part: Cell<usize>,
    /// The next this many part uploads fail (transiently).
    pub failing_parts: Cell<u32>,
    /// Object reads (`get`), so tests can count them per batch.
    pub reads: Cell<u64>,
}

impl ResultStore for MemoryResults {
    async fn put(&self, key: &str, body: Vec<u8>, job_id: &str) -> Result<(), JobError> {
        let mut objects = self.objects.borrow_mut();
        let writes = objects.get(key).map_or(0, |o| o.writes) + 1;
        objects.insert(key.to_owned(), StoredObject { body, job_id: job_id.to_owned(), writes });
        Ok(())
    }

    async fn job_of(&self, key: &str) -> Result<Option<String>, JobError> {
        Ok(self.objects.borrow().get(key).map(|o| o.job_id.clone()))
    }
}

impl ObjectReader for MemoryResults {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, JobError> {
        self.reads.set(self.reads.get() + 1);
        Ok(self.objects.borrow().get(key).map(|o| o.body.clone()))
    }
}

/// R2's rule on the sizes of a completed upload's parts, in part order: every part but the last
/// at least `min` (`EntityTooSmall`) and all of one size, the last no larger (`BadUpload`: the
/// local R2 refuses so, as Cloudflare's does).
pub(crate) fn check_part_sizes(key: &str, sizes: &[(u16, usize)], min: usize) -> Result<(), JobError> {
    let Some(((_, size), rest)) = sizes.split_last() else { return Ok(()) };
    let uniform = rest.first().map_or(*size, |(_, s)| *s);
    for (n, s) in rest {
        if *s < min {
            return Err(JobError::permanent(format!("EntityTooSmall: part {n} of {key} has {s} bytes")));
        }
        if *s != uniform {
            return Err(JobError::permanent(format!("BadUpload: part {n} of {key} has {s} bytes, the parts before it {uniform}")));
        }
    }
    if !rest.is_empty() && *size > uniform {
        return Err(JobError::permanent(format!("BadUpload: the last part of {key} has {size} bytes, more than the others' {uniform}")));
    }
    Ok(())
}

/// As R2 does: parts numbered 1 to [`crate::limits::R2_PARTS_MAX`], sizes by
/// [`check_part_sizes`] (checked on completion, as R2 does), and an etag per part that
/// completion must name.
impl PartUploads for MemoryResults {
    fn part_bytes(&self) -> usize {
        self.min_part_bytes.get().unwrap_or(crate::limits::R2_PART_MIN_BYTES as usize)
    }

    async fn start_upload(&self, key: &str, job_id: &str) -> Result<String, JobError> {
        self.uploads_started.set(self.uploads_started.get() + 1);
        let id = format!("upload-{}", self.uploads_started.get());
        self.uploads.borrow_mut().insert(id.clone(), OpenUpload { key: key.to_owned(), job_id: job_id.to_owned(), parts: BTreeMap::new() });
        Ok(id)
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u16, body: Vec<u8>) -> Result<String, JobError> {
        if self.failing_parts.get() > 0 {
            self.failing_parts.set(self.failing_parts.get() - 1);
            return Err(JobError::transient(format!("simulated R2 outage uploading part {number} of {key}")));
        }
        if number == 0 || u64::from(number) > crate::limits::R2_PARTS_MAX {
            return Err(JobError::permanent(format!("part number {number} of {key} out of range")));
        }
        let mut uploads = self.uploads.borrow_mut();
        let Some(OpenUpload { parts, .. }) = uploads.get_mut(upload_id).filter(|u| u.key == key) else {
            return Err(JobError::permanent(format!("no upload {upload_id} of {key}")));
        };
        self.largest_part.set(self.largest_part.get().max(body.len()));
        let etag = format!("{number}-{}", crate::ids::stable_hash(&body));
        parts.insert(number, body);
        Ok(etag)
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, done: &[(u16, String)]) -> Result<(), JobError> {
        let Some(OpenUpload { key: k, job_id, parts }) = self.uploads.borrow_mut().remove(upload_id) else {
            return Err(JobError::permanent(format!("no upload {upload_id} of {key}")));
        };
        let numbers: Vec<u16> = done.iter().map(|(n, _)| *n).collect();
        if k != key || numbers != parts.keys().copied().collect::<Vec<_>>() || !numbers.windows(2).all(|w| w[0] < w[1]) {
            return Err(JobError::permanent(format!("upload {upload_id} of {key} completed with parts {numbers:?}")));
        }
        for ((n, body), (_, etag)) in parts.iter().zip(done) {
            if *etag != format!("{n}-{}", crate::ids::stable_hash(body)) {
                return Err(JobError::permanent(format!("part {n} of {key}: wrong etag")));
            }
        }
        check_part_sizes(key, &parts.iter().map(|(n, b)| (*n, b.len())).collect::<Vec<_>>(), self.part_bytes())?;
        let body: Vec<u8> = parts.into_values().flatten().collect();
        self.uploads_completed.set(self.uploads_completed.get() + 1);
        self.put(key, body, &job_id).await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), JobError> {
        self.uploads_aborted.set(self.uploads_aborted.get() + 1);
        self.uploads.borrow_mut().retain(|id, u| !(id == upload_id && u.key == key));
        Ok(())
    }
}
