//! The order a fan-out sends its sites in, page by page: the customer ids after the run's
//! origin first, then from the first id up to the origin (see `RunRow::origin`). Sans-IO: the
//! producer reads a page where [`Rotation`] says, and the rotation says which of its sites to
//! send, which cursor to record and where to read next.
//!
//! An optimization sweep's origin is where the previous sweep of its task stopped
//! ([`next_origin`], called by `ledger::runs::open`): where its fan-out died, or where its
//! *work* stood when the new sweep opened, whichever comes first in its order. So the sites a
//! dead fan-out left unsent, and the sites an overloaded sweep never reached before the next
//! one superseded it (`ledger::heads`), are the first the next sweep sends, whatever their
//! place in the id order; the sites just worked come last.

use crate::ledger::heads::WorkFront;
use crate::ledger::shard_map::ShardMap;
use crate::ledger::{RunPhase, RunRow};
use crate::ports::SitePage;
use crate::site::Site;

/// A cursor's place in the order of a fan-out that started after `origin`: the ids after the
/// origin come first, then the ids up to it. Cursors compare by rank, so a page of the wrapped
/// part is after every page before the wrap.
pub fn rank<'k>(key: &'k str, origin: Option<&str>) -> (bool, &'k str) {
    (origin.is_some_and(|o| key <= o), key)
}

/// Where a new sweep starts, after `previous` (the task's sweep before it) and `fronts` (where
/// the consumers' work stood in each job shard when the new sweep opened, `ledger::heads`;
/// `unread` shards could not be read):
///
/// - the previous fan-out died after its work started: after its last recorded cursor (its
///   unsent sites first);
/// - its work reached sites of the previous sweep: after the furthest of them in its order
///   (the sites the work did not reach first). Under overload the previous sweep is
///   superseded from now on, so this is where its work stops, give or take the jobs in
///   flight. The furthest, not the latest: batches in flight interleave, so the latest claim
///   can lag the furthest by a batch, and a lagging origin would send sites just worked first.
///   A previous sweep sent by shard (`RunRow::by_shard`) was worked block by block, shard
///   after shard within a block: a shard's front is where *its* work stood, so the work
///   surely reached only the nearest of the fronts, and every shard must have one and be read
///   (a shard whose work had not reached the sweep, or that could not be read, leaves the
///   previous origin). The sites from there on are sent first: at most the fronts' block and
///   the one before it were partly worked, and are worked again;
/// - both: whichever comes first in the previous sweep's order;
/// - no work of the previous sweep known (its work is in an older sweep, or nothing was
///   claimed yet, or a by-shard front is missing), whether its fan-out died or not: the
///   previous sweep's own origin, as its work has not started. Not a dead fan-out's cursor:
///   the sites it sent and nobody worked would then go last, and an overloaded sweep does not
///   reach them. Only when no front at all is known (the first sweeps, or no shard could be
///   read) does a dead fan-out's cursor count, so that dying fan-outs take turns at the order.
pub fn next_origin(previous: &RunRow, fronts: &[WorkFront], unread: u32) -> Option<String> {
    let sent_to = match previous.phase {
        RunPhase::Enqueued => None,
        RunPhase::Enqueuing | RunPhase::Abandoned => previous.cursor.clone(),
    };
    let origin = previous.origin.as_deref();
    let reached = fronts.iter().filter(|f| f.scheduled_ms == previous.scheduled_ms).map(|f| f.subject.as_str());
    let worked_to = if !previous.by_shard {
        reached.max_by_key(|subject| rank(subject, origin))
    } else if unread == 0 && reached.clone().count() == fronts.len() {
        reached.min_by_key(|subject| rank(subject, origin))
    } else {
        None
    };
    match (sent_to, worked_to.map(str::to_owned)) {
        (Some(sent), Some(worked)) => Some(if rank(&worked, origin) < rank(&sent, origin) { worked } else { sent }),
        (None, Some(worked)) => Some(worked),
        // Nothing known of any work (no shard has a front, or none could be read): the sites
        // after a dead fan-out's cursor first, so dying fan-outs take turns at the order.
        (Some(sent), None) if fronts.is_empty() => Some(sent),
        (_, None) => previous.origin.clone(),
    }
}

