//! Queue message bodies: versioned wire structs, sent as JSON text, with explicit conversions
//! to and from the domain types. Decoding never panics and says precisely why a body was
//! refused; every refusal is a permanent error (the same bytes would fail again).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorClass, JobError};
use crate::ids::{from_epoch_ms, CustomerId, JobId, RunId};
use crate::site::SiteUrl;

/// Version of [`OptimizeJobWire`] this build writes and reads.
pub const JOB_WIRE_VERSION: u32 = 1;
/// Queues refuse a message over 128 KB, counted in thousands (128,000 bytes: Miniflare's
/// limit, which mirrors Cloudflare's; its docs count about 100 bytes of metadata within it).
/// Bodies above this are refused before sending, and dead letters are cut to fit it.
pub const MAX_MESSAGE_BYTES: usize = 127_000;

/// The optimize-queue message: one job = one customer site in one sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizeJobWire {
    pub v: u32,
    pub job_id: String,
    pub sweep_id: String,
    /// The sweep's scheduled time, epoch milliseconds.
    pub scheduled_ms: i64,
    pub customer_id: String,
    pub site_url: String,
    /// Set by a replay of a dead letter: the job runs for its original sweep even though
    /// newer sweeps exist (it fills that sweep's gap instead of being superseded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
    /// When the replay was planned (epoch ms): it revives its job only if the job died before
    /// then, so a copy of it delivered after the revived job died again changes nothing.
    /// Absent in older replays (they revive any death).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_at_ms: Option<i64>,
}

/// The domain form of an optimize job, every field validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeJob {
    pub job_id: JobId,
    pub sweep_id: RunId,
    pub scheduled: DateTime<Utc>,
    pub customer_id: CustomerId,
    pub site_url: SiteUrl,
    pub replay: bool,
    /// See [`OptimizeJobWire::replay_at_ms`].
    pub replay_at_ms: Option<i64>,
}

impl OptimizeJob {
    pub fn new(sweep_id: RunId, scheduled: DateTime<Utc>, customer_id: CustomerId, site_url: SiteUrl) -> Self {
        Self { job_id: JobId::new(&sweep_id, &customer_id), sweep_id, scheduled, customer_id, site_url, replay: false, replay_at_ms: None }
    }

    pub fn to_wire(&self) -> OptimizeJobWire {
        OptimizeJobWire {
            v: JOB_WIRE_VERSION,
            job_id: self.job_id.as_str().to_owned(),
            sweep_id: self.sweep_id.as_str().to_owned(),
            scheduled_ms: self.scheduled.timestamp_millis(),
            customer_id: self.customer_id.as_str().to_owned(),
            site_url: self.site_url.as_str().to_owned(),
            replay: self.replay,
            replay_at_ms: self.replay_at_ms,
        }
    }

    /// The JSON text sent on the queue.
    pub fn encode(&self) -> String {
        serde_json::to_string(&self.to_wire()).expect("a struct of strings and numbers always serializes")
    }

    /// Decodes and validates a queue body. The version is checked before the shape, so a
    /// message from a newer producer is reported as such rather than as garbage.
    pub fn decode(body: &str) -> Result<Self, JobError> {
        let refuse = |why: String| JobError::new(ErrorClass::Permanent, why);
        // No queue delivers a body this large; one that claims to be a job is refused unread.
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(refuse(format!("optimize message is {} bytes; at most {MAX_MESSAGE_BYTES} are accepted", body.len())));
        }
        #[derive(Deserialize)]
        struct VersionOnly {
            v: Option<u32>,
        }
        let version: VersionOnly = serde_json::from_str(body).map_err(|e| refuse(format!("undecodable optimize message: {e}")))?;
        match version.v {
            Some(JOB_WIRE_VERSION) => {}
            // A newer producer deployed before this consumer: retrying waits for the
            // consumer's update instead of dead-lettering a whole sweep.
            Some(other) if other > JOB_WIRE_VERSION => {
                return Err(JobError::transient(format!(
                    "optimize message has wire version {other}, newer than this consumer's {JOB_WIRE_VERSION}; \
                     retrying until the consumer is updated"
                )))
            }
            Some(other) => {
                return Err(refuse(format!("optimize message has wire version {other}; this consumer reads version {JOB_WIRE_VERSION}")))
            }
            None => return Err(refuse("optimize message has no wire version field `v`".into())),
        }
        let wire: OptimizeJobWire = serde_json::from_str(body).map_err(|e| refuse(format!("malformed optimize message: {e}")))?;
        wire.try_into().map_err(refuse)
    }
}

impl TryFrom<OptimizeJobWire> for OptimizeJob {
    type Error = String;

    fn try_from(w: OptimizeJobWire) -> Result<Self, String> {
        let customer_id = CustomerId::parse(&w.customer_id).map_err(|e| e.to_string())?;
        let sweep_id = RunId::parse(&w.sweep_id).ok_or_else(|| format!("malformed sweep id {:?}", w.sweep_id))?;
        let site_url = SiteUrl::parse(&w.site_url)?;
        let scheduled = from_epoch_ms(w.scheduled_ms).ok_or_else(|| format!("scheduled_ms {} is out of range", w.scheduled_ms))?;
        let job_id = JobId::new(&sweep_id, &customer_id);
        if job_id.as_str() != w.job_id {
            return Err(format!("job id {:?} does not match its sweep and customer (expected {job_id})", w.job_id));
        }
        Ok(Self { job_id, sweep_id, scheduled, customer_id, site_url, replay: w.replay, replay_at_ms: w.replay_at_ms })
    }
}

/// Version of [`DeadLetter`] this build writes.
pub const DEAD_LETTER_VERSION: u32 = 1;

