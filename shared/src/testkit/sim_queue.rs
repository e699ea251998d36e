//! The simulation's optimize queue: messages by the instant they become visible, first pushed
//! first among equals, in a heap, so a step of the simulation costs what it delivers, not what
//! the queue holds (100,000 sites in batches of 2 are 50,000 steps).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One message in a simulated queue.
pub(crate) struct Msg {
    pub(crate) body: String,
    pub(crate) deliveries: u32,
    pub(crate) visible_at: i64,
    pub(crate) sent_ms: i64,
}

/// The optimize queue's messages by the instant they become visible, first pushed first among
/// equals: a heap, so a step costs what it delivers, not what the queue holds (100,000 sites in
/// batches of 2 are 50,000 steps).
#[derive(Default)]
pub(crate) struct SimQueue {
    heap: BinaryHeap<Reverse<Queued>>,
    pushed: u64,
}

struct Queued(i64, u64, Msg);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(other.0, other.1))
    }
}

impl SimQueue {
    pub(crate) fn push(&mut self, m: Msg) {
        self.pushed += 1;
        self.heap.push(Reverse(Queued(m.visible_at, self.pushed, m)));
    }

    pub(crate) fn next_visible(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse(q)| q.0)
    }

    /// Up to `max` messages visible at `now`, earliest first.
    pub(crate) fn pop_ready(&mut self, now: i64, max: usize) -> Vec<Msg> {
        let mut out = Vec::new();
        while out.len() < max && self.next_visible().is_some_and(|v| v <= now) {
            out.extend(self.heap.pop().map(|Reverse(q)| q.2));
        }
        out
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }
}
