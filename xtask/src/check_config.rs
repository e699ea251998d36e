//! `cargo xtask check-config`: the configuration check of `code24-config-check` (every
//! Worker's toml in every environment against the binding table, the names and the schedule
//! table; the binding table against the code), with a readable summary. `deploy` runs the
//! config part before touching anything.

use std::path::Path;

use code24_config_check::workers::{self, WORKERS};
use code24_config_check::{check_all, check_configs, Problem};

use crate::Result;

/// The full check, as the command and the `config` test tier run it.
pub(crate) fn run(root: &Path) -> Result<()> {
    report(check_all(root))?;
    for spec in WORKERS {
        let envs: Vec<&str> = workers::environments_of(spec).iter().map(|e| e.as_str()).collect();
        println!("check-config: ok  {:<28} {:<38} {}", spec.name, spec.config, envs.join(", "));
    }
    println!("check-config: every config agrees with the binding table, names and schedules; the table agrees with the code");
    Ok(())
}

/// The config part only (no code scan), for `deploy`: fails listing every problem.
pub(crate) fn require(root: &Path) -> Result<()> {
    report(check_configs(root))
}

fn report(problems: Vec<Problem>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    for problem in &problems {
        println!("check-config: FAIL {problem}");
    }
    Err(format!("the configuration check found {} problem(s), listed above", problems.len()))
}