/// What the optimizer sends to the dead-letter queue: the original body, untouched, with the
/// reason it died. Fields known only for decodable bodies are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub v: u32,
    /// The queue the body was consumed from.
    pub origin_queue: String,
    /// The original message body, exactly as received.
    pub body: String,
    pub error: JobError,
    /// Attempts made (0 when the body could not even be decoded).
    pub attempts: u32,
    pub job_id: Option<String>,
    /// The run the job belonged to ([`crate::ids::RunId`]); `sweep_id` on the wire (see there).
    #[serde(rename = "sweep_id")]
    pub run_id: Option<String>,
    pub customer_id: Option<String>,
    pub dead_at_ms: i64,
}

impl DeadLetter {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and numbers always serializes")
    }

    /// The letter as it can be sent: unchanged when its encoding fits a queue message
    /// ([`MAX_MESSAGE_BYTES`]); otherwise the body is cut to the longest prefix that fits, and
    /// the error says so, with the original length and a hash of the original body. Escaping
    /// can make a letter several times larger than its body (a quote becomes two bytes, a
    /// control character six), so a body the queue delivered may not fit in its dead letter:
    /// unfitted, the dead-letter queue would refuse it on every delivery.
    pub fn fitted(mut self) -> Self {
        if self.encode().len() <= MAX_MESSAGE_BYTES {
            return self;
        }
        let body = std::mem::take(&mut self.body);
        self.error.message = format!(
            "{} [body cut to fit the dead-letter queue: {} bytes, fnv1a {:016x}]",
            crate::api::truncated(&self.error.message, 1_000),
            body.len(),
            crate::ids::stable_hash(body.as_bytes()),
        );
        // The longest char-boundary prefix whose letter fits: binary search over byte lengths.
        let boundaries: Vec<usize> = body.char_indices().map(|(i, _)| i).chain([body.len()]).collect();
        let fits = |end: usize| {
            let mut probe = self.clone();
            probe.body = body[..end].to_owned();
            probe.encode().len() <= MAX_MESSAGE_BYTES
        };
        let (mut lo, mut hi) = (0, boundaries.len() - 1);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(boundaries[mid]) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        self.body = body[..boundaries[lo]].to_owned();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Task;

    fn job() -> OptimizeJob {
        let at = from_epoch_ms(1_795_914_900_000).unwrap();
        OptimizeJob::new(
            RunId::new("local", Task::Optimize, at),
            at,
            CustomerId::parse("acme").unwrap(),
            SiteUrl::parse("https://acme.example").unwrap(),
        )
    }

    #[test]
    fn jobs_round_trip_through_the_wire() {
        let j = job();
        assert_eq!(OptimizeJob::decode(&j.encode()).unwrap(), j);
        let mut replayed = job();
        replayed.replay = true;
        assert_eq!(OptimizeJob::decode(&replayed.encode()).unwrap(), replayed);
        assert!(!j.encode().contains("replay"), "replay=false is omitted: {}", j.encode());
    }

    fn check_refused(body: &str, fragment: &str) {
        let err = OptimizeJob::decode(body).unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent);
        assert!(err.message.contains(fragment), "{body}: {}", err.message);
    }

    #[test]
    fn bad_bodies_are_refused_permanently_with_a_reason() {
        let good = job().encode();
        check_refused("", "undecodable");
        check_refused("{\"v\":1", "undecodable");
        check_refused("[1,2]", "undecodable");
        check_refused(&good.replace("\"v\":1", "\"v\":0"), "wire version 0");
        let newer = OptimizeJob::decode(&good.replace("\"v\":1", "\"v\":2")).unwrap_err();
        assert_eq!(newer.class, ErrorClass::Transient, "{}", newer.message);
        check_refused(&good.replace("\"v\":1,", ""), "no wire version");
        check_refused(&good.replace("acme\"", "../x\""), "customer id contains '.'");
        check_refused(&good.replace("https://acme.example", "ftp://x"), "must start with http");
        check_refused(&good.replace("\"job_id\":\"local", "\"job_id\":\"other"), "does not match");
        check_refused(&good.replace("{", "{\"extra\":1,"), "unknown field");
        check_refused(&format!("{good}{}", " ".repeat(MAX_MESSAGE_BYTES)), &format!("at most {MAX_MESSAGE_BYTES}"));
    }

    fn letter(body: String) -> DeadLetter {
        DeadLetter {
            v: DEAD_LETTER_VERSION,
            origin_queue: "code24-optimize".into(),
            body,
            error: JobError::permanent("undecodable"),
            attempts: 0,
            job_id: None,
            run_id: None,
            customer_id: None,
            dead_at_ms: 1,
        }
    }

    #[test]
    fn dead_letters_are_fitted_to_a_queue_message() {
        let small = letter("poison".into());
        assert_eq!(small.clone().fitted(), small, "a letter that fits is unchanged");
        // Each control character escapes to six bytes: 30 KB of them cannot travel verbatim.
        for body in ["\u{1}".repeat(30_000), "\"é".repeat(60_000), "x".repeat(MAX_MESSAGE_BYTES)] {
            let fitted = letter(body.clone()).fitted();
            let encoded = fitted.encode();
            assert!(encoded.len() <= MAX_MESSAGE_BYTES, "{} bytes", encoded.len());
            assert!(encoded.len() > MAX_MESSAGE_BYTES - 16, "the prefix is as long as fits: {}", encoded.len());
            assert!(body.starts_with(&fitted.body));
            assert!(fitted.error.message.contains(&format!("{} bytes", body.len())), "{}", fitted.error.message);
        }
    }
}
