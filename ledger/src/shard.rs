//! A job shard's routes, written behind (`code24_shared::ledger::journal`): a write route's
//! decisions run over the stored rows and the instance's overlay of rows not folded yet, and
//! the request is appended to the journal in the same transaction; the overlay is folded into
//! the tables at every alarm and whenever the journal's ring is full. An instance that starts
//! runs the journal's entries after the last fold again ([`recover`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::Deserialize;
use worker::{SqlStorage, Storage};

use code24_runtime::env::now_ms;
use code24_shared::ledger::compact::CompactJobTable;
use code24_shared::ledger::jobs::JobTable;
use code24_shared::ledger::journal::{slot_runs, JournalStore, Shard, ShardAnswer, ShardWrite, JOURNAL_SLOTS};
use code24_shared::ledger::route::Route;
use code24_shared::ledger::{JobRow, ShardCounts, StoreError};

use crate::body::decode;
use crate::shard_rows::SqlShardRows;
use crate::sql_tables::{exec, first, rows, uint};
use crate::transaction::atomically;

/// The journal's tables: the ring (`slot` = `seq % JOURNAL_SLOTS`, each slot updated in
/// place: one row written per request) and the last entry folded.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS journal (
        slot INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        entry TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS journal_folded (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    )",
];

/// The journal in SQLite.
struct SqlJournal(SqlStorage);

impl JournalStore for SqlJournal {
    fn append(&mut self, seq: u64, entry: &str) -> Result<(), StoreError> {
        exec(
            &self.0,
            "INSERT INTO journal (slot, seq, entry) VALUES (?, ?, ?)
             ON CONFLICT (slot) DO UPDATE SET seq = excluded.seq, entry = excluded.entry",
            vec![uint(seq % JOURNAL_SLOTS)?, uint(seq)?, entry.into()],
        )
    }

    fn last(&self) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Last {
            seq: Option<u64>,
        }
        Ok(first::<Last>(&self.0, "SELECT MAX(seq) AS seq FROM journal", Vec::new())?.and_then(|l| l.seq).unwrap_or(0))
    }

    /// Through the slots' primary key (the slot is the row id): `from..=to` is one run of
    /// slots, or two when it wraps, each read by the same range query.
    fn entries(&self, from: u64, to: u64) -> Result<Vec<(u64, String)>, StoreError> {
        #[derive(Deserialize)]
        struct Entry {
            seq: u64,
            entry: String,
        }
        let mut found = Vec::new();
        for (first_slot, last_slot, first, last) in slot_runs(from, to) {
            let params = vec![uint(first_slot)?, uint(last_slot)?, uint(first)?, uint(last)?];
            let run: Vec<Entry> =
                rows(&self.0, "SELECT seq, entry FROM journal WHERE slot BETWEEN ? AND ? AND seq BETWEEN ? AND ?", params)?;
            found.extend(run.into_iter().map(|e| (e.seq, e.entry)));
        }
        Ok(found)
    }

    fn folded(&self) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Folded {
            seq: u64,
        }
        Ok(first::<Folded>(&self.0, "SELECT seq FROM journal_folded WHERE name = 'folded'", Vec::new())?.map_or(0, |f| f.seq))
    }

    fn set_folded(&mut self, seq: u64) -> Result<(), StoreError> {
        exec(
            &self.0,
            "INSERT INTO journal_folded (name, seq) VALUES ('folded', ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            vec![uint(seq)?],
        )
    }
}

/// The journal's (entries, bytes of their text).
pub(crate) fn journal_size(sql: &SqlStorage) -> Result<(u64, u64), StoreError> {
    #[derive(Deserialize)]
    struct Size {
        entries: u64,
        bytes: u64,
    }
    let size = first::<Size>(sql, "SELECT COUNT(*) AS entries, COALESCE(SUM(LENGTH(entry)), 0) AS bytes FROM journal", Vec::new())?;
    Ok(size.map_or((0, 0), |s| (s.entries, s.bytes)))
}

/// The shard's state once its journal has run again after the last fold.
pub(crate) fn recover(sql: &SqlStorage, retention_hours: u32) -> Result<Shard, StoreError> {
    Shard::recover(&mut SqlShardRows::new(sql.clone(), now_ms()), &SqlJournal(sql.clone()), retention_hours)
}

/// The request of a write route, when `route` is one.
pub(crate) fn write_of(route: Route, body: &[u8]) -> Option<Result<ShardWrite, String>> {
    Some(match route {
        Route::Claim => decode(route, body).map(ShardWrite::Claim),
        Route::Complete => decode(route, body).map(ShardWrite::Complete),
        Route::Settle => decode(route, body).map(ShardWrite::Settle),
        Route::Head => decode(route, body).map(ShardWrite::Head),
        _ => return None,
    })
}

/// Decides `write` and journals it in one transaction, then keeps what it wrote in the
/// overlay; sets `dirtied` when a rollup changed. Folds first when the ring is full.
pub(crate) fn run(
    storage: &Storage,
    shard: &Rc<RefCell<Shard>>,
    retention_hours: u32,
    write: ShardWrite,
    dirtied: &Cell<bool>,
) -> Result<ShardAnswer, StoreError> {
    if shard.borrow().must_fold() {
        fold(storage, shard)?;
    }
    let (sql, held) = (storage.sql(), Rc::clone(shard));
    let (answer, staged) = atomically(storage, move || {
        held.borrow().run(&mut SqlShardRows::new(sql.clone(), now_ms()), &mut SqlJournal(sql), retention_hours, &write)
    })?;
    if staged.has_rollups() {
        dirtied.set(true);
    }
    shard.borrow_mut().commit(staged);
    Ok(answer)
}

/// Writes the overlay into the tables and marks the journal folded, in one transaction.
pub(crate) fn fold(storage: &Storage, shard: &Rc<RefCell<Shard>>) -> Result<(), StoreError> {
    if shard.borrow().pending_rows() == 0 {
        return Ok(());
    }
    let (sql, held) = (storage.sql(), Rc::clone(shard));
    atomically(storage, move || held.borrow().fold(&mut SqlShardRows::new(sql.clone(), now_ms()), &mut SqlJournal(sql)))?;
    shard.borrow_mut().folded();
    Ok(())
}

/// `Route::Counts`: each run's counters as they stand.
pub(crate) fn counts(sql: SqlStorage, shard: &Shard, run_ids: &[String]) -> Result<Vec<ShardCounts>, StoreError> {
    shard.read(&mut SqlShardRows::new(sql, now_ms()), |rows| {
        let table = CompactJobTable::new(rows, code24_shared::config::LedgerConfig::MIN_RETENTION_HOURS);
        run_ids.iter().map(|id| table.counts(id)).collect()
    })
}

/// `Route::Job`: one job's row as it stands.
pub(crate) fn job(sql: SqlStorage, shard: &Shard, job_id: &str) -> Result<Option<JobRow>, StoreError> {
    shard.read(&mut SqlShardRows::new(sql, now_ms()), |rows| {
        CompactJobTable::new(rows, code24_shared::config::LedgerConfig::MIN_RETENTION_HOURS).job(job_id)
    })
}
