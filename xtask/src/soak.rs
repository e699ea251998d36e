//! `cargo xtask soak [--minutes N] [--batch N]`: explores new seeds of the fault matrix
//! (`shared/tests/fault_matrix.rs`) for as long as it is given.
//!
//! CI runs seeds 1..=10,000 on every run; the soak starts at a random seed far above them and
//! runs batches of consecutive seeds through the matrix's own test (`FAULT_MATRIX_FIRST_SEED`,
//! `FAULT_MATRIX_SCENARIOS`, `FAULT_MATRIX_KEEP_GOING=1`), so a scenario here is exactly the
//! scenario the replay command runs. Every failing seed is printed as soon as its batch ends,
//! with the command that replays it; the exit status says whether any failed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::duration;
use crate::Result;

/// The matrix test a batch runs.
const MATRIX_TEST: &str = "thousands_of_mixed_fault_scenarios_lose_nothing_and_never_rework_a_success";
/// Seeds CI covers; the soak starts above them.
const CI_SEEDS: u64 = 10_000;

pub(crate) struct Options {
    pub(crate) minutes: u64,
    /// Seeds per batch: one `cargo test` run (about 15 s per 10,000 on two cores).
    pub(crate) batch: u64,
}

impl Options {
    pub(crate) const DEFAULT_MINUTES: u64 = 10;
    pub(crate) const DEFAULT_BATCH: u64 = 5_000;
}

/// One failing seed as the matrix prints it in keep-going mode.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Failed {
    pub(crate) seed: u64,
    pub(crate) replay: String,
}

/// The failing seeds of a batch's output (`FAILED SEED n: replay: COMMAND` lines).
pub(crate) fn failures(output: &str) -> Vec<Failed> {
    output
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("FAILED SEED ")?;
            let (seed, replay) = rest.split_once(": replay: ")?;
            Some(Failed { seed: seed.parse().ok()?, replay: replay.trim().to_owned() })
        })
        .collect()
}

pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let interrupt = crate::interrupt::install()?;
    let started = Instant::now();
    let budget = Duration::from_secs(options.minutes * 60);
    let mut next = first_seed()?;
    let first = next;
    let mut failed: Vec<Failed> = Vec::new();
    println!("soak: exploring fault-matrix seeds from {first} for {} min, {} a batch", options.minutes, options.batch);
    while started.elapsed() < budget && !interrupt.requested() {
        let batch_started = Instant::now();
        let output = batch(root, next, options.batch)?;
        if interrupt.requested() {
            break;
        }
        let found = failures(&output.text);
        for f in &found {
            println!("  FAILED seed {}: replay with: {}", f.seed, f.replay);
        }
        if !output.success && found.is_empty() {
            return Err(format!("the batch from seed {next} failed without naming a seed:\n{}", tail(&output.text, 40)));
        }
        println!(
            "  seeds {next}..={} in {}: {} failed (total {} seeds, {})",
            next + options.batch - 1,
            duration(batch_started.elapsed()),
            found.len(),
            next + options.batch - first,
            duration(started.elapsed())
        );
        failed.extend(found);
        next += options.batch;
    }
    println!("soak: {} seeds ({first}..{next}) in {}, {} failed", next - first, duration(started.elapsed()), failed.len());
    for f in &failed {
        println!("  {}", f.replay);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} seeds failed; replay each with the command above", failed.len()))
    }
}

struct Output {
    success: bool,
    text: String,
}

/// One batch through the matrix's test, stdout and stderr together.
fn batch(root: &Path, first: u64, count: u64) -> Result<Output> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(root)
        .args(["test", "-q", "-p", "code24-shared", "--test", "fault_matrix", "--", "--exact", MATRIX_TEST, "--nocapture"])
        .env("FAULT_MATRIX_FIRST_SEED", first.to_string())
        .env("FAULT_MATRIX_SCENARIOS", count.to_string())
        .env("FAULT_MATRIX_KEEP_GOING", "1")
        .stdin(Stdio::null());
    let output = command.output().map_err(|e| format!("cannot start cargo test: {e}"))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(Output { success: output.status.success(), text })
}

/// A random first seed above CI's, a multiple of a million so the ranges read well.
fn first_seed() -> Result<u64> {
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok((u64::from(u32::from_le_bytes(bytes) % 1_000_000) + 1) * 1_000_000 + CI_SEEDS)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_seeds_are_read_from_the_matrix_output() {
        let output = "running 1 test\nFAILED SEED 1000042: replay: SIM_SEED=1000042 cargo test -p code24-shared --test fault_matrix\n    \
                      a violation\nFAILED SEED x: replay: y\nfault matrix: scenarios 10\n";
        assert_eq!(
            failures(output),
            [Failed { seed: 1_000_042, replay: "SIM_SEED=1000042 cargo test -p code24-shared --test fault_matrix".into() }]
        );
        assert!(failures("test result: ok.").is_empty());
    }

    #[test]
    fn the_first_seed_is_beyond_ci() {
        let seed = first_seed().unwrap();
        assert!(seed > CI_SEEDS && seed % 1_000_000 == CI_SEEDS, "{seed}");
    }
}
