//! The stand-in's SIMULATED Cloudflare Access team (local only): an RSA key pair made with the
//! platform's WebCrypto (`generateKey`, RSASSA-PKCS1-v1_5, 2048 bits, SHA-256) on first use,
//! its public half served as the team's key set, and tokens minted by signing the core's
//! claims (`code24_shared::standin::access`) with the private half. No Rust crypto crate: the
//! same WebCrypto the dispatcher verifies with.

use std::cell::RefCell;

use code24_shared::access::{b64url, Jwk, KeySet};
use code24_shared::standin::access::{claims, signing_input, MintReply, MintRequest};
use js_sys::{Array, Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Response, Result};

use crate::json_error;

thread_local! {
    /// Every key pair made by this instance: (public JWK, private CryptoKey). Normally one;
    /// two first requests at once may each make one, and both stay valid.
    static KEYS: RefCell<Vec<(Jwk, JsValue)>> = const { RefCell::new(Vec::new()) };
}

fn js_err(what: &str) -> impl Fn(JsValue) -> worker::Error + '_ {
    move |e| worker::Error::RustError(format!("{what}: {}", e.as_string().unwrap_or_else(|| format!("{e:?}"))))
}

/// `crypto.subtle`.
fn subtle() -> Result<JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).map_err(js_err("crypto"))?;
    Reflect::get(&crypto, &"subtle".into()).map_err(js_err("crypto.subtle"))
}

/// Calls `object.method(...args)` and awaits the promise it returns.
async fn call(object: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue> {
    let f: Function = Reflect::get(object, &method.into()).map_err(js_err(method))?.dyn_into().map_err(js_err(method))?;
    let promise = f.apply(object, &args.iter().collect::<Array>()).map_err(js_err(method))?;
    JsFuture::from(js_sys::Promise::from(promise)).await.map_err(js_err(method))
}

fn object(fields: &[(&str, JsValue)]) -> Result<JsValue> {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &(*k).into(), v).map_err(js_err("object"))?;
    }
    Ok(o.into())
}

/// The newest key pair, made first if there is none.
async fn signer() -> Result<(Jwk, JsValue)> {
    if let Some(found) = KEYS.with(|k| k.borrow().last().cloned()) {
        return Ok(found);
    }
    let subtle = subtle()?;
    let algorithm = object(&[
        ("name", "RSASSA-PKCS1-v1_5".into()),
        ("modulusLength", 2048.into()),
        ("publicExponent", Uint8Array::from(&[1u8, 0, 1][..]).into()),
        ("hash", "SHA-256".into()),
    ])?;
    let usages: Array = ["sign", "verify"].iter().map(|u| JsValue::from_str(u)).collect();
    let pair = call(&subtle, "generateKey", &[algorithm, true.into(), usages.into()]).await?;
    let public = Reflect::get(&pair, &"publicKey".into()).map_err(js_err("publicKey"))?;
    let private = Reflect::get(&pair, &"privateKey".into()).map_err(js_err("privateKey"))?;
    let exported = call(&subtle, "exportKey", &["jwk".into(), public]).await?;
    let field = |name: &str| Reflect::get(&exported, &name.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let kid = format!("standin-{}", uuid::Uuid::new_v4().simple());
    let jwk = Jwk { kid, kty: "RSA".into(), alg: Some("RS256".into()), n: field("n"), e: field("e") };
    KEYS.with(|k| k.borrow_mut().push((jwk.clone(), private.clone())));
    Ok((jwk, private))
}

/// `GET /__standin/access/certs`: the key set, as Access serves it.
pub(crate) async fn certs() -> Result<Response> {
    signer().await?;
    let keys = KEYS.with(|k| k.borrow().iter().map(|(jwk, _)| jwk.clone()).collect());
    Response::from_json(&KeySet { keys })
}

/// `POST /__standin/access/token`: a token with the requested claims, signed RS256.
pub(crate) async fn mint(body: &[u8]) -> Result<Response> {
    let request: MintRequest = match serde_json::from_slice(if body.is_empty() { b"{}" } else { body }) {
        Ok(r) => r,
        Err(e) => return json_error(400, &format!("body is not a MintRequest: {e}")),
    };
    let (jwk, private) = signer().await?;
    let now_s = (js_sys::Date::now() / 1000.0) as i64;
    let input = signing_input(&jwk.kid, &claims(&request, now_s));
    let algorithm = object(&[("name", "RSASSA-PKCS1-v1_5".into())])?;
    let signature = call(&subtle()?, "sign", &[algorithm, private, Uint8Array::from(input.as_bytes()).into()]).await?;
    let signature = Uint8Array::new(&signature).to_vec();
    Response::from_json(&MintReply { token: format!("{input}.{}", b64url(&signature)), kid: jwk.kid })
}
