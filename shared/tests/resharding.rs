//! The reshard procedure through the pipeline's real call sites (`ledger::shard_map`): with a
//! second shard map in force from a switch time, the optimizer consumer's claims and completes,
//! a replay, and the dead-letters consumer's settle each reach the shard of the map in force at
//! their job's *run's* scheduled time, over a ledger twin whose job shards are both maps' slots.
//! An old run's redelivery after the switch is a duplicate in its old shard (no second elite
//! call); a new run's job of the same site lives in the new map's shard only. Written to fail
//! if a caller chose the shard by the subject alone (`shard_of`) or by the newest map.

use code24_shared::config::ELITE_CALLS_PER_JOB;
use code24_shared::dead_letters::intake::{settle_and_decide, DeadLetterAction};
use code24_shared::ids::{from_epoch_ms, CustomerId, RunId};
use code24_shared::ledger::shard_map::ShardMap;
use code24_shared::ledger::JobState;
use code24_shared::names::{OPTIMIZE_DLQ, OPTIMIZE_QUEUE};
use code24_shared::pipeline::consumer::Action;
use code24_shared::pipeline::optimize::OptimizeJobs;
use code24_shared::schedule::Task;
use code24_shared::site::SiteUrl;
use code24_shared::testkit::ports::MemoryLedger;
use code24_shared::testkit::world::World;
use code24_shared::wire::OptimizeJob;
use futures::executor::block_on;

/// A sweep boundary: the second map takes over for runs scheduled from here on.
const SWITCH: i64 = 1_800_000_000_000 / 180_000 * 180_000;
const SITES: usize = 24;

fn maps() -> [ShardMap; 2] {
    [ShardMap { version: 1, shards: 8, from_ms: i64::MIN }, ShardMap { version: 2, shards: 32, from_ms: SWITCH }]
}

fn job(scheduled_ms: i64, site: usize) -> OptimizeJob {
    let at = from_epoch_ms(scheduled_ms).unwrap();
    let customer = CustomerId::parse(&format!("reshard-{site:02}")).unwrap();
    let url = SiteUrl::parse(&format!("https://{customer}.example")).unwrap();
    OptimizeJob::new(RunId::new("local", Task::Optimize, at), at, customer, url)
}

/// The shared world of twins over a ledger whose job shards are both maps' slots.
struct Twins(World);

impl Twins {
    fn new() -> Self {
        Self(World { ledger: MemoryLedger::with_maps(&maps()), ..World::at(0) })
    }

    /// One optimizer batch of `jobs`, delivered at `now`.
    fn deliver(&self, jobs: &[OptimizeJob], now: i64) -> Vec<Action> {
        let w = &self.0;
        w.clock.set(now);
        let bodies: Vec<String> = jobs.iter().map(OptimizeJob::encode).collect();
        w.deliver(OptimizeJobs::new(&w.elite, &w.results, &w.config), &bodies, OPTIMIZE_QUEUE)
    }

    /// The slots whose job table holds `job_id`.
    fn slots_of(&self, job_id: &str) -> Vec<usize> {
        self.0.ledger.shards.borrow().iter().enumerate().filter(|(_, t)| t.jobs.contains_key(job_id)).map(|(slot, _)| slot).collect()
    }

    fn state(&self, job_id: &str) -> Option<JobState> {
        self.0.ledger.job(job_id).map(|j| j.state)
    }

    /// How many times `job_id` was worked: its elite calls, one per role each time.
    fn worked(&self, job_id: &str) -> u64 {
        self.0.elite.calls_per_job.borrow().get(job_id).copied().unwrap_or(0) / u64::from(ELITE_CALLS_PER_JOB)
    }
}

#[test]
fn a_second_shard_map_routes_each_job_by_its_runs_time_through_the_pipeline() {
    let twins = Twins::new();
    let old_run = SWITCH - 180_000;
    let new_run = SWITCH + 180_000;
    let old: Vec<OptimizeJob> = (0..SITES).map(|s| job(old_run, s)).collect();
    let new: Vec<OptimizeJob> = (0..SITES).map(|s| job(new_run, s)).collect();

    // The old run is worked before the switch, in the first map's shards (slots 0..8).
    assert!(twins.deliver(&old[..8], old_run + 1_000).iter().all(|a| *a == Action::Ack));
    for j in &old[..8] {
        let slots = twins.slots_of(j.job_id.as_str());
        assert!(slots.len() == 1 && slots[0] < 8, "{}: {slots:?}", j.job_id);
        assert_eq!((twins.state(j.job_id.as_str()), twins.worked(j.job_id.as_str())), (Some(JobState::Succeeded), 1));
    }

    // After the switch each batch mixes the old run's redeliveries, its jobs not yet worked,
    // and the new run's jobs of the same sites (a batch of 6 stays within an invocation's
    // service-binding budget).
    let mixed: Vec<OptimizeJob> = (0..8).flat_map(|i| [old[i].clone(), old[8 + i].clone(), new[i].clone()]).collect();
    for batch in mixed.chunks(6) {
        let actions = twins.deliver(batch, new_run + 1_000);
        assert!(actions.iter().all(|a| *a == Action::Ack), "{actions:?}");
    }
    for (i, j) in old[..16].iter().enumerate() {
        let id = j.job_id.as_str();
        let slots = twins.slots_of(id);
        assert!(slots.len() == 1 && slots[0] < 8, "{id}: an old run's job stays in the old map's shards: {slots:?}");
        assert_eq!(twins.worked(id), 1, "{id}: {}", if i < 8 { "the redelivery is a duplicate" } else { "worked once" });
        assert_eq!(twins.state(id), Some(JobState::Succeeded), "{id}");
    }
    for j in &new[..8] {
        let id = j.job_id.as_str();
        let slots = twins.slots_of(id);
        assert!(slots.len() == 1 && (8..40).contains(&slots[0]), "{id}: a new run's job lives in the new map's shards: {slots:?}");
        assert_eq!(slots[0] as u32, ShardMap::slot(&maps(), j.customer_id.as_str(), new_run));
        assert_eq!((twins.state(id), twins.worked(id)), (Some(JobState::Succeeded), 1));
    }

    // A replay of an old run's job (a dead letter's body, `replay`) goes to its old shard too:
    // the job there has succeeded, so it is a duplicate, not worked again.
    let replayed = OptimizeJob { replay: true, ..old[0].clone() };
    assert_eq!(twins.deliver(std::slice::from_ref(&replayed), new_run + 2_000), vec![Action::Ack]);
    assert_eq!(twins.worked(replayed.job_id.as_str()), 1);

    // The queue's backstop dead-letters an old run's job that was never claimed: the
    // dead-letters consumer settles it in the old map's shard, as dead.
    let lost = &old[20];
    let action =
        block_on(settle_and_decide(&lost.encode(), OPTIMIZE_DLQ, OPTIMIZE_QUEUE, &twins.0.ledger, &twins.0.results, new_run + 3_000));
    assert!(matches!(action, DeadLetterAction::Store(_)), "{action:?}");
    let slots = twins.slots_of(lost.job_id.as_str());
    assert!(slots.len() == 1 && slots[0] < 8, "settled in the old map's shard: {slots:?}");
    assert_eq!(twins.state(lost.job_id.as_str()), Some(JobState::Dead));

    // Every job of the new run is in a new shard, every job of the old one in an old shard.
    for (slot, table) in twins.0.ledger.shards.borrow().iter().enumerate() {
        assert!(table.jobs.values().all(|j| (j.scheduled_ms < SWITCH) == (slot < 8)), "slot {slot}");
    }
}
