//! Queue producers: optimize jobs and dead letters, both sent as JSON text
//! (`QueueContentType::Text`) so the consumer decodes exactly the bytes that were sent, with
//! the same code the simulation runs, and a poison body can be kept verbatim.

use code24_shared::error::JobError;
use code24_shared::ports::{DeadLetterSink, JobQueue};
use code24_shared::wire::DeadLetter;
use wasm_bindgen::JsValue;
use worker::{Queue, QueueContentType, RawMessageBuilder, SendMessage};

/// A queue producer binding.
pub struct TextQueue {
    queue: Queue,
    name: &'static str,
}

impl TextQueue {
    pub fn new(queue: Queue, name: &'static str) -> Self {
        Self { queue, name }
    }

    fn message(body: &str) -> SendMessage<JsValue> {
        RawMessageBuilder::new(JsValue::from_str(body)).build_with_content_type(QueueContentType::Text)
    }
}

impl JobQueue for TextQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError> {
        let messages: Vec<SendMessage<JsValue>> = bodies.iter().map(|b| Self::message(b)).collect();
        self.queue
            .send_raw_batch(messages)
            .await
            .map_err(|e| JobError::transient(format!("send_batch of {} messages to {}: {e}", bodies.len(), self.name)))
    }
}

impl TextQueue {
    /// Sends bodies each with its own delivery delay (seconds), in batches of at most 100.
    pub async fn send_delayed(&self, messages: &[(String, u32)]) -> Result<(), JobError> {
        for chunk in messages.chunks(100) {
            let batch: Vec<SendMessage<JsValue>> = chunk
                .iter()
                .map(|(body, delay_s)| {
                    RawMessageBuilder::new(JsValue::from_str(body)).delay_seconds(*delay_s).build_with_content_type(QueueContentType::Text)
                })
                .collect();
            self.queue
                .send_raw_batch(batch)
                .await
                .map_err(|e| JobError::transient(format!("send_batch of {} messages to {}: {e}", chunk.len(), self.name)))?;
        }
        Ok(())
    }
}

impl DeadLetterSink for TextQueue {
    async fn send(&self, letter: &DeadLetter) -> Result<(), JobError> {
        self.queue.send_raw(Self::message(&letter.encode())).await.map_err(|e| JobError::transient(format!("send to {}: {e}", self.name)))
    }
}