/// Whether every job of `previous` had ended when `fronts` were read: its fan-out finished and
/// the shards' ended jobs of it (`WorkFront::ended`) add up to what it sent. The next sweep
/// then sends by shard (`ledger::runs::open`).
pub fn worked_through(previous: &RunRow, fronts: &[WorkFront]) -> bool {
    let ended: u64 = fronts.iter().filter(|f| f.scheduled_ms == previous.scheduled_ms).filter_map(|f| f.ended).sum();
    previous.finished_ms.is_some() || (previous.phase == RunPhase::Enqueued && ended >= previous.expected)
}

/// Where a fan-out is in its rotated order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    origin: Option<String>,
    /// Whether the fan-out passed the last id and now reads from the first up to the origin.
    wrapped: bool,
}

/// What one page read yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The page's sites that belong to this fan-out, to send.
    pub sites: Vec<Site>,
    /// The cursor to record once they are sent; `None` for a page that ends the first part
    /// (nothing read, nothing to record).
    pub cursor: Option<String>,
    /// Where to read the next page (`Some(None)`: from the first id); `None` when done.
    pub next: Option<Option<String>>,
}

impl Rotation {
    /// A fan-out starting after `origin`, or resuming after `cursor` (a cursor recorded by
    /// this run); returns where to read first.
    pub fn new(origin: Option<String>, cursor: Option<String>) -> (Self, Option<String>) {
        let wrapped = cursor.as_deref().is_some_and(|c| rank(c, origin.as_deref()).0);
        let first = cursor.or_else(|| origin.clone());
        (Self { origin, wrapped }, first)
    }

    /// Takes the page read where the previous step (or [`Rotation::new`]) said.
    pub fn step(&mut self, page: SitePage) -> Step {
        let SitePage { mut sites, last_key } = page;
        match (self.wrapped, last_key, self.origin.clone()) {
            // The first part: every site; the cursor is the page's raw last id, so a page of
            // rows that all failed validation does not end the fan-out.
            (false, Some(last), _) => Step { sites, cursor: Some(last.clone()), next: Some(Some(last)) },
            // Past the last id: wrap to the first, up to the origin.
            (false, None, Some(_)) => {
                self.wrapped = true;
                Step { sites: Vec::new(), cursor: None, next: Some(None) }
            }
            (false, None, None) | (true, _, None) => Step { sites: Vec::new(), cursor: None, next: None },
            (true, last, Some(origin)) => {
                sites.retain(|s| s.customer_id.as_str() <= origin.as_str());
                match last {
                    Some(last) if last < origin => Step { sites, cursor: Some(last.clone()), next: Some(Some(last)) },
                    // The page reached the origin: the rotation is complete, and its end (the
                    // origin, the last place in this order) is the cursor.
                    _ => Step { sites, cursor: Some(origin), next: None },
                }
            }
        }
    }
}

/// Sites per block of a fan-out sent by shard ([`by_shard`]).
pub const SHARD_BLOCK_SITES: usize = 400;

