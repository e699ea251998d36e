//! Queue message bodies as text. Producers here send text; a body of another content type
//! (JSON sent by hand, say) is re-serialized so the same decoder judges it, and a body that
//! cannot even be serialized is described rather than lost.

use wasm_bindgen::JsValue;

pub fn body_text(body: &JsValue) -> String {
    body.as_string()
        .unwrap_or_else(|| js_sys::JSON::stringify(body).ok().and_then(|s| s.as_string()).unwrap_or_else(|| format!("{body:?}")))
}
