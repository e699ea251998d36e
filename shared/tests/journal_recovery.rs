//! A job shard that restarts with a full journal ring: the case a deploy or an eviction meets
//! at 100,000 sites, where a shard's ring of 32,768 entries fills about every 10 sweeps, before
//! its hourly alarm folds. `Shard::recover` reads the ring a page at a time
//! ([`RECOVER_PAGE_ENTRIES`]), so the restart holds a page and the overlay it rebuilds, within
//! the isolate's memory with the design's headroom; read whole, the ring (about 47 MB of text,
//! held twice while read: the JS rows and their Rust copy) put the restart over 128 MB, and a
//! shard that cannot start never folds, so it would fail on every restart after.

use code24_shared::ids::{from_epoch_ms, RunId};
use code24_shared::ledger::journal::{JournalStore, Shard, ShardWrite, JOURNAL_SLOTS, RECOVER_PAGE_ENTRIES};
use code24_shared::ledger::{ClaimRequest, CompleteRequest, JobClaim, JobMetrics, JobOutcome};
use code24_shared::limits::memory::{ISOLATE_ALLOWANCE_BYTES, JS_BYTES_PER_JSON_BYTE};
use code24_shared::limits::{within_headroom, MEMORY_BYTES};
use code24_shared::schedule::Task;
use code24_shared::testkit::ledger::{MemoryJournal, MemoryShardRows};

const RETENTION_HOURS: u32 = 360;
/// 100,000 sites over the 8 job shards.
const LANES: u64 = 12_500;
/// The deployed batch, sent by shard: one journal entry per claim or complete of 8 jobs.
const BATCH: usize = 8;
const START_MS: i64 = 1_800_000_000_000 / 180_000 * 180_000;
/// What the overlay holds a row, as `OVERLAY_FOLD_ROWS` counts it (a lane's succeeded minutes
/// are most of it).
const OVERLAY_BYTES_PER_ROW: u64 = 1_024;

/// A shard run through sweeps of [`LANES`] sites until its ring is full, as the Durable Object
/// runs it (the journal and the rows it writes).
fn full_ring() -> (MemoryShardRows, MemoryJournal, Shard) {
    let (mut rows, mut journal, mut shard) = (MemoryShardRows::default(), MemoryJournal::default(), Shard::default());
    for sweep in 0.. {
        let scheduled_ms = START_MS + sweep * 180_000;
        let run = RunId::new("production", Task::Optimize, from_epoch_ms(scheduled_ms).unwrap());
        let customers: Vec<String> = (0..LANES).map(|c| format!("c{c:08}")).collect();
        for (b, batch) in customers.chunks(BATCH).enumerate() {
            let now_ms = scheduled_ms + b as i64 * 10;
            let claims: Vec<JobClaim> = batch
                .iter()
                .map(|s| JobClaim {
                    job_id: format!("{run}.{s}"),
                    run_id: run.as_str().to_owned(),
                    subject: s.clone(),
                    scheduled_ms,
                    replay: false,
                    replay_at_ms: None,
                })
                .collect();
            let metrics = Some(JobMetrics { duration_ms: 41_250, scores: Some([87, 91, 78]) });
            let outcomes = claims
                .iter()
                .map(|c| JobOutcome { job_id: c.job_id.clone(), attempt: 1, error: None, superseded: false, metrics })
                .collect();
            for write in [
                ShardWrite::Claim(ClaimRequest { claims, now_ms, lease_ms: 300_000 }),
                ShardWrite::Complete(CompleteRequest { outcomes, now_ms: now_ms + 5, max_attempts: 5 }),
            ] {
                if shard.must_fold() {
                    return (rows, journal, shard);
                }
                let (_, staged) = shard.run(&mut rows, &mut journal, RETENTION_HOURS, &write).unwrap();
                shard.commit(staged);
            }
        }
    }
    unreachable!("the ring fills")
}

#[test]
fn limits_a_restart_with_a_full_journal_ring_reads_it_in_pages_within_memory() {
    let (mut rows, journal, shard) = full_ring();
    assert_eq!(journal.last().unwrap(), JOURNAL_SLOTS, "the ring is full: the next request folds first");
    let recovered = Shard::recover(&mut rows, &journal, RETENTION_HOURS).unwrap();
    assert_eq!(recovered, shard, "the restart ends in exactly the state the instance had");
    let largest = journal.largest_read.get();
    assert_eq!(largest, RECOVER_PAGE_ENTRIES, "one page at a time");

    // The restart's peak by the memory model (`limits::memory`): the isolate, the largest page
    // held twice (its JS rows and its Rust copy), and the overlay rebuilt from the whole ring.
    let texts: Vec<u64> = journal.slots.values().map(|(_, entry)| entry.len() as u64).collect();
    let page_text: u64 = texts.iter().take(largest as usize).sum();
    let overlay = shard.pending_rows() as u64 * OVERLAY_BYTES_PER_ROW;
    let peak = ISOLATE_ALLOWANCE_BYTES + page_text * JS_BYTES_PER_JSON_BYTE + page_text + overlay;
    let whole_ring = ISOLATE_ALLOWANCE_BYTES + texts.iter().sum::<u64>() * (JS_BYTES_PER_JSON_BYTE + 1) + overlay;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "restart with {} entries: peak {:.1} MB in pages of {largest} (the whole ring read at once: {:.1} MB) of {:.1} MB",
        texts.len(),
        mb(peak),
        mb(whole_ring),
        mb(MEMORY_BYTES)
    );
    assert!(within_headroom(peak, MEMORY_BYTES), "{:.1} MB", mb(peak));
    assert!(!within_headroom(whole_ring, MEMORY_BYTES), "the case this guards against: {:.1} MB", mb(whole_ring));
}

#[test]
fn a_restart_refuses_a_journal_with_an_entry_missing_in_a_later_page() {
    let (mut rows, mut journal, _) = full_ring();
    let missing = 3 * RECOVER_PAGE_ENTRIES + 1;
    journal.slots.remove(&(missing % JOURNAL_SLOTS));
    let error = Shard::recover(&mut rows, &journal, RETENTION_HOURS).unwrap_err();
    assert!(error.0.contains(&format!("entry {missing}")), "{error}");
}
