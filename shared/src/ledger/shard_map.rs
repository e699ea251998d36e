//! Which job shard holds a job, as a versioned map, so the number of shards can change without
//! losing deduplication. A map is in force for runs scheduled from its `from_ms` on; a job's
//! shard is decided by the map in force at its *run's* scheduled time, which every delivery,
//! retry, settle and replay of the job carries. So every message of one job reaches the same
//! shard for as long as the job lives, whatever map is newest, and a shard of an older map
//! only ever hears of runs scheduled before the next map: it drains, and once the job
//! retention has passed since the next map's `from_ms` it holds nothing a message can name and
//! can be retired.
//!
//! The procedure (ARCHITECTURE.md, "The ledger's storage and cost"): add a map with the next
//! version, more shards and a `from_ms` in the future (at least a deploy's length ahead, so
//! every Worker runs the new table before its first run); deploy; after `from_ms` plus the job
//! retention, the older map's shards are empty of live jobs and their instances can be deleted.
//! What is lost across the switch is only superseding between a run before it and one after it
//! (their lanes live in different shards): both may work the same site once, each writing its
//! own run's object; no job is ever worked twice after its success.
//!
//! The build's table, [`MAPS`], has one map: `JOB_SHARDS` shards named `jobs-{k}`. Callers
//! name a shard of any map by one number, its *slot* ([`ShardMap::slot`]): the shards of the
//! first map are slots `0..n1`, of the second `n1..n1 + n2`, and so on, so with the one map a
//! slot is the shard number of before. Every job caller picks its slot by the run's scheduled
//! time (`JobClaim::shard_in`, over the ledger port's `shard_maps`: claims, completes, settles
//! of the dead-letters consumer, replays, the admin API's job lookup); the instance behind a
//! slot is [`ShardMap::slot_object`].

use super::{shard_object, JOB_SHARDS};
use crate::ids::stable_hash;

/// One version of the map from subjects to job shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMap {
    pub version: u32,
    pub shards: u32,
    /// Runs scheduled at or after this instant use this map (until a newer one's `from_ms`).
    pub from_ms: i64,
}

/// The build's maps, oldest first.
pub const MAPS: &[ShardMap] = &[ShardMap { version: 1, shards: JOB_SHARDS, from_ms: i64::MIN }];

impl ShardMap {
    /// The map in force for a run scheduled at `scheduled_ms`.
    pub fn at(maps: &[ShardMap], scheduled_ms: i64) -> ShardMap {
        *maps.iter().rev().find(|m| m.from_ms <= scheduled_ms).unwrap_or(&maps[0])
    }

    /// The shard of `subject` under this map.
    pub fn shard(&self, subject: &str) -> u32 {
        (stable_hash(subject.as_bytes()) % u64::from(self.shards)) as u32
    }

    /// The Durable Object name of shard `shard` of this map: version 1 keeps the names it had
    /// before maps had versions (`jobs-{k}`; a Durable Object's name is its identity).
    pub fn object(&self, shard: u32) -> String {
        if self.version == 1 {
            shard_object(shard)
        } else {
            format!("jobs-v{}-{shard}", self.version)
        }
    }

    /// The instance holding `subject`'s job of a run scheduled at `scheduled_ms`.
    pub fn object_for(maps: &[ShardMap], subject: &str, scheduled_ms: i64) -> String {
        let map = Self::at(maps, scheduled_ms);
        map.object(map.shard(subject))
    }

    /// The slot of `subject`'s job of a run scheduled at `scheduled_ms`: its shard in the map in
    /// force then, after every shard of the maps before it.
    pub fn slot(maps: &[ShardMap], subject: &str, scheduled_ms: i64) -> u32 {
        let map = Self::at(maps, scheduled_ms);
        Self::first_slot(maps, map.version) + map.shard(subject)
    }

    /// The first slot of map `version`: the shards of the maps before it.
    fn first_slot(maps: &[ShardMap], version: u32) -> u32 {
        maps.iter().take_while(|m| m.version < version).map(|m| m.shards).sum()
    }

    /// Every slot of every map.
    pub fn slots(maps: &[ShardMap]) -> u32 {
        maps.iter().map(|m| m.shards).sum()
    }

    /// The instance behind `slot`; `None` for a slot beyond the last map's.
    pub fn slot_object(maps: &[ShardMap], slot: u32) -> Option<String> {
        let mut first = 0;
        for map in maps {
            if slot < first + map.shards {
                return Some(map.object(slot - first));
            }
            first += map.shards;
        }
        None
    }

