//! The auto-replay after an elite outage (`code24_shared::breaker::replay`), where the
//! environment turns it on (`BREAKER_AUTO_REPLAY = "on"`): after each sweep's fan-out, the
//! dispatcher reads the breakers; for every breaker that closed within the last
//! `AUTO_REPLAY_LOOKBACK_MS`, the dead letters its outage caused are replayed through the admin
//! API's own replay path (`api::dead_letters::send_replays`), at most `AUTO_REPLAY_LIMIT` per
//! outage, `AUTO_REPLAY_RATE_PER_S` a second. A replayed entry is no longer `dead`, so the
//! next sweeps' looks find nothing more to do. Every replay is logged (`auto_replay`) and
//! recorded in the audit log like the API's replays (action `dead_letters.replay`, by the
//! service `breaker-auto-replay`, with the ids and a reason naming the outage).

use serde_json::json;
use worker::{console_error, console_log, Env};

use code24_runtime::env::now_ms;
use code24_runtime::ledger_client::DurableLedger;
use code24_runtime::meter::Meter;
use code24_shared::api::Endpoint;
use code24_shared::audit::Actor;
use code24_shared::breaker::replay::{healed_since, AUTO_REPLAY_ACTOR, AUTO_REPLAY_LOOKBACK_MS, AUTO_REPLAY_RATE_PER_S};
use code24_shared::breaker::BreakerPolicy;
use code24_shared::dead_letters::selection::plan_replay;
use code24_shared::names::binding;

use crate::api::audit::{self, Answered};
use crate::api::dead_letters::{caused_by, send_replays};

/// Replays what the outages healed lately caused; every outcome is logged, none fails the sweep.
pub(crate) async fn after_outages(env: &Env, meter: &Meter) {
    if let Err(e) = replay_healed(env, meter).await {
        console_error!("{}", json!({"event": "auto_replay_failed", "error": e}));
    }
}

async fn replay_healed(env: &Env, meter: &Meter) -> Result<(), String> {
    let now = now_ms();
    let view = DurableLedger::from_env(env).map_err(|e| e.to_string())?.metered(meter).breakers_view().await.map_err(|e| e.to_string())?;
    let outages = healed_since(&view.transitions, now - AUTO_REPLAY_LOOKBACK_MS, BreakerPolicy::DEFAULT.window_ms);
    if outages.is_empty() {
        return Ok(());
    }
    let db = env.d1(binding::DB).map_err(|e| e.to_string())?;
    for outage in outages {
        let picked = caused_by(&db, &outage).await.map_err(|e| e.to_string())?;
        let (planned, _) = plan_replay(&picked, Some(AUTO_REPLAY_RATE_PER_S), now);
        let ids: Vec<String> = planned.iter().map(|p| p.id.clone()).collect();
        if ids.is_empty() {
            continue;
        }
        match send_replays(env, &db, planned).await.map_err(|e| e.to_string())? {
            Ok(()) => {
                let (body, answer) = outage.audit(&ids);
                let entry = Answered {
                    actor: &Actor::Service(AUTO_REPLAY_ACTOR.into()),
                    action: "dead_letters.replay",
                    path: "/api/dead-letters/replay",
                    body: &body,
                    status: 200,
                    answer: &answer,
                    endpoint: Endpoint::ReplayDeadLetters,
                };
                // A failed append is logged by `record` (`audit_write_failed`); the replays stand.
                audit::record(env, &entry, now_ms()).await;
                console_log!("{}", json!({"event": "auto_replay", "role": outage.role.as_str(), "replayed": ids.len(), "ids": ids}));
            }
            Err(e) => return Err(format!("the {} outage's replays were not sent: {e}", outage.role.as_str())),
        }
    }
    Ok(())
}
