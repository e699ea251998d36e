//! Cloudflare's production limits, in one table: local workerd enforces none of them, so this
//! table is the only place a test can learn them from. Code keeps under them by reading the
//! constants here; the twins and the simulation count every invocation against them; the
//! configuration check requires the deployed settings they imply; the bench's capacity part
//! reports each counted figure against its limit.
//!
//! Every figure names the documentation page it comes from (read in late 2026; see also
//! `../shared/notes/limits.md` of the project's workplace). Where pages disagree, the stricter
//! reading is kept unless the newer page is explicit, and the entry says so.
//!
//! Architecture invariant: a limit has one home, here. A design constant that must stay under a
//! limit (a page size, a concurrency bound) is defined next to the code it shapes and checked
//! against this table by a test, never by repeating the number.
//!
//! - [`usage`]: the per-invocation meter ([`usage::Usage`]) every driver counts into, and its
//!   check against [`usage::InvocationLimits`].
//! - [`rate`]: messages per second through a queue over a sliding window
//!   ([`rate::SendWindow`]).

pub mod rate;
pub mod usage;

/// The share of a limit the design may use: at 100,000 sites every counted figure stays at or
/// below 80 % of its limit, so a traffic spike or a miscount in the model is not an outage.
pub const HEADROOM_PERCENT: u64 = 80;

/// Whether `value` is inside `limit` with the design's headroom ([`HEADROOM_PERCENT`]).
pub fn within_headroom(value: u64, limit: u64) -> bool {
    value.saturating_mul(100) <= limit.saturating_mul(HEADROOM_PERCENT)
}

const QUEUES_LIMITS: &str = "https://developers.cloudflare.com/queues/platform/limits/";
const QUEUES_BATCHING: &str = "https://developers.cloudflare.com/queues/configuration/batching-retries/";
const WORKERS_LIMITS: &str = "https://developers.cloudflare.com/workers/platform/limits/";
const SERVICE_BINDINGS: &str = "https://developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/";
const DO_LIMITS: &str = "https://developers.cloudflare.com/durable-objects/platform/limits/";
const D1_LIMITS: &str = "https://developers.cloudflare.com/d1/platform/limits/";
const R2_LIMITS: &str = "https://developers.cloudflare.com/r2/platform/limits/";
const AE_LIMITS: &str = "https://developers.cloudflare.com/analytics/analytics-engine/limits/";

// Queues.
/// Messages per second one queue accepts; beyond it `send`/`sendBatch` fail with 429.
pub const QUEUE_SEND_RATE_PER_S: u64 = 5_000;
/// Messages in one `sendBatch`.
pub const QUEUE_SEND_BATCH_MESSAGES: u64 = 100;
/// Bytes in one `sendBatch`, all messages together.
pub const QUEUE_SEND_BATCH_BYTES: u64 = 256 * 1024;
/// Bytes of one message, the ~100 bytes of internal metadata included.
pub const QUEUE_MESSAGE_BYTES: u64 = 128 * 1024;
/// A consumer's `max_batch_size`.
pub const QUEUE_CONSUMER_BATCH: u64 = 100;
/// A consumer's `max_retries`.
pub const QUEUE_MAX_RETRIES: u64 = 100;
/// A message's retry or delivery delay, in seconds (12 h on the older pages, 24 h on the newest:
/// the older, stricter one is kept).
pub const QUEUE_MAX_DELAY_S: u64 = 12 * 3_600;
/// Message retention when a queue sets none.
pub const QUEUE_RETENTION_DEFAULT_S: u64 = 4 * 86_400;
/// The longest message retention a queue may set (paid plan).
pub const QUEUE_RETENTION_MAX_S: u64 = 14 * 86_400;
/// Concurrent consumer invocations of one queue.
pub const QUEUE_CONSUMER_CONCURRENCY: u64 = 250;

