//! The LOCAL, SIMULATED stand-in for the three elite workers (Brand, Designer, Developer).
//!
//! One Worker serves all three roles: the role comes from each request's
//! [`EliteRequest::role`](code24_shared::elite::EliteRequest). It speaks the elite contract of
//! [`code24_shared::elite`] with deterministic answers from
//! [`simulated_answer`], and exposes the fault knobs and call statistics of
//! [`code24_shared::standin`] so tests can make chosen calls fail, hang or slow down, and the
//! queue injection hook that sends raw bodies onto the optimize or reports queue (duplicate
//! and malformed deliveries for tests), the alert receiver that keeps the dispatcher's alert
//! webhook bodies for tests to read, the dispatcher's send-fault switch (send failures armed
//! for its next fan-out), and a SIMULATED Cloudflare Access team ([`access`]: a key set and
//! minted RS256 tokens) so the dispatcher's Access path runs end to end. It exists only in the
//! local configuration; deployed
//! environments bind the real elite workers.
//!
//! Map of the crate:
//! - [`routes`]: the pure route table (method and path to handler, 404, 405).
//! - `code24_shared::standin::model` (in the core, so the simulation's twin runs it too): the
//!   pure state machine: fault rules and budgets, counters, call sequence.
//! - this file: the thin `fetch` handler that decodes, asks the model, and carries out the
//!   decision (sleeping with `worker::Delay`, answering with the chosen status or body).
//!
//! Architecture invariant: every decision lives in `routes` or the core's model, which build
//! and are tested natively; this file holds no branch about which fault applies.

mod access;
mod routes;

use std::cell::RefCell;

use code24_shared::elite::{EliteHealth, EliteRequest};
use code24_shared::names::binding;
use code24_shared::standin::{
    decode_inject, scored_answer, simulated_answer, AlertFaults, Fault, FaultRules, InjectReply, InjectTarget, SendFaults,
};
use wasm_bindgen::JsValue;
use worker::{event, Context, Delay, Env, QueueContentType, RawMessageBuilder, Request, Response, Result};

use crate::routes::{route, Route, Routed};
use code24_shared::standin::model::{decode_request, sleep_of, validate_rules, Standin};

/// Response header marking every answer as coming from the simulation, so a log line or a
/// captured response can never be mistaken for a real elite worker's.
const STANDIN_HEADER: &str = "x-code24-elite";
const STANDIN_HEADER_VALUE: &str = "local-simulated-standin";
/// The body of a [`Fault::Garbage`] answer: valid HTTP, not the contract.
const GARBAGE_BODY: &str = "not the elite contract";

thread_local! {
    /// The stand-in's whole state. Locally one isolate runs one wasm instance, so this is the
    /// state every caller sees; a restart of the instance resets it, which the random instance
    /// id in the stats makes visible. Borrows are taken and released inside synchronous
    /// blocks only, never across an `.await` (a sleeping call would otherwise make every
    /// concurrent call panic on a second borrow).
    static STANDIN: RefCell<Standin> = RefCell::new(Standin::new(random_instance_id()));
}

/// A version-4 UUID as 32 hex digits: the id only has to differ between two instances a test
/// observes.
fn random_instance_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn with_standin<T>(f: impl FnOnce(&mut Standin) -> T) -> T {
    STANDIN.with(|s| f(&mut s.borrow_mut()))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let mut response = match route(req.method().as_ref(), &req.path()) {
        Routed::To(to) => handle(to, req, &env).await?,
        Routed::MethodNotAllowed { allow } => {
            let mut response = json_error(405, &format!("method not allowed here; allowed: {allow}"))?;
            response.headers_mut().set("allow", allow)?;
            response
        }
        Routed::NotFound => json_error(404, &format!("no such route on the local elite stand-in: {}", req.path()))?,
    };
    response.headers_mut().set(STANDIN_HEADER, STANDIN_HEADER_VALUE)?;
    Ok(response)
}

