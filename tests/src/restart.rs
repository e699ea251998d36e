//! Asking `cargo xtask test` to kill the whole local stack and start it again on the same
//! persisted state (D1, R2, Durable Objects; local queues live only in memory and are lost).
//! The protocol is the e2e tier's (`xtask/src/restart.rs`): create the request file in the
//! control directory named by [`CONTROL_VAR`], wait for the answer file.

use std::path::PathBuf;
use std::time::Duration;

use crate::{wait_until, Stack};

/// Environment variable naming the control directory (set by the e2e tier).
pub const CONTROL_VAR: &str = "CODE24_E2E_CONTROL";
const REQUEST: &str = "restart.request";
const DONE: &str = "restart.done";
/// Killing, starting and loading every Worker again, on a busy machine.
const RESTART_TIMEOUT: Duration = Duration::from_secs(240);

impl Stack {
    /// Kills the whole stack at once (as a crash would) and waits until it answers again on
    /// the same address and state.
    ///
    /// # Panics
    /// When not run by `cargo xtask test`, or the restart failed or took too long.
    #[track_caller]
    pub fn restart(&self) {
        let control = PathBuf::from(
            std::env::var(CONTROL_VAR)
                .unwrap_or_else(|_| panic!("{CONTROL_VAR} is not set: only `cargo xtask test` can restart the stack")),
        );
        let done = control.join(DONE);
        let _ = std::fs::remove_file(&done);
        std::fs::write(control.join(REQUEST), b"restart").expect("cannot write the restart request");
        let answer =
            wait_until("the e2e tier restarted the stack", RESTART_TIMEOUT, || std::fs::read_to_string(&done).map_err(|e| e.to_string()));
        assert!(answer.starts_with("restarted"), "the stack did not restart: {answer}");
        wait_until("the restarted stack answers its API", RESTART_TIMEOUT, || {
            let reply = self.send(ureq::http::Method::GET, "/api/sweeps?limit=1", None, true);
            if reply.is_success() {
                Ok(())
            } else {
                Err(reply)
            }
        });
    }
}