// Workers, per invocation.
/// Subrequests per invocation with no `[limits] subrequests` set (paid plan; older accounts had
/// 1,000, which is why every deployed Worker sets the figure explicitly).
pub const SUBREQUESTS_DEFAULT: u64 = 10_000;
/// The most `[limits] subrequests` may ask for.
pub const SUBREQUESTS_MAX: u64 = 10_000_000;
/// Worker invocations through service bindings per request ("subsequent calls will throw").
/// Whether it counts calls or depth is not settled by the docs: it is read as a count.
pub const SERVICE_BINDING_CALLS: u64 = 32;
/// Simultaneous open connections (fetch, Queues, D1, R2, KV); further calls wait.
pub const CONNECTIONS: u64 = 6;
/// Memory of one isolate, in bytes.
pub const MEMORY_BYTES: u64 = 128 * 1024 * 1024;
/// CPU time per invocation with no `[limits] cpu_ms` set, in milliseconds.
pub const CPU_MS_DEFAULT: u64 = 30_000;
/// The most `[limits] cpu_ms` may ask for.
pub const CPU_MS_MAX: u64 = 300_000;
/// Wall time of a cron or queue-consumer invocation, in milliseconds.
pub const WALL_MS_CRON_AND_QUEUE: u64 = 15 * 60_000;

// Durable Objects (SQLite backend).
/// Storage of one object, in bytes.
pub const DO_STORAGE_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// Requests per second one object serves (a soft limit).
pub const DO_REQUESTS_PER_S: u64 = 1_000;

// D1.
/// Size of one database, in bytes (not raisable).
pub const D1_DATABASE_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// Queries per second one database serves (single-threaded, ~1 ms each).
pub const D1_QUERIES_PER_S: u64 = 1_000;
/// Queries per invocation (paid plan).
pub const D1_QUERIES_PER_INVOCATION: u64 = 1_000;
/// Bound parameters per statement.
pub const D1_BOUND_PARAMETERS: u64 = 100;

// R2.
/// Writes per second to one key.
pub const R2_WRITES_PER_KEY_PER_S: u64 = 1;
/// Custom metadata per object, in bytes.
pub const R2_METADATA_BYTES: u64 = 8_192;

// Workers Analytics Engine.
/// Data points per invocation (the page was 25 until 2025; 250 since, stated explicitly).
pub const AE_POINTS_PER_INVOCATION: u64 = 250;
/// Blobs per data point.
pub const AE_BLOBS: u64 = 20;
/// Doubles per data point.
pub const AE_DOUBLES: u64 = 20;
/// Bytes of a data point's one index.
pub const AE_INDEX_BYTES: u64 = 96;
/// Bytes of all of a data point's blobs together.
pub const AE_BLOB_BYTES: u64 = 16 * 1024;

/// One limit: what it bounds, its value, its unit and the page it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// A stable key, used in JSON lines, logs and error messages.
    pub key: &'static str,
    pub value: u64,
    pub unit: &'static str,
    /// What the limit applies to (a queue, an invocation, an object, a database).
    pub scope: &'static str,
    /// The documentation page it comes from.
    pub source: &'static str,
}

const fn limit(key: &'static str, value: u64, unit: &'static str, scope: &'static str, source: &'static str) -> Limit {
    Limit { key, value, unit, scope, source }
}

