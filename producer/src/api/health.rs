//! `GET /api/health`: the platform's health in one answer (`code24_shared::alerts::HealthView`):
//! the newest health-check report, the breakers (or none: no breaker data), the newest
//! incidents and alert messages, and where alerts go. Read-only; the dashboard's health page
//! renders it.

use code24_runtime::alerts::{breakers, D1Alerts};
use code24_runtime::env::{now_ms, vars};
use code24_runtime::http::{error, json};
use code24_runtime::meter::Meter;
use code24_shared::alerts::HealthView;
use code24_shared::config;
use code24_shared::ids::from_epoch_ms;
use code24_shared::names::binding;
use worker::Response;

use super::Call;

/// Incidents and messages the answer lists.
const RECENT_INCIDENTS: u32 = 20;
const RECENT_ALERTS: u32 = 30;

pub(crate) async fn show(call: &Call<'_>) -> worker::Result<Response> {
    let env = call.env;
    let environment = match config::environment(&vars(env)) {
        Ok(e) => e,
        Err(e) => return error(500, e.to_string()),
    };
    let meter = Meter::detached();
    let store = D1Alerts::new(env.d1(binding::DB)?, &meter);
    let (incidents, alerts) = match (store.recent_incidents(RECENT_INCIDENTS).await, store.recent_messages(RECENT_ALERTS).await) {
        (Ok(mut incidents), Ok(alerts)) => {
            // Open ones first, each group newest first (the store's order).
            incidents.sort_by_key(|i| !i.is_open());
            (incidents, alerts)
        }
        (Err(e), _) | (_, Err(e)) => return error(503, format!("the incidents could not be read: {e}")),
    };
    let now = from_epoch_ms(now_ms()).unwrap_or_default();
    let view = HealthView {
        health_check: crate::alerts::latest_health(env, environment, now, &meter).await,
        breakers: breakers(env, &meter).await,
        incidents,
        alerts,
        webhook: crate::alerts::webhook_state(env, environment),
    };
    json(200, &view)
}
