//! Restarts of the local stack on request of an end-to-end test, for the test that stops the
//! whole stack mid-sweep and checks that the sweep finishes on the same persisted state.
//!
//! The e2e tier owns the stack's lifecycle; a test cannot start wrangler itself without
//! duplicating [`crate::stack`]. So the tier runs the test binary as a child and serves
//! restarts through files in a control directory it names in [`CONTROL_VAR`]: the test
//! creates [`REQUEST`]; the tier kills wrangler's whole process group at once (SIGKILL: a
//! crash, not a graceful stop), starts the stack again on the same port and persist
//! directory, waits until it answers, and writes [`DONE`] (`restarted N`, or `error: ...`).
//! The test removes [`DONE`] before asking, and waits for it.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::interrupt::Interrupt;
use crate::stack::Stack;
use crate::{cmd, Result};

/// Environment variable naming the control directory (absolute).
pub(crate) const CONTROL_VAR: &str = "CODE24_E2E_CONTROL";
/// Created by a test to ask for a restart.
pub(crate) const REQUEST: &str = "restart.request";
/// Written by the tier once the restarted stack answers (or failed to).
pub(crate) const DONE: &str = "restart.done";

/// Runs `command` to its end, restarting `stack` with `launch(n)` (n = 1, 2, ...) whenever
/// the test asks. Fails when the command fails; a failed restart is reported to the test
/// (which then fails) and in the tier's output.
pub(crate) fn run_serving_restarts(
    command: &mut Command,
    what: &str,
    stack: &mut Stack,
    control: &Path,
    interrupt: &Interrupt,
    launch: &dyn Fn(u32) -> Result<Stack>,
) -> Result<()> {
    fs::create_dir_all(control).map_err(|e| format!("cannot create {}: {e}", control.display()))?;
    command.env(CONTROL_VAR, control);
    println!("  $ {}", cmd::display(command));
    let mut child = command.spawn().map_err(|e| format!("{what}: cannot start: {e}"))?;
    let mut restarts = 0;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            return if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) };
        }
        if control.join(REQUEST).exists() {
            let _ = fs::remove_file(control.join(REQUEST));
            restarts += 1;
            println!("e2e: a test asked for a restart ({restarts}): killing the stack");
            stack.kill();
            let answer = match launch(restarts).and_then(|mut next| {
                let ready_in = next.wait_ready(interrupt)?;
                *stack = next;
                Ok(ready_in)
            }) {
                Ok(ready_in) => {
                    println!("e2e: restarted stack answers after {}", cmd::duration(ready_in));
                    format!("restarted {restarts}")
                }
                Err(e) => {
                    println!("e2e: the restart failed: {e}");
                    format!("error: {e}")
                }
            };
            let tmp = control.join(format!("{DONE}.tmp"));
            fs::write(&tmp, answer)
                .and_then(|()| fs::rename(&tmp, control.join(DONE)))
                .map_err(|e| format!("cannot answer the restart request: {e}"))?;
        }
        thread::sleep(Duration::from_millis(200));
    }
}
