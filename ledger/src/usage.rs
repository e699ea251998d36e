//! Rows read and written, as workerd's `sql.exec` cursor reports them (`rowsRead`,
//! `rowsWritten`: what Cloudflare bills a SQLite Durable Object, indexes included). Every
//! statement of [`crate::sql_tables`] adds its cursor's figures to one counter of the isolate;
//! [`measured`] reads the counter around a synchronous piece of work. Several instances may
//! share an isolate, and requests interleave at every `.await`, so only work without an
//! `.await` is measured this way: a transaction's body, a read, a write.

use std::cell::Cell;

use worker::SqlCursor;

use code24_shared::ledger::stats::Rows;

thread_local! {
    static ROWS: Cell<Rows> = const { Cell::new(Rows { read: 0, written: 0 }) };
}

/// Adds a finished cursor's rows to the isolate's counter.
pub(crate) fn record(cursor: &SqlCursor) {
    let rows = Rows { read: cursor.rows_read() as u64, written: cursor.rows_written() as u64 };
    ROWS.with(|c| {
        let mut all = c.get();
        all.add(rows);
        c.set(all);
    });
}

/// Runs `work` (which must not await: it cannot, it is synchronous) and returns what its
/// statements read and wrote.
pub(crate) fn measured<T>(work: impl FnOnce() -> T) -> (T, Rows) {
    let before = ROWS.with(Cell::get);
    let out = work();
    (out, ROWS.with(Cell::get).since(before))
}
