//! Cloudflare Access on the Worker side: the team's key set fetched and cached in the isolate
//! (when to fetch is the core's `access::keys::plan`), and the RS256 signature check through the
//! platform's WebCrypto (`crypto.subtle.importKey` of the JWK, then `verify` with
//! RSASSA-PKCS1-v1_5 / SHA-256). Every decision about a token is the core's `access::verify`.
//!
//! Locally the key set comes from the elite stand-in's simulated Access (through its service
//! binding, which no deployed environment has); deployed, from the team's certs URL.

use std::cell::RefCell;

use code24_shared::access::keys::{plan, KeyPlan};
use code24_shared::access::{self, AccessConfig, Jwk, KeySet, Principal, Refusal, SignatureCheck};
use code24_shared::names::{binding, var};
use code24_shared::standin::access::CERTS_PATH;
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{console_error, Env, Fetch, Request, Url};

thread_local! {
    /// The last key set fetched, with its fetch time. One isolate, one thread: borrows never
    /// cross an `.await`.
    static KEYS: RefCell<Option<(i64, KeySet)>> = const { RefCell::new(None) };
}

/// The environment's Access application, if it names one. A half-configured one is an error
/// the caller answers with 503.
pub(crate) fn config(env: &Env) -> Result<Option<AccessConfig>, String> {
    let get = |name: &str| env.var(name).ok().map(|v| v.to_string());
    access::config_from(get(var::ACCESS_TEAM_DOMAIN).as_deref(), get(var::ACCESS_AUD).as_deref())
        .map_err(|e| format!("{} / {}: {e}", var::ACCESS_TEAM_DOMAIN, var::ACCESS_AUD))
}

/// The request's Access token, if it carries one.
pub(crate) fn token_of(req: &Request) -> Option<String> {
    req.headers().get(access::HEADER).ok().flatten().filter(|t| !t.trim().is_empty())
}

/// Verifies a token at `now_ms` against the team's key set, fetching the set first when the
/// core's plan says so.
pub(crate) async fn verify(raw: &str, env: &Env, config: &AccessConfig, now_ms: i64) -> Result<Principal, Refusal> {
    let token = access::parse(raw)?;
    let kid = token.header.kid.unwrap_or_default();
    let (fetched_ms, knows_kid) =
        KEYS.with(|k| k.borrow().as_ref().map_or((None, false), |(at, set)| (Some(*at), set.find(&kid).is_some())));
    if plan(fetched_ms, knows_kid, now_ms) == KeyPlan::Fetch {
        match fetch_keys(env, config).await {
            Ok(set) => KEYS.with(|k| *k.borrow_mut() = Some((now_ms, set))),
            // A failed fetch keeps the old set (if any): Access keys overlap across rotations.
            Err(e) => console_error!("{}", serde_json::json!({"event": "access_keys_unavailable", "error": e})),
        }
    }
    let Some(keys) = KEYS.with(|k| k.borrow().as_ref().map(|(_, set)| set.clone())) else {
        return Err(Refusal::Key("the team's key set could not be fetched".into()));
    };
    access::verify(raw, config, &keys, now_ms / 1000, &WebCrypto).await
}

async fn fetch_keys(env: &Env, config: &AccessConfig) -> Result<KeySet, String> {
    let local = env.var(var::ENVIRONMENT).map(|v| v.to_string()).unwrap_or_default() == "local";
    let mut response = match env.service(binding::ELITE_STANDIN) {
        Ok(standin) if local => standin.fetch(format!("https://standin{CERTS_PATH}"), None).await,
        _ => {
            let url = Url::parse(&config.certs_url()).map_err(|e| e.to_string())?;
            Fetch::Url(url).send().await
        }
    }
    .map_err(|e| format!("fetching the key set: {e}"))?;
    if response.status_code() != 200 {
        return Err(format!("the key set answered HTTP {}", response.status_code()));
    }
    KeySet::decode(&response.text().await.map_err(|e| e.to_string())?)
}

/// RS256 through the platform's WebCrypto.
struct WebCrypto;

fn js_err(what: &str) -> impl Fn(JsValue) -> String + '_ {
    move |e| format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Calls `object.method(...args)` and awaits the promise it returns.
async fn call(object: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, String> {
    let f: Function = Reflect::get(object, &method.into()).map_err(js_err(method))?.dyn_into().map_err(js_err(method))?;
    let promise = f.apply(object, &args.iter().collect::<Array>()).map_err(js_err(method))?;
    JsFuture::from(js_sys::Promise::from(promise)).await.map_err(js_err(method))
}

/// `{name: "RSASSA-PKCS1-v1_5", hash: "SHA-256"}`.
fn algorithm() -> Result<Object, String> {
    let a = Object::new();
    Reflect::set(&a, &"name".into(), &"RSASSA-PKCS1-v1_5".into()).map_err(js_err("algorithm"))?;
    Reflect::set(&a, &"hash".into(), &"SHA-256".into()).map_err(js_err("algorithm"))?;
    Ok(a)
}

impl SignatureCheck for WebCrypto {
    async fn rs256(&self, key: &Jwk, message: &[u8], signature: &[u8]) -> Result<bool, String> {
        let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(js_err("crypto"))?;
        let subtle = Reflect::get(&crypto, &"subtle".into()).map_err(js_err("crypto.subtle"))?;
        let jwk = serde_json::json!({"kty": "RSA", "n": key.n, "e": key.e, "alg": access::ALGORITHM, "ext": true});
        let jwk = js_sys::JSON::parse(&jwk.to_string()).map_err(js_err("jwk"))?;
        let usages: Array = std::iter::once(JsValue::from_str("verify")).collect();
        let imported = call(&subtle, "importKey", &["jwk".into(), jwk, algorithm()?.into(), false.into(), usages.into()]).await?;
        let signature: JsValue = Uint8Array::from(signature).into();
        let message: JsValue = Uint8Array::from(message).into();
        let ok = call(&subtle, "verify", &[algorithm()?.into(), imported, signature, message]).await?;
        Ok(ok.as_bool().unwrap_or(false))
    }
}
