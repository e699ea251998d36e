//! The queues of a deployed environment, each with its declared message retention. wrangler.toml
//! has no key for a queue's retention (Cloudflare's default is 4 days), so each consumer
//! declares the retention of the queues it reads (`QUEUE_RETENTION_SECONDS`, required by the
//! configuration check, which also keeps the ledger's job retention longer) and deploy applies
//! it on every run: `wrangler queues create --message-retention-period-secs` for a new queue,
//! `wrangler queues update --message-retention-period-secs` for an existing one (idempotent).

use super::Wrangler;
use crate::Result;

/// Creates `queue` with `retention_s`, or applies `retention_s` to it if it exists; returns
/// what happened.
pub(super) fn ensure_queue(wrangler: &Wrangler, queue: &str, retention_s: Option<u64>) -> Result<String> {
    let retention_s = retention_s.ok_or_else(|| {
        format!(
            "queue {queue} has no declared message retention: its consumer must set QUEUE_RETENTION_SECONDS \
             (`cargo xtask check-config` names it)"
        )
    })?;
    let seconds = retention_s.to_string();
    let flag = "--message-retention-period-secs";
    if wrangler.output(&["queues", "info", queue])?.status.success() {
        wrangler.run(&["queues", "update", queue, flag, &seconds], &format!("setting the retention of queue {queue}"))?;
        return Ok(format!("queue {queue}: exists, message retention {retention_s} s applied"));
    }
    wrangler.run(&["queues", "create", queue, flag, &seconds], &format!("creating queue {queue}"))?;
    Ok(format!("queue {queue}: created, message retention {retention_s} s"))
}