    /// The slots of [`Self::live_objects`], in the same order.
    pub fn live_slots(maps: &[ShardMap], now_ms: i64, retention_ms: i64) -> Vec<u32> {
        let live = Self::live_objects(maps, now_ms, retention_ms);
        (0..Self::slots(maps)).filter(|&slot| Self::slot_object(maps, slot).is_some_and(|o| live.contains(&o))).collect()
    }

    /// The slots of the map in force at `scheduled_ms`: the shards a run scheduled then writes to.
    pub fn slots_at(maps: &[ShardMap], scheduled_ms: i64) -> std::ops::Range<u32> {
        let map = Self::at(maps, scheduled_ms);
        let first = Self::first_slot(maps, map.version);
        first..first + map.shards
    }

    /// The instances that may still hold a live job at `now_ms`: every shard of the map in
    /// force, and of each older map until the job retention has passed since its successor
    /// took over.
    pub fn live_objects(maps: &[ShardMap], now_ms: i64, retention_ms: i64) -> Vec<String> {
        let mut live = Vec::new();
        for (i, map) in maps.iter().enumerate() {
            let retired = maps.get(i + 1).is_some_and(|next| next.from_ms.saturating_add(retention_ms) <= now_ms);
            if map.from_ms <= now_ms && !retired {
                live.extend((0..map.shards).map(|k| map.object(k)));
            }
        }
        live
    }

