//! The dead-letter store's in-memory twin, for the core's tests (and, with the `testkit`
//! feature, other crates' tests): it keeps rows as the D1 table does, merges a second record
//! of the same id exactly as the adapter's `UPSERT` does, and fails on demand so a test can
//! prove a message whose record could not be written is retried, never acked.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use crate::dead_letters::query::DeadLetterStatus;
use crate::dead_letters::record::DeadLetterRecord;
use crate::error::JobError;
use crate::ports::DeadLetterStore;

/// One row of the twin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeadLetter {
    /// The record as first stored, with the newest error and the most attempts merged in.
    pub record: DeadLetterRecord,
    pub first_failed_ms: i64,
    pub last_failed_ms: i64,
    pub status: DeadLetterStatus,
}

/// The dead-letter store twin: id → row.
#[derive(Debug, Default)]
pub struct MemoryDeadLetterStore {
    pub rows: RefCell<BTreeMap<String, StoredDeadLetter>>,
    /// Every write fails (a D1 outage) while set.
    pub fail_writes: Cell<bool>,
    /// Every count fails while set.
    pub fail_counts: Cell<bool>,
}

impl MemoryDeadLetterStore {
    /// The row of `id`, if stored.
    pub fn row(&self, id: &str) -> Option<StoredDeadLetter> {
        self.rows.borrow().get(id).cloned()
    }
}

impl DeadLetterStore for MemoryDeadLetterStore {
    async fn upsert(&self, record: &DeadLetterRecord) -> Result<(), JobError> {
        if self.fail_writes.get() {
            return Err(JobError::transient(format!("dead-letter store unavailable: {} not written", record.id)));
        }
        let mut rows = self.rows.borrow_mut();
        match rows.get_mut(&record.id) {
            None => {
                let row = StoredDeadLetter {
                    record: record.clone(),
                    first_failed_ms: record.failed_ms,
                    last_failed_ms: record.failed_ms,
                    status: DeadLetterStatus::Dead,
                };
                rows.insert(record.id.clone(), row);
            }
            Some(row) => {
                // A late copy of the death a replay took back does not undo the replay.
                let stale = row.status == DeadLetterStatus::Replayed && record.attempts <= row.record.attempts;
                row.record.error = record.error.clone();
                row.record.attempts = row.record.attempts.max(record.attempts);
                row.last_failed_ms = row.last_failed_ms.max(record.failed_ms);
                if row.status != DeadLetterStatus::Purged && !stale {
                    row.status = DeadLetterStatus::Dead;
                }
            }
        }
        Ok(())
    }

    async fn count(&self) -> Result<u64, JobError> {
        if self.fail_counts.get() {
            return Err(JobError::transient("dead-letter store unavailable: rows not counted"));
        }
        Ok(self.rows.borrow().len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::dead_letters::record::record_for;
    use crate::error::ErrorClass;

    #[test]
    fn a_second_record_of_an_id_merges_like_the_upsert() {
        let store = MemoryDeadLetterStore::default();
        let first = DeadLetterRecord { attempts: 3, ..record_for("poison", "dlq", "q", 100) };
        block_on(store.upsert(&first)).unwrap();
        let again = DeadLetterRecord { attempts: 1, error: JobError::transient("again"), ..record_for("poison", "dlq", "other", 50) };
        block_on(store.upsert(&again)).unwrap();
        let row = store.row(&first.id).unwrap();
        assert_eq!((row.first_failed_ms, row.last_failed_ms, row.record.attempts), (100, 100, 3));
        assert_eq!((row.record.error.class, row.record.origin_queue.as_str()), (ErrorClass::Transient, "q"));
        assert_eq!(block_on(store.count()), Ok(1));

        store.rows.borrow_mut().get_mut(&first.id).unwrap().status = DeadLetterStatus::Purged;
        block_on(store.upsert(&DeadLetterRecord { failed_ms: 200, ..first.clone() })).unwrap();
        let row = store.row(&first.id).unwrap();
        assert_eq!((row.status, row.last_failed_ms), (DeadLetterStatus::Purged, 200), "a purged entry stays purged");

        // Replayed: a late copy of the same death (as many attempts) leaves it replayed; a
        // death after the replay (one attempt more) makes it dead again.
        store.rows.borrow_mut().get_mut(&first.id).unwrap().status = DeadLetterStatus::Replayed;
        block_on(store.upsert(&first)).unwrap();
        assert_eq!(store.row(&first.id).unwrap().status, DeadLetterStatus::Replayed);
        block_on(store.upsert(&DeadLetterRecord { attempts: 4, ..first.clone() })).unwrap();
        assert_eq!(store.row(&first.id).unwrap().status, DeadLetterStatus::Dead);

        store.fail_writes.set(true);
        assert!(block_on(store.upsert(&first)).is_err());
        store.fail_counts.set(true);
        assert!(block_on(store.count()).is_err());
    }
}
