//! A queue consumer's batch as the core sees it, and back: [`Inbox::new`] turns the runtime's
//! batch into [`Delivery`]s (bodies as text, decoded by the core one by one so a poison
//! message cannot fail the batch), and [`Inbox::settle`] carries out the core's one action per
//! message (ack, or retry with a delay) and logs the batch. A consumer Worker's `queue` handler
//! is these two calls around its core, and always returns `Ok(())`: an `Err` would make the
//! runtime redeliver the whole batch, acked messages included.

use code24_shared::pipeline::consumer::{Action, Delivery};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{console_error, console_log, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

use crate::body::body_text;

/// Retry delay when nothing could be decided (bad configuration, missing binding): long
/// enough for an operator to fix it without spending the queue's retries quickly.
pub const BATCH_FAILED_DELAY_S: u32 = 300;

pub struct Inbox {
    /// The queue the batch came from (with its environment suffix when deployed).
    pub queue: String,
    pub deliveries: Vec<Delivery>,
    messages: Vec<RawMessage>,
}

impl Inbox {
    pub fn new(batch: &MessageBatch<JsValue>) -> Self {
        let messages: Vec<RawMessage> = batch.raw_iter().collect();
        let deliveries =
            messages.iter().map(|m| Delivery { body: body_text(&m.body()), sent_ms: m.timestamp().as_millis() as i64 }).collect();
        Self { queue: batch.queue(), deliveries, messages }
    }

    /// Acks or retries each message as decided; when nothing could be decided (`Err`), keeps
    /// every message for later.
    pub fn settle(self, decided: Result<Vec<Action>, String>) {
        let queue = self.queue;
        let actions = match decided {
            Ok(actions) => actions,
            Err(message) => {
                console_error!("{}", json!({"event": "batch_failed", "queue": queue, "error": message}));
                vec![Action::Retry { delay_s: BATCH_FAILED_DELAY_S }; self.messages.len()]
            }
        };
        let (mut acked, mut retried) = (0, 0);
        for (message, action) in self.messages.iter().zip(actions) {
            match action {
                Action::Ack => {
                    message.ack();
                    acked += 1;
                }
                Action::Retry { delay_s } => {
                    message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay_s).build());
                    retried += 1;
                }
            }
        }
        console_log!("{}", json!({"event": "batch", "queue": queue, "messages": self.messages.len(), "acked": acked, "retried": retried}));
    }
}
