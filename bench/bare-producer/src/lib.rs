//! The bare baseline producer of `cargo xtask bench` (bench tree only, never deployed).
//!
//! Its scheduled handler does the unavoidable part of a fan-out and nothing else: it sends N
//! messages of exactly the size the dispatcher sends (the same `OptimizeJob` JSON text for the
//! same synthetic site ids, [`site`]) with `send_batch` in batches of 100, as many in flight as
//! the dispatcher sends (`pipeline::producer::SENDS_IN_FLIGHT`, which keeps it within the 6
//! connections an invocation may open; a page's 20 batches at once would not be). No D1 page,
//! no ledger, no validation: the ratio of the two is the dispatcher's bookkeeping. The bench fires it through Miniflare's
//! scheduled endpoint with a cron string naming what to do (Miniflare passes the string on
//! without parsing it):
//! - `bench-fanout N`: send to `BENCH_FANOUT`, a queue with no consumer in the bench stack
//!   (the same as the dispatcher's queue in the fan-out stack);
//! - `bench-sweep N`: send to `BENCH_JOBS`, consumed by the bare consumer.
//!
//! Its fetch handler is the bench's setup, never timed: `GET /bench/sites?total=T&active=N`
//! inserts the synthetic sites `0..T` into the site registry (D1, the dispatcher's database)
//! where missing and leaves exactly the first N active; any other path answers 200 (readiness).

use code24_shared::ids::{CustomerId, RunId};
use code24_shared::schedule::Task;
use code24_shared::site::SiteUrl;
use code24_shared::wire::OptimizeJob;
use futures::{StreamExt, TryStreamExt};
use wasm_bindgen::JsValue;
use worker::{
    console_error, console_log, event, Context, Env, QueueContentType, RawMessageBuilder, Request, Response, ScheduleContext,
    ScheduledEvent, SendMessage,
};

/// Messages per `send_batch`, as the dispatcher sends them.
const BATCH: usize = 100;
/// `send_batch` calls in flight at once, as the dispatcher's.
const IN_FLIGHT: usize = code24_shared::pipeline::producer::SENDS_IN_FLIGHT;

/// The synthetic site `i` of a bench run: the bench seeds D1 with exactly these rows, so the
/// baseline's messages are byte for byte as large as the dispatcher's.
pub fn site(i: usize) -> (String, String) {
    (format!("bench-{i:06}"), format!("https://site-{i:06}.bench.example"))
}

/// What one firing asks for, parsed from its cron string.
fn parse(cron: &str) -> Option<(&'static str, usize)> {
    let (what, n) = cron.split_once(' ')?;
    let binding = match what {
        "bench-fanout" => "BENCH_FANOUT",
        "bench-sweep" => "BENCH_JOBS",
        _ => return None,
    };
    Some((binding, n.trim().parse().ok()?))
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    let Some((binding, n)) = parse(&cron) else {
        console_error!("bare-producer: unknown cron {cron:?}");
        return;
    };
    let scheduled = chrono::DateTime::from_timestamp_millis(event.schedule() as i64).unwrap_or_default();
    let started_ms = worker::Date::now().as_millis();
    match send(&env, binding, n, scheduled).await {
        // The bench reads the time (as the dispatcher logs its fan-out's `elapsed_ms`).
        Ok(()) => console_log!("bare-producer: sent {n} to {binding} in {} ms", worker::Date::now().as_millis() - started_ms),
        Err(e) => console_error!("bare-producer: {e}"),
    }
}