    /// Whether `maps` can be a build's table: versions 1, 2, ... in order, each with shards and
    /// starting strictly after the one before, the first from the beginning of time.
    pub fn check(maps: &[ShardMap]) -> Result<(), String> {
        let first = maps.first().ok_or("no map")?;
        if first.from_ms != i64::MIN {
            return Err("the first map must cover every run (from_ms = i64::MIN)".into());
        }
        for (i, map) in maps.iter().enumerate() {
            if map.version != i as u32 + 1 || map.shards == 0 {
                return Err(format!("map {i}: version {} with {} shards", map.version, map.shards));
            }
            if i > 0 && map.from_ms <= maps[i - 1].from_ms {
                return Err(format!("map {} starts no later than map {}", map.version, maps[i - 1].version));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builds_map_is_the_shard_function_every_caller_uses() {
        ShardMap::check(MAPS).unwrap();
        for subject in ["acme", "c000017", "finalize", "bench-0099999"] {
            assert_eq!(ShardMap::object_for(MAPS, subject, 1_800_000_000_000), shard_object(super::super::shard_of(subject)));
            assert_eq!(ShardMap::slot(MAPS, subject, 1_800_000_000_000), super::super::shard_of(subject), "a slot is a shard number");
        }
        assert_eq!(ShardMap::slots(MAPS), JOB_SHARDS);
        assert_eq!(ShardMap::slot_object(MAPS, 7).as_deref(), Some("jobs-7"));
        assert_eq!(ShardMap::slot_object(MAPS, JOB_SHARDS), None);
    }

    #[test]
    fn slots_number_the_shards_of_every_map_in_turn() {
        let maps = [ShardMap { version: 1, shards: 8, from_ms: i64::MIN }, ShardMap { version: 2, shards: 32, from_ms: 1_000 }];
        assert_eq!(ShardMap::slots(&maps), 40);
        assert_eq!(ShardMap::slots_at(&maps, 999), 0..8);
        assert_eq!(ShardMap::slots_at(&maps, 1_000), 8..40);
        for subject in ["acme", "c0001", "c0002"] {
            let (old, new) = (ShardMap::slot(&maps, subject, 999), ShardMap::slot(&maps, subject, 1_000));
            assert_eq!(ShardMap::slot_object(&maps, old), Some(ShardMap::object_for(&maps, subject, 999)));
            assert_eq!(ShardMap::slot_object(&maps, new), Some(ShardMap::object_for(&maps, subject, 1_000)));
            assert!(old < 8 && (8..40).contains(&new), "{subject}: {old} {new}");
        }
        assert_eq!(ShardMap::slot_object(&maps, 8).as_deref(), Some("jobs-v2-0"));
        assert_eq!(ShardMap::live_slots(&maps, 1_000, 10), (0..40).collect::<Vec<_>>());
        assert_eq!(ShardMap::live_slots(&maps, 1_010, 10), (8..40).collect::<Vec<_>>());
    }

    #[test]
    fn a_table_of_maps_is_checked() {
        let v1 = ShardMap { version: 1, shards: 8, from_ms: i64::MIN };
        assert!(ShardMap::check(&[v1, ShardMap { version: 2, shards: 64, from_ms: 5 }]).is_ok());
        assert!(ShardMap::check(&[ShardMap { from_ms: 0, ..v1 }]).is_err());
        assert!(ShardMap::check(&[v1, ShardMap { version: 3, shards: 64, from_ms: 5 }]).is_err());
        assert!(ShardMap::check(&[v1, ShardMap { version: 2, shards: 0, from_ms: 5 }]).is_err());
        assert!(ShardMap::check(&[]).is_err());
    }

    /// The reshard procedure over the real decisions: runs before the switch stay in the old
    /// map's shards for every late delivery, so each job is deduplicated exactly as before;
    /// runs after it live in the new shards only; the old shards can be retired once the
    /// retention has passed.
    #[test]
    fn resharding_keeps_every_jobs_dedup_in_the_shard_of_its_runs_map() {
        use std::collections::BTreeMap;

        use crate::ids::{from_epoch_ms, RunId};
        use crate::ledger::jobs::{claim, complete};
        use crate::ledger::{ClaimDecision, JobClaim, JobOutcome, Recovery, Verdict};
        use crate::schedule::Task;
        use crate::testkit::ledger::MemoryJobTable;

        const LEASE: i64 = 30_000;
        let switch = 1_800_000_000_000 / 180_000 * 180_000;
        let maps = [ShardMap { version: 1, shards: 8, from_ms: i64::MIN }, ShardMap { version: 2, shards: 32, from_ms: switch }];
        ShardMap::check(&maps).unwrap();
        let mut objects: BTreeMap<String, MemoryJobTable> = BTreeMap::new();
        let job = |at: i64, c: usize| {
            let run = RunId::new("local", Task::Optimize, from_epoch_ms(at).unwrap());
            let subject = format!("c{c:04}");
            JobClaim {
                job_id: format!("{run}.{subject}"),
                run_id: run.as_str().to_owned(),
                subject,
                scheduled_ms: at,
                replay: false,
                replay_at_ms: None,
            }
        };
        let sweeps: Vec<i64> = (-3..=2).map(|k| switch + k * 180_000).collect();
        let claim_at = |objects: &mut BTreeMap<String, MemoryJobTable>, c: &JobClaim, now: i64| {
            let object = ShardMap::object_for(&maps, &c.subject, c.scheduled_ms);
            claim(objects.entry(object).or_default(), c, now, LEASE).unwrap()
        };
        // Every sweep works every site; the last sweep before the switch leaves one in ten in
        // flight (its consumer died).
        for (i, &at) in sweeps.iter().enumerate() {
            for c in 0..200 {
                let j = job(at, c);
                assert_eq!(claim_at(&mut objects, &j, at + 1), ClaimDecision::Work { attempt: 1, recovery: Recovery::Fresh });
                if i == 2 && c % 10 == 0 {
                    continue;
                }
                let object = ShardMap::object_for(&maps, &j.subject, j.scheduled_ms);
                let o = JobOutcome { job_id: j.job_id.clone(), attempt: 1, error: None, superseded: false, metrics: None };
                assert_eq!(complete(objects.get_mut(&object).unwrap(), &o, at + 2, 3).unwrap(), Verdict::Ack);
            }
        }
        // After the switch, every run's messages are delivered again: each ended job is a
        // duplicate in the shard of its run's map, and each job left in flight is recovered
        // there (its second attempt, looking for the first's result), not started afresh.
        let late = switch + 3_600_000;
        for &at in &sweeps {
            for c in 0..200 {
                let d = claim_at(&mut objects, &job(at, c), late);
                let in_flight = at == sweeps[2] && c % 10 == 0;
                if in_flight {
                    assert!(matches!(d, ClaimDecision::Work { attempt: 2, recovery: Recovery::LookFirst | Recovery::LookOnly }), "{d:?}");
                } else {
                    assert_eq!(d, ClaimDecision::Duplicate, "sweep {at} site {c}");
                }
            }
        }
        // The old shards heard of no run after the switch, the new ones of none before it.
        for (name, table) in &objects {
            let old = !name.starts_with("jobs-v2-");
            assert!(table.jobs.values().all(|j| (j.scheduled_ms < switch) == old), "{name}");
        }
        assert_eq!(objects.keys().filter(|n| n.starts_with("jobs-v2-")).count(), 32, "the new map spreads over its 32 shards");
        let retention = 360 * 3_600_000;
        assert_eq!(ShardMap::live_objects(&maps, switch - 1, retention).len(), 8);
        assert_eq!(ShardMap::live_objects(&maps, switch, retention).len(), 40, "both maps while old runs may live");
        let after = ShardMap::live_objects(&maps, switch + retention, retention);
        assert!(after.len() == 32 && after.iter().all(|n| n.starts_with("jobs-v2-")), "{after:?}");
    }
}