async fn handle(to: Route, mut req: Request, env: &Env) -> Result<Response> {
    match to {
        Route::Inject(target) => inject(target, &req.bytes().await?, env).await,
        Route::Optimize => optimize(&req.bytes().await?).await,
        Route::Health => {
            Response::from_json(&EliteHealth { status: "ok".into(), version: concat!("standin-", env!("CARGO_PKG_VERSION")).into() })
        }
        Route::GetFaults => Response::from_json(&with_standin(|s| s.rules())),
        Route::PutFaults => {
            let body = req.bytes().await?;
            let rules: FaultRules = match serde_json::from_slice(&body) {
                Ok(rules) => rules,
                Err(e) => return json_error(400, &format!("body is not FaultRules: {e}")),
            };
            if let Err(e) = validate_rules(&rules) {
                return json_error(400, &e);
            }
            with_standin(|s| s.set_rules(rules));
            Response::from_json(&with_standin(|s| s.rules()))
        }
        Route::ClearFaults => {
            with_standin(Standin::clear_rules);
            Response::from_json(&with_standin(|s| s.rules()))
        }
        Route::AccessCerts => access::certs().await,
        Route::AccessToken => access::mint(&req.bytes().await?).await,
        Route::GetStats => Response::from_json(&with_standin(|s| s.stats())),
        Route::GetSendFaults => Response::from_json(&with_standin(|s| s.send_faults())),
        Route::PutSendFaults => {
            let faults: SendFaults = match serde_json::from_slice(&req.bytes().await?) {
                Ok(faults) => faults,
                Err(e) => return json_error(400, &format!("body is not {{\"every\": N, \"times\": N}}: {e}")),
            };
            with_standin(|s| s.arm_send_faults(faults));
            Response::from_json(&faults)
        }
        Route::ClearSendFaults => {
            with_standin(|s| s.arm_send_faults(SendFaults::default()));
            Response::from_json(&SendFaults::default())
        }
        Route::TakeSendFaults => Response::from_json(&with_standin(Standin::take_send_faults)),
        Route::ReceiveAlert => {
            let body = req.bytes().await?;
            match with_standin(|s| s.receive_alert(&body)) {
                Ok(()) => Response::from_json(&serde_json::json!({ "received": true })),
                Err((status, e)) => json_error(status, &e),
            }
        }
        Route::GetAlerts => Response::from_json(&with_standin(|s| s.alerts())),
        Route::FailAlerts => {
            let faults: AlertFaults = match serde_json::from_slice(&req.bytes().await?) {
                Ok(faults) => faults,
                Err(e) => return json_error(400, &format!("body is not {{\"fail_next\": N}}: {e}")),
            };
            with_standin(|s| s.fail_alerts(faults));
            Response::from_json(&with_standin(|s| s.alerts()))
        }
        Route::ClearAlerts => {
            with_standin(Standin::clear_alerts);
            Response::from_json(&with_standin(|s| s.alerts()))
        }
        Route::ResetStats => {
            with_standin(Standin::reset_stats);
            Response::from_json(&with_standin(|s| s.stats()))
        }
    }
}

/// The elite contract call: decode, let the state decide the fault, carry it out.
async fn optimize(body: &[u8]) -> Result<Response> {
    let request = match decode_request(body) {
        Ok(request) => request,
        Err(e) => return json_error(400, &e),
    };
    // The borrow ends with this statement; the sleep below runs without it.
    let fault = with_standin(|s| s.on_optimize(&request));
    if let Some(fault) = &fault {
        if let Some(duration) = sleep_of(fault) {
            Delay::from(duration).await;
        }
        match fault {
            Fault::Status { code } => return fault_status(*code, &request),
            Fault::Garbage => return Response::ok(GARBAGE_BODY),
            Fault::Score { score } => return Response::from_json(&scored_answer(&request, *score)),
            Fault::Hang { .. } | Fault::Latency { .. } => {}
        }
    }
    Response::from_json(&simulated_answer(&request))
}

/// The queue injection hook: sends each body as-is, one message at a time, so a body the
/// queue refuses (e.g. one over the 128 KB message limit) is named by its index and the
/// bodies before it are reported as sent.
async fn inject(target: InjectTarget, body: &[u8], env: &Env) -> Result<Response> {
    let request = match decode_inject(body) {
        Ok(request) => request,
        Err(e) => return json_error(400, &e),
    };
    let binding = match target {
        InjectTarget::Optimize => binding::OPTIMIZE_QUEUE,
        InjectTarget::Reports => binding::REPORTS_QUEUE,
    };
    let queue = env.queue(binding)?;
    for (index, text) in request.bodies.iter().enumerate() {
        let message = RawMessageBuilder::new(JsValue::from_str(text)).build_with_content_type(QueueContentType::Text);
        if let Err(e) = queue.send_raw(message).await {
            return json_error(
                422,
                &format!("{} refused body {index} ({} bytes) after {index} were sent: {e}", target.queue(), text.len()),
            );
        }
    }
    Response::from_json(&InjectReply { queue: target.queue().to_owned(), sent: request.bodies.len() })
}

/// The answer of a [`Fault::Status`] rule: the chosen status with a small JSON body naming the
/// simulation, so whoever reads the client's error log sees it was injected on purpose.
fn fault_status(code: u16, request: &EliteRequest) -> Result<Response> {
    json_error(code, &format!("simulated fault: HTTP {code} injected by the local elite stand-in ({})", request.role.as_str()))
}

/// A JSON error answer `{"error": "..."}` with the given status.
pub(crate) fn json_error(status: u16, message: &str) -> Result<Response> {
    Ok(Response::from_json(&serde_json::json!({ "error": message }))?.with_status(status))
}
