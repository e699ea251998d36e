//! The elite circuit breakers' twin: the `breakers` instance's decisions over one in-memory
//! [`Breakers`] book, counting what it was asked.

use std::cell::{Cell, RefCell};

use crate::breaker::{BreakerPolicy, BreakerReport, Breakers, GateAnswer, GateRequest};
use crate::error::JobError;

#[derive(Debug)]
pub struct MemoryBreakers {
    pub book: RefCell<Breakers>,
    /// Jobs the gate held back, summed over every batch.
    pub held: Cell<u64>,
}

impl MemoryBreakers {
    pub fn new(policy: BreakerPolicy, now_ms: i64) -> Self {
        Self { book: RefCell::new(Breakers::new(policy, now_ms)), held: Cell::new(0) }
    }
}

impl crate::ports::Breakers for MemoryBreakers {
    async fn gate(&self, req: &GateRequest) -> Result<GateAnswer, JobError> {
        let answer = self.book.borrow_mut().gate(req);
        self.held.set(self.held.get() + u64::from(req.jobs - answer.admit));
        Ok(answer)
    }

    async fn report(&self, req: &BreakerReport) -> Result<(), JobError> {
        self.book.borrow_mut().report(req);
        Ok(())
    }
}
