//! Queue producers: optimize jobs and dead letters, both sent as JSON text
//! (`QueueContentType::Text`) so the consumer decodes exactly the bytes that were sent, with
//! the same code the simulation runs, and a poison body can be kept verbatim. Every send is
//! counted in the invocation's [`Meter`]; locally, a fan-out may be handed [`SendFaults`] (the
//! stand-in's fault switch) that make some sends fail as a 429 would.

use std::cell::Cell;

use code24_shared::error::JobError;
use code24_shared::limits::usage::Counted;
use code24_shared::ports::{DeadLetterSink, JobQueue};
use code24_shared::standin::SendFaults;
use code24_shared::wire::DeadLetter;
use wasm_bindgen::JsValue;
use worker::{Queue, QueueContentType, RawMessageBuilder, SendMessage};

use crate::meter::Meter;

/// A queue producer binding.
pub struct TextQueue {
    queue: Queue,
    name: &'static str,
    meter: Meter,
    /// Local only: the injected send failures, with the attempts and failures so far.
    faults: Option<(SendFaults, Cell<u64>, Cell<u32>)>,
}

impl TextQueue {
    pub fn new(queue: Queue, name: &'static str) -> Self {
        Self { queue, name, meter: Meter::detached(), faults: None }
    }

    /// Counts every send into `meter` (the invocation's).
    pub fn metered(self, meter: &Meter) -> Self {
        Self { meter: meter.clone(), ..self }
    }

    /// Fails `send_batch` attempts as `faults` says (the dispatcher sets them only locally).
    pub fn with_faults(self, faults: Option<SendFaults>) -> Self {
        Self { faults: faults.map(|f| (f, Cell::new(0), Cell::new(0))), ..self }
    }

    /// Whether this attempt is one the fault switch fails.
    fn injected_failure(&self) -> bool {
        let Some((plan, attempts, failed)) = &self.faults else { return false };
        attempts.set(attempts.get() + 1);
        let fails = plan.fails(attempts.get(), failed.get());
        failed.set(failed.get() + u32::from(fails));
        fails
    }

    fn message(body: &str) -> SendMessage<JsValue> {
        RawMessageBuilder::new(JsValue::from_str(body)).build_with_content_type(QueueContentType::Text)
    }
}

impl JobQueue for TextQueue {
    async fn send_batch(&self, bodies: &[String]) -> Result<(), JobError> {
        if self.injected_failure() {
            let n = bodies.len();
            return Err(JobError::transient(format!(
                "send_batch of {n} messages to {}: 429 Too Many Requests (local fault switch)",
                self.name
            )));
        }
        let messages: Vec<SendMessage<JsValue>> = bodies.iter().map(|b| Self::message(b)).collect();
        let _connection = self.meter.start(Counted::QueueSend { messages: bodies.len() as u64 });
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
            let _connection = self.meter.start(Counted::QueueSend { messages: chunk.len() as u64 });
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
        let _connection = self.meter.start(Counted::QueueSend { messages: 1 });
        self.queue.send_raw(Self::message(&letter.encode())).await.map_err(|e| JobError::transient(format!("send to {}: {e}", self.name)))
    }
}
