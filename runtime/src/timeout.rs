//! Bounding a runtime call in time. workers-rs futures have no timeout of their own: the call
//! races a timer, and the loser is dropped.

use std::future::Future;
use std::time::Duration;

use futures::future::{select, Either};
use worker::Delay;

/// `call`'s output, or `None` when `limit` passed first. The limit counts from the first poll
/// of the returned future, not from its creation: an async fn's body, and so the timer, starts
/// only when polled (and `worker::Delay` arms its `setTimeout` on its own first poll too), so a
/// call that waits for a slot before it is polled has its whole limit once it starts.
pub async fn within<T>(limit: Duration, call: impl Future<Output = T>) -> Option<T> {
    match select(Box::pin(call), Box::pin(Delay::from(limit))).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(_) => None,
    }
}
