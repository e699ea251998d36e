//! What the bench reads from a stack's wrangler log (`BenchStack::log_path`): each side's
//! fan-out time as it logs it, the bare consumer's done lines, and the consumers' invocation
//! times as wrangler prints them.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::thread;
use std::time::{Duration, Instant};

use super::local::BenchStack;
use super::stats::Samples;
use crate::Result;

/// The bare consumer's log line after each batch: `done <n> failed <m>`.
const BARE_DONE: &str = "bench-bare-consumer: done ";

impl BenchStack {
    /// The log's length in bytes: where the lines of what follows begin.
    pub(super) fn log_len(&self) -> u64 {
        fs::metadata(&self.log_path).map_or(0, |m| m.len())
    }

    /// The first figure `pick` finds in a line of wrangler's log after byte `from`, waiting up
    /// to five seconds for the line (the log is written as workerd flushes it).
    pub(super) fn logged(&self, from: u64, what: &str, pick: impl Fn(&str) -> Option<f64>) -> Result<f64> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let mut text = Vec::new();
            if let Ok(mut file) = fs::File::open(&self.log_path) {
                let _ = file.seek(SeekFrom::Start(from)).and_then(|_| file.read_to_end(&mut text));
            }
            if let Some(ms) = String::from_utf8_lossy(&text).lines().find_map(&pick) {
                return Ok(ms);
            }
            if Instant::now() > until {
                return Err(format!("{what} is not in {} after the firing", self.log_path.display()));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The wall time of every consumer invocation of `queue`, from wrangler's
    /// `QUEUE <queue> n/m (X ms)` lines: the per-batch profile of a sweep.
    pub(crate) fn batch_times(&self, queue: &str) -> Samples {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let prefix = format!("QUEUE {queue} ");
        let mut samples = Samples::default();
        for line in text.lines() {
            let Some(rest) = line.split(&prefix).nth(1) else { continue };
            let ms = rest.rsplit_once('(').and_then(|(_, t)| t.trim_end_matches(')').trim_end_matches("ms").parse::<f64>().ok());
            if let Some(ms) = ms {
                samples.push(ms);
            }
        }
        samples
    }

    /// (done, failed) messages the bare consumer logged in the complete lines after `offset`
    /// in wrangler's log, and the offset after the last complete line.
    pub(super) fn bare_done(&self, offset: u64) -> (u64, u64, u64) {
        let mut file = match fs::File::open(&self.log_path) {
            Ok(f) => f,
            Err(_) => return (0, 0, offset),
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_to_end(&mut bytes)).is_err() {
            return (0, 0, offset);
        }
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&bytes[..complete]);
        let (mut done, mut failed) = (0, 0);
        for line in text.lines() {
            let Some(rest) = line.split(BARE_DONE).nth(1) else { continue };
            let mut words = rest.split_whitespace();
            done += words.next().and_then(|w| w.parse::<u64>().ok()).unwrap_or(0);
            failed += words.nth(1).and_then(|w| w.parse::<u64>().ok()).unwrap_or(0);
        }
        (done, failed, offset + complete as u64)
    }
}
