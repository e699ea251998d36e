//! Ctrl-C and SIGTERM as a flag.
//!
//! The local stack runs in its own process group (so a terminal's Ctrl-C does not reach it
//! half-way through a shutdown), which makes xtask responsible for stopping it. Once
//! [`install`] has run, SIGINT and SIGTERM no longer kill xtask: they set a flag that the
//! waiting loops check, and the stack's `Drop` stops wrangler. A second Ctrl-C while the first
//! is still being handled exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Set once the user (or CI) asked xtask to stop.
#[derive(Clone)]
pub(crate) struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Routes SIGINT and SIGTERM to the returned flag.
pub(crate) fn install() -> crate::Result<Interrupt> {
    let raised = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this very signal: a second
        // signal finds it already set and exits with the conventional 130.
        flag::register_conditional_shutdown(signal, 130, Arc::clone(&raised))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
        flag::register(signal, Arc::clone(&raised)).map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    Ok(Interrupt(raised))
}
