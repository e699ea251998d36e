//! All-or-nothing SQLite writes: runs a synchronous closure inside the storage's
//! `transactionSync`, so a decision that fails half-way (a storage error after some rows were
//! written) leaves no trace.
//!
//! workers-rs 0.8.7 binds only the asynchronous, key-value `Storage::transaction`; the
//! SQLite-era `ctx.storage.transactionSync(fn)` is reached through `js_sys` here. Without it,
//! the Durable Object's gates would still keep a sequence of `exec` calls with no `.await`
//! in between from interleaving with other requests and would commit them together, but an
//! error after the first write would not undo it.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::Storage;

use code24_shared::ledger::StoreError;

/// Runs `work` in one SQLite transaction: committed when it returns `Ok`, rolled back when it
/// returns `Err` or the commit fails. `work` must not await (it cannot: it is synchronous),
/// which is what makes the decision and its writes one step.
pub(crate) fn atomically<T: 'static>(storage: &Storage, work: impl FnOnce() -> Result<T, StoreError> + 'static) -> Result<T, StoreError> {
    // The closure hands its result out through this slot: `transactionSync` only passes a
    // JavaScript value back, and the result is a Rust value.
    let slot: Rc<RefCell<Option<Result<T, StoreError>>>> = Rc::default();
    let out = Rc::clone(&slot);
    let body = Closure::once(move || -> Result<JsValue, JsValue> {
        let result = work();
        let failure = result.as_ref().err().map(|e| JsValue::from_str(&e.0));
        *out.borrow_mut() = Some(result);
        // Returning `Err` makes the closure throw after Rust has returned, which is what
        // rolls the transaction back. (Throwing from inside Rust would unwind past Rust
        // frames.)
        failure.map_or(Ok(JsValue::UNDEFINED), Err)
    });

    let raw: &JsValue = storage.as_raw().as_ref();
    let transaction_sync = Reflect::get(raw, &JsValue::from_str("transactionSync"))
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| StoreError("storage.transactionSync is unavailable (is the class SQLite-backed?)".into()))?;
    let called = transaction_sync.call1(raw, body.as_ref());
    let result = slot.borrow_mut().take();
    match (called, result) {
        // The body's own error, whether or not the runtime re-threw it.
        (_, Some(Err(e))) => Err(e),
        (Ok(_), Some(Ok(value))) => Ok(value),
        (Err(thrown), _) => Err(StoreError(format!("transaction failed: {}", describe(&thrown)))),
        (Ok(_), None) => Err(StoreError("transactionSync returned without running its body".into())),
    }
}

/// A thrown JavaScript value as text: an `Error`'s message, else its debug form.
fn describe(thrown: &JsValue) -> String {
    thrown
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| thrown.as_string())
        .unwrap_or_else(|| format!("{thrown:?}"))
}