async fn send(env: &Env, binding: &str, n: usize, scheduled: chrono::DateTime<chrono::Utc>) -> worker::Result<()> {
    let queue = env.queue(binding)?;
    let sweep = RunId::new("local", Task::Optimize, scheduled);
    let message = |k: usize| {
        let (id, url) = site(k);
        let job = OptimizeJob::new(
            sweep.clone(),
            scheduled,
            CustomerId::parse(&id).expect("synthetic ids are valid"),
            SiteUrl::parse(&url).expect("synthetic urls are valid"),
        );
        RawMessageBuilder::new(JsValue::from_str(&job.encode())).build_with_content_type(QueueContentType::Text)
    };
    let batches = (0..n).step_by(BATCH).map(|i| (i..(i + BATCH).min(n)).map(message).collect::<Vec<SendMessage<JsValue>>>());
    let sends = futures::stream::iter(batches).map(|batch| queue.send_raw_batch(batch)).buffer_unordered(IN_FLIGHT);
    sends.try_collect::<Vec<()>>().await.map(drop)
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let url = req.url()?;
    if url.path() == "/bench/profile" {
        return profile(&env).await;
    }
    if url.path() != "/bench/sites" {
        return Response::ok("bare producer");
    }
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<usize>().ok());
    let (Some(total), Some(active)) = (param("total"), param("active")) else {
        return Response::error("need total and active", 400);
    };
    if active > total || total > 999_999 {
        return Response::error("need active <= total <= 999999", 400);
    }
    let db = env.d1(code24_shared::names::binding::DB)?;
    // Literal values: the ids and urls are synthetic and valid, and D1 binds at most 100
    // parameters per statement.
    for start in (0..total).step_by(SEED_CHUNK) {
        let rows: Vec<(String, String)> = (start..(start + SEED_CHUNK).min(total)).map(site).collect();
        let customers: Vec<String> = rows.iter().map(|(id, _)| format!("('{id}', 'Bench {id}', 'starter')")).collect();
        let sites: Vec<String> = rows.iter().map(|(id, url)| format!("('{id}', '{url}', 0)")).collect();
        db.prepare(format!("INSERT OR IGNORE INTO customers (id, name, plan) VALUES {}", customers.join(","))).run().await?;
        db.prepare(format!("INSERT OR IGNORE INTO sites (customer_id, url, active) VALUES {}", sites.join(","))).run().await?;
    }
    let (first_inactive, _) = site(active);
    db.prepare(format!("UPDATE sites SET active = CASE WHEN customer_id < '{first_inactive}' THEN 1 ELSE 0 END")).run().await?;
    Response::ok(format!("{active} of {total} bench sites active"))
}

/// The fan-out's profile (`GET /bench/profile`): the registry reads of a whole fan-out, alone,
/// with the dispatcher's own adapter (`D1Registry`), at its page size and at larger ones, and
/// the encoding of every message without sending it. Each is timed with the Workers clock,
/// which advances across I/O, so CPU-only work (the encoding) reads as 0 ms locally and is
/// timed by counting instead.
async fn profile(env: &Env) -> worker::Result<Response> {
    use code24_shared::ports::SiteRegistry;
    let registry = code24_runtime::registry::D1Registry::from_env(env)?;
    let now = code24_runtime::env::now_ms;
    let started = now();
    let count = registry.count_active().await.map_err(|e| worker::Error::RustError(e.to_string()))?;
    let count_ms = now() - started;
    let mut pages = Vec::new();
    for size in [500u32, 2_000] {
        let started = now();
        let (mut cursor, mut n, mut rows) = (None::<String>, 0u32, 0usize);
        loop {
            let page = registry.active_page(cursor.as_deref(), size).await.map_err(|e| worker::Error::RustError(e.to_string()))?;
            let Some(last) = page.last_key else { break };
            rows += page.sites.len();
            n += 1;
            cursor = Some(last);
        }
        pages.push(serde_json::json!({"page_size": size, "pages": n, "rows": rows, "ms": now() - started}));
    }
    let body = serde_json::json!({"active": count, "count_ms": count_ms, "reads": pages});
    Response::from_json(&body)
}

/// Rows per seeding statement.
const SEED_CHUNK: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crons_name_the_queue_and_the_count() {
        assert_eq!(parse("bench-fanout 20000"), Some(("BENCH_FANOUT", 20_000)));
        assert_eq!(parse("bench-sweep 5"), Some(("BENCH_JOBS", 5)));
        assert_eq!(parse("*/3 * * * *"), None);
        assert_eq!(parse("bench-fanout many"), None);
    }

    #[test]
    fn synthetic_sites_are_valid() {
        let (id, url) = site(19_999);
        assert!(CustomerId::parse(&id).is_ok() && SiteUrl::parse(&url).is_ok());
    }
}