/// Every limit, for the docs, the capacity table and the tests.
pub const LIMITS: &[Limit] = &[
    limit("queue_send_rate", QUEUE_SEND_RATE_PER_S, "messages/s", "queue", QUEUES_LIMITS),
    limit("queue_send_batch_messages", QUEUE_SEND_BATCH_MESSAGES, "messages", "sendBatch", QUEUES_LIMITS),
    limit("queue_send_batch_bytes", QUEUE_SEND_BATCH_BYTES, "bytes", "sendBatch", QUEUES_LIMITS),
    limit("queue_message_bytes", QUEUE_MESSAGE_BYTES, "bytes", "message", QUEUES_LIMITS),
    limit("queue_consumer_batch", QUEUE_CONSUMER_BATCH, "messages", "consumer", QUEUES_BATCHING),
    limit("queue_max_retries", QUEUE_MAX_RETRIES, "retries", "consumer", QUEUES_BATCHING),
    limit("queue_max_delay", QUEUE_MAX_DELAY_S, "s", "message", QUEUES_BATCHING),
    limit("queue_retention_default", QUEUE_RETENTION_DEFAULT_S, "s", "queue", QUEUES_LIMITS),
    limit("queue_retention_max", QUEUE_RETENTION_MAX_S, "s", "queue", QUEUES_LIMITS),
    limit("queue_consumer_concurrency", QUEUE_CONSUMER_CONCURRENCY, "invocations", "queue", QUEUES_LIMITS),
    limit("subrequests", SUBREQUESTS_DEFAULT, "subrequests", "invocation", WORKERS_LIMITS),
    limit("subrequests_max", SUBREQUESTS_MAX, "subrequests", "invocation", WORKERS_LIMITS),
    limit("service_binding_calls", SERVICE_BINDING_CALLS, "calls", "invocation", SERVICE_BINDINGS),
    limit("connections", CONNECTIONS, "connections", "invocation", WORKERS_LIMITS),
    limit("memory", MEMORY_BYTES, "bytes", "isolate", WORKERS_LIMITS),
    limit("cpu_ms", CPU_MS_DEFAULT, "ms", "invocation", WORKERS_LIMITS),
    limit("cpu_ms_max", CPU_MS_MAX, "ms", "invocation", WORKERS_LIMITS),
    limit("wall_ms_cron_and_queue", WALL_MS_CRON_AND_QUEUE, "ms", "invocation", WORKERS_LIMITS),
    limit("do_storage", DO_STORAGE_BYTES, "bytes", "object", DO_LIMITS),
    limit("do_requests_rate", DO_REQUESTS_PER_S, "requests/s", "object", DO_LIMITS),
    limit("d1_database", D1_DATABASE_BYTES, "bytes", "database", D1_LIMITS),
    limit("d1_queries_rate", D1_QUERIES_PER_S, "queries/s", "database", D1_LIMITS),
    limit("d1_queries", D1_QUERIES_PER_INVOCATION, "queries", "invocation", D1_LIMITS),
    limit("d1_bound_parameters", D1_BOUND_PARAMETERS, "parameters", "statement", D1_LIMITS),
    limit("r2_writes_per_key", R2_WRITES_PER_KEY_PER_S, "writes/s", "key", R2_LIMITS),
    limit("r2_metadata", R2_METADATA_BYTES, "bytes", "object", R2_LIMITS),
    limit("ae_points", AE_POINTS_PER_INVOCATION, "points", "invocation", AE_LIMITS),
    limit("ae_blobs", AE_BLOBS, "blobs", "point", AE_LIMITS),
    limit("ae_doubles", AE_DOUBLES, "doubles", "point", AE_LIMITS),
    limit("ae_index", AE_INDEX_BYTES, "bytes", "point", AE_LIMITS),
    limit("ae_blob_bytes", AE_BLOB_BYTES, "bytes", "point", AE_LIMITS),
];

/// The limit named `key`, if the table has it.
pub fn find(key: &str) -> Option<&'static Limit> {
    LIMITS.iter().find(|l| l.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_keys_are_unique_and_every_entry_names_its_page() {
        for (i, l) in LIMITS.iter().enumerate() {
            assert!(LIMITS[..i].iter().all(|o| o.key != l.key), "{} twice", l.key);
            assert!(l.source.starts_with("https://developers.cloudflare.com/"), "{}: {}", l.key, l.source);
            assert!(l.value > 0, "{}", l.key);
        }
        assert_eq!(find("service_binding_calls").map(|l| l.value), Some(32));
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn limits_headroom_is_a_fifth() {
        assert!(within_headroom(8_000, 10_000));
        assert!(!within_headroom(8_001, 10_000));
        assert!(within_headroom(0, 0));
        assert!(!within_headroom(1, 0));
    }
}