/// Orders each block of [`SHARD_BLOCK_SITES`] consecutive sites (of a page, in the rotated
/// order) by the ledger shard of its job, then by customer id. A queue delivers its messages
/// roughly in the order sent (Miniflare exactly, Cloudflare's Queues roughly) and a consumer
/// batch is consecutive messages: with a block's sites 50 to a shard, a batch touches one or
/// two shards instead of nearly one per job, and costs one claim and one complete request for
/// each (`pipeline::consumer`), so the ledger writes one journal row for several jobs.
/// Only the order within a block changes: the page's cursor, recorded once all of it is sent,
/// is the same, and so is every resume; how the work front is read changes
/// ([`next_origin`]).
pub fn by_shard(sites: &mut [Site], maps: &[ShardMap], scheduled_ms: i64) {
    for block in sites.chunks_mut(SHARD_BLOCK_SITES) {
        // Stable: a shard's sites stay in the rotated order.
        block.sort_by_cached_key(|s| ShardMap::slot(maps, s.customer_id.as_str(), scheduled_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CustomerId;
    use crate::site::SiteUrl;

    fn page(ids: &[&str]) -> SitePage {
        let sites: Vec<Site> = ids
            .iter()
            .map(|id| Site { customer_id: CustomerId::parse(id).unwrap(), url: SiteUrl::parse("https://x.example").unwrap() })
            .collect();
        SitePage { last_key: ids.last().map(|s| s.to_string()), sites }
    }

    /// Runs a rotation over `ids` in pages of `size`: the ids sent, in order.
    fn sent(ids: &[&str], size: usize, origin: Option<&str>, cursor: Option<&str>) -> Vec<String> {
        let (mut rotation, mut after) = Rotation::new(origin.map(Into::into), cursor.map(Into::into));
        let mut out = Vec::new();
        for _ in 0..100 {
            let rest: Vec<&str> = ids.iter().copied().filter(|id| after.as_deref().is_none_or(|a| *id > a)).take(size).collect();
            let step = rotation.step(page(&rest));
            out.extend(step.sites.iter().map(|s| s.customer_id.as_str().to_owned()));
            match step.next {
                Some(next) => after = next,
                None => return out,
            }
        }
        panic!("the rotation never ended");
    }

    #[test]
    fn limits_a_rotation_sends_every_site_once_starting_after_its_origin() {
        let ids = ["a", "b", "c", "d", "e"];
        assert_eq!(sent(&ids, 2, None, None), ["a", "b", "c", "d", "e"]);
        assert_eq!(sent(&ids, 2, Some("c"), None), ["d", "e", "a", "b", "c"]);
        assert_eq!(sent(&ids, 10, Some("e"), None), ["a", "b", "c", "d", "e"]);
        // An origin no longer in the registry is only a place in the order.
        assert_eq!(sent(&ids, 1, Some("bb"), None), ["c", "d", "e", "a", "b"]);
        // Resumed: after the cursor, in the same order.
        assert_eq!(sent(&ids, 2, Some("c"), Some("e")), ["a", "b", "c"]);
        assert_eq!(sent(&ids, 2, Some("c"), Some("a")), ["b", "c"]);
        assert!(sent(&ids, 2, Some("c"), Some("c")).is_empty(), "a cursor at the origin is the end");
        assert!(sent(&[], 2, Some("c"), None).is_empty());
    }

    fn previous(phase: RunPhase, origin: Option<&str>, cursor: Option<&str>) -> RunRow {
        RunRow {
            run_id: "l.optimize.s1".into(),
            task: "optimize".into(),
            scheduled_ms: 180_000,
            phase,
            cursor: cursor.map(Into::into),
            origin: origin.map(Into::into),
            by_shard: false,
            expected: 5,
            enqueued: 5,
            opened_ms: 0,
            producer_lease_until_ms: 0,
            producer_owner: None,
            fanout_done_ms: None,
            finished_ms: None,
            firings: 1,
            finalize_requested_ms: None,
        }
    }

    fn check_origin(previous: &RunRow, fronts: &[(i64, &str)], expected: Option<&str>) {
        check_origin_unread(previous, fronts, 0, expected);
    }

    fn check_origin_unread(previous: &RunRow, fronts: &[(i64, &str)], unread: u32, expected: Option<&str>) {
        let fronts: Vec<WorkFront> = fronts
            .iter()
            .map(|(scheduled_ms, subject)| WorkFront {
                scheduled_ms: *scheduled_ms,
                subject: (*subject).into(),
                at_ms: 0,
                run_id: String::new(),
                ended: None,
            })
            .collect();
        assert_eq!(next_origin(previous, &fronts, unread).as_deref(), expected, "{previous:?} {fronts:?} unread {unread}");
    }

    #[test]
    fn overload_a_sweep_starts_where_the_previous_sweeps_work_or_fan_out_stopped() {
        let done = previous(RunPhase::Enqueued, Some("b"), Some("b"));
        // No work front of that sweep (nothing claimed yet, or an older sweep's): its origin.
        check_origin(&done, &[], Some("b"));
        check_origin(&done, &[(0, "d")], Some("b"));
        // Its work reached "d" (one shard) and "c" (another): the sites after "d" first. After
        // the wrap ("a" comes after "e" in the order that started after "b") is further still.
        check_origin(&done, &[(180_000, "c"), (180_000, "d"), (0, "e")], Some("d"));
        check_origin(&done, &[(180_000, "e"), (180_000, "a")], Some("a"));
        // A dead fan-out at "a" (after the wrap) and work at "d" (before it): "d" comes first
        // in the order that started after "b", so the sites after "d" were never worked.
        let died = previous(RunPhase::Abandoned, Some("b"), Some("a"));
        check_origin(&died, &[(180_000, "d")], Some("d"));
        // Work cannot pass the sends; a front past the cursor (stale) loses to it.
        let died_early = previous(RunPhase::Enqueuing, Some("b"), Some("c"));
        check_origin(&died_early, &[(180_000, "e")], Some("c"));
        // A dead fan-out whose work had not started: what it sent was not worked either, so
        // from its origin (its cursor would put the sites it sent last, where an overloaded
        // sweep never reaches them); likewise with only older sweeps' fronts.
        check_origin(&died_early, &[(0, "e")], Some("b"));
        // Nothing known of any work: after the cursor, so dying fan-outs take turns.
        check_origin(&died_early, &[], Some("c"));
        // A plain order's missing shard only makes the furthest front nearer: more work again.
        check_origin_unread(&done, &[(180_000, "c")], 1, Some("c"));
        check_origin(&previous(RunPhase::Enqueued, None, None), &[], None);
    }

    #[test]
    fn overload_after_a_sweep_sent_by_shard_the_next_starts_at_the_nearest_front() {
        let by_shard = RunRow { by_shard: true, ..previous(RunPhase::Enqueued, Some("b"), Some("b")) };
        // Each shard's work stood at its own place: only the nearest is surely reached.
        check_origin(&by_shard, &[(180_000, "d"), (180_000, "c"), (180_000, "a")], Some("c"));
        // A shard whose work had not reached the sweep: where it stood is unknown, so the
        // sweep's own origin.
        check_origin(&by_shard, &[(180_000, "d"), (0, "e")], Some("b"));
        // A shard that could not be read may be the one behind: the sweep's own origin.
        check_origin_unread(&by_shard, &[(180_000, "d"), (180_000, "c")], 1, Some("b"));
        // A dead fan-out still bounds it.
        let died = RunRow { by_shard: true, ..previous(RunPhase::Abandoned, Some("b"), Some("c")) };
        check_origin(&died, &[(180_000, "e"), (180_000, "d")], Some("c"));
    }

    #[test]
    fn a_sweep_is_worked_through_once_its_shards_ended_all_it_sent() {
        let front = |scheduled_ms: i64, ended: Option<u64>| WorkFront {
            scheduled_ms,
            subject: "c".into(),
            at_ms: 0,
            run_id: "l.optimize.s1".into(),
            ended,
        };
        let sent = previous(RunPhase::Enqueued, None, None);
        assert!(worked_through(&sent, &[front(180_000, Some(3)), front(180_000, Some(2))]));
        assert!(!worked_through(&sent, &[front(180_000, Some(3)), front(180_000, Some(1))]), "one job still open");
        // An older sweep's front counts nothing for this one; nor does a front without counts.
        assert!(!worked_through(&sent, &[front(180_000, Some(3)), front(0, Some(9)), front(180_000, None)]));
        // A fan-out not finished is not worked through, whatever its shards ended.
        let sending = previous(RunPhase::Enqueuing, None, None);
        assert!(!worked_through(&sending, &[front(180_000, Some(5))]));
        // A finish time recorded says so by itself.
        assert!(worked_through(&RunRow { finished_ms: Some(1), ..sending }, &[]));
    }

    #[test]
    fn a_block_goes_out_shard_by_shard_and_the_blocks_in_order() {
        use crate::ledger::shard_map::MAPS;
        let site = |i: usize| Site {
            customer_id: CustomerId::parse(&format!("c{i:05}")).unwrap(),
            url: SiteUrl::parse("https://x.example").unwrap(),
        };
        let mut sites: Vec<Site> = (0..SHARD_BLOCK_SITES + 100).map(site).collect();
        by_shard(&mut sites, MAPS, 0);
        let key = |s: &Site| (ShardMap::slot(MAPS, s.customer_id.as_str(), 0), s.customer_id.as_str().to_owned());
        let (first, second) = sites.split_at(SHARD_BLOCK_SITES);
        for block in [first, second] {
            let keys: Vec<_> = block.iter().map(key).collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "a block by shard, then id: {keys:?}");
        }
        // The second block holds exactly the sites after the first in the id order.
        let mut tail: Vec<&str> = second.iter().map(|s| s.customer_id.as_str()).collect();
        tail.sort_unstable();
        assert_eq!(tail.first().copied(), Some(format!("c{SHARD_BLOCK_SITES:05}").as_str()));
        assert_eq!(tail.len(), 100, "one message per site");
    }

    #[test]
    fn overload_after_a_sweep_sent_by_shard_no_unworked_site_goes_last_even_with_a_shard_unread() {
        use crate::ledger::shard_map::MAPS;
        // A sweep of 2,000 sites sent by shard and worked in the order sent; the next opens
        // after k jobs, each shard's front its last claim, with every shard read or one not.
        let ids: Vec<String> = (0..2_000).map(|i| format!("c{i:05}")).collect();
        let url = SiteUrl::parse("https://x.example").unwrap();
        let mut order: Vec<Site> = ids.iter().map(|id| Site { customer_id: CustomerId::parse(id).unwrap(), url: url.clone() }).collect();
        by_shard(&mut order, MAPS, 180_000);
        let sent = RunRow { by_shard: true, ..previous(RunPhase::Enqueued, None, Some("c01999")) };
        for k in (1..2_000).step_by(7) {
            let worked: std::collections::BTreeSet<&str> = order[..k].iter().map(|s| s.customer_id.as_str()).collect();
            for unread in [None, Some(0), Some(3), Some(7)] {
                let fronts: Vec<WorkFront> = (0..8u32)
                    .filter(|shard| Some(*shard) != unread)
                    .map(|shard| {
                        let last = order[..k].iter().rev().find(|s| ShardMap::slot(MAPS, s.customer_id.as_str(), 180_000) == shard);
                        let (scheduled_ms, subject) = last.map_or((0, "c00000"), |s| (180_000, s.customer_id.as_str()));
                        WorkFront { scheduled_ms, subject: subject.into(), at_ms: 0, run_id: String::new(), ended: None }
                    })
                    .collect();
                let origin = next_origin(&sent, &fronts, u32::from(unread.is_some()));
                let last = ids.iter().filter(|id| !worked.contains(id.as_str()) && origin.as_deref().is_some_and(|o| id.as_str() <= o));
                assert_eq!(last.count(), 0, "k {k}, shard {unread:?} unread: origin {origin:?} sends unworked sites last");
            }
        }
    }
}
