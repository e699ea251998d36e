//! The producer's part in latest-wins (`ledger::heads`): before it opens an optimization sweep
//! it reads where the consumers' work stands in every job shard ([`work_fronts`]), so the sweep
//! starts where the previous sweep's work stopped; once its fan-out finished it tells every
//! shard ([`announce`]), which from then on supersedes the older sweeps' jobs without work.
//!
//! Both are best effort and cost a ledger request per shard each (the slots of the shard map
//! in force for the sweep, [`ShardMap::slots_at`]: [`crate::ledger::JOB_SHARDS`]), per sweep, [`HEAD_CALLS_IN_FLIGHT`] at a time: a shard that cannot be read leaves the origin to
//! the other shards' fronts (or to the previous sweep's origin); a shard that cannot be told
//! keeps working older jobs until the next sweep's announcement, as before latest-wins.

use futures::StreamExt;

use crate::ledger::heads::{HeadRequest, WorkFront};
use crate::ledger::shard_map::ShardMap;
use crate::ports::Ledger;

/// Head requests in flight at once: the producer makes them when nothing else is in flight
/// (before the open, after the finish), inside the connections it may hold.
pub const HEAD_CALLS_IN_FLIGHT: usize = 2;

/// Asks every shard of the map in force at `scheduled_ms`.
async fn ask_every_shard<L: Ledger>(ledger: &L, req: &HeadRequest, scheduled_ms: i64) -> Vec<Option<crate::ledger::heads::HeadRow>> {
    futures::stream::iter(ShardMap::slots_at(ledger.shard_maps(), scheduled_ms))
        .map(|shard| async move { ledger.head(shard, req).await.ok() })
        .buffer_unordered(HEAD_CALLS_IN_FLIGHT)
        .collect()
        .await
}

/// Where the work of `task`'s newest sweeps stands before the sweep scheduled at
/// `scheduled_ms` opens: every front that could be read in the shards of the map in force then,
/// and how many shards could not be read (`rotation::next_origin` then trusts no nearest
/// front: the unread shard's work may be the one behind).
pub async fn work_fronts<L: Ledger>(ledger: &L, task: &str, scheduled_ms: i64) -> (Vec<WorkFront>, u32) {
    let req = HeadRequest { task: task.to_owned(), announce_ms: None };
    let read = ask_every_shard(ledger, &req, scheduled_ms).await;
    let unread = read.iter().filter(|row| row.is_none()).count() as u32;
    (read.into_iter().flatten().filter_map(|row| row.front).collect(), unread)
}

/// Tells every shard that the sweep of `task` scheduled at `scheduled_ms` finished its fan-out;
/// answers how many shards were told.
pub async fn announce<L: Ledger>(ledger: &L, task: &str, scheduled_ms: i64) -> u32 {
    let req = HeadRequest { task: task.to_owned(), announce_ms: Some(scheduled_ms) };
    ask_every_shard(ledger, &req, scheduled_ms).await.iter().filter(|r| r.is_some()).count() as u32
}
