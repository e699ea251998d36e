//! What a consumer invocation receives and answers, per message: a [`Delivery`] in, an
//! [`Action`] out (ack, or retry after a delay), and the retry of an infrastructure failure;
//! in between, what the ledger granted ([`Claimed`]) and how the work ended well ([`Worked`]).

use crate::backoff::RetryPolicy;
use crate::ledger::Recovery;

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

/// A job the ledger granted to this delivery (`ClaimDecision::Work`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The claim token to complete with.
    pub attempt: u32,
    /// Whether an earlier attempt may have left the result behind, as the ledger decided.
    pub recovery: Recovery,
}

/// How a worked job ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worked {
    /// The work was done now. `scores`: the elite workers' (brand, designer, developer), for
    /// the rollup, when the job has them.
    Done { scores: Option<[u8; 3]> },
    /// A recovery (`Recovery::LookFirst` or `Recovery::LookOnly`) found a crashed
    /// attempt's result: nothing redone.
    Recovered,
    /// A `Recovery::LookOnly` found nothing: the ledger records the job superseded.
    Superseded,
}
