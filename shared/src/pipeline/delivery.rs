//! What a consumer invocation receives and answers, per message: a [`Delivery`] in, an
//! [`Action`] out (ack, or retry after a delay), and the retry of an infrastructure failure.

use crate::backoff::RetryPolicy;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The body as text.
    pub body: String,
    /// When the message was first sent (epoch ms): infrastructure retries back off by age.
    pub sent_ms: i64,
}

/// What to do with one delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Ack,
    /// Retry after this many seconds.
    Retry {
        delay_s: u32,
    },
}

/// A retry for an infrastructure failure (ledger, queue or store unreachable), backing off by
/// the message's age: nothing was recorded, so there is no attempt count to back off by.
pub(crate) fn infra_retry(retry: &RetryPolicy, age_ms: i64) -> Action {
    Action::Retry { delay_s: retry.delay_for_age_s(age_ms) }
}
