//! `code24-ops sweeps`: recent sweeps with their progress (`list`) and one sweep (`show`).

use clap::Subcommand;
use code24_shared::ids::RunId;
use code24_shared::ledger::RunProgress;

use super::dlq::with_not_found_hint;
use super::{check_limit, sweep_id, Ctx};
use crate::client::{decode, query};
use crate::error::CliError;
use crate::output::{emit, key_values, time, time_or_dash, Table};

#[derive(Debug, Subcommand)]
pub(crate) enum SweepsCommand {
    /// List recent sweeps with their progress, newest first
    List {
        /// At most N sweeps (1-1000; the API's default is 100)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show one sweep's progress
    #[command(after_help = "Example:\n  code24-ops sweeps show local.optimize.20261129T011500Z")]
    Show {
        /// The sweep id: {environment}.{task}.{scheduled time}
        #[arg(value_parser = sweep_id)]
        id: RunId,
    },
}

pub(crate) fn run(ctx: &Ctx, command: SweepsCommand) -> Result<(), CliError> {
    match command {
        SweepsCommand::List { limit } => {
            let limit = check_limit(limit)?;
            let pairs: Vec<(&str, String)> = limit.map(|n| ("limit", n.to_string())).into_iter().collect();
            let body = ctx.client()?.get(&format!("/api/sweeps{}", query(&pairs)))?;
            if ctx.json {
                return ctx.print_json(&body);
            }
            let sweeps: Vec<RunProgress> = decode(&body, "a list of sweeps")?;
            emit(&render_list(&sweeps));
            Ok(())
        }
        SweepsCommand::Show { id } => {
            let body = ctx
                .client()?
                .get(&format!("/api/sweeps/{id}"))
                .map_err(|e| with_not_found_hint(e, "`code24-ops sweeps list` shows the recent sweeps"))?;
            if ctx.json {
                return ctx.print_json(&body);
            }
            let sweep: RunProgress = decode(&body, "a sweep's progress")?;
            emit(&render_one(&sweep));
            Ok(())
        }
    }
}

/// `done/expected`, e.g. `11/11`: jobs that ended (succeeded, dead or superseded).
fn ended(s: &RunProgress) -> String {
    format!("{}/{}", s.succeeded + s.dead + s.superseded, s.expected)
}

pub(crate) fn render_list(sweeps: &[RunProgress]) -> String {
    if sweeps.is_empty() {
        return "No sweeps yet.\n".into();
    }
    let mut table = Table::new(&["SWEEP", "PHASE", "ENDED", "OK", "DEAD", "SUPERSEDED", "RUNNING", "STARTED", "FINISHED"]);
    for s in sweeps {
        table.row(vec![
            s.run_id.clone(),
            s.phase.as_str().into(),
            ended(s),
            s.succeeded.to_string(),
            s.dead.to_string(),
            s.superseded.to_string(),
            (s.in_flight + s.retrying).to_string(),
            time(s.started_ms),
            time_or_dash(s.finished_ms),
        ]);
    }
    table.render()
}

pub(crate) fn render_one(s: &RunProgress) -> String {
    key_values(&[
        ("sweep", s.run_id.clone()),
        ("task", s.task.clone()),
        ("scheduled", time(s.scheduled_ms)),
        ("phase", s.phase.as_str().into()),
        ("complete", if s.complete { "yes".into() } else { "no".into() }),
        ("expected", s.expected.to_string()),
        ("enqueued", s.enqueued.to_string()),
        ("succeeded", s.succeeded.to_string()),
        ("dead", s.dead.to_string()),
        ("superseded", s.superseded.to_string()),
        ("in flight", s.in_flight.to_string()),
        ("retrying", s.retrying.to_string()),
        ("duplicates", s.duplicates.to_string()),
        ("firings", s.firings.to_string()),
        ("started", time(s.started_ms)),
        ("fan-out done", time_or_dash(s.fanout_done_ms)),
        ("finished", time_or_dash(s.finished_ms)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep() -> RunProgress {
        serde_json::from_str(
            r#"{"sweep_id":"local.optimize.20261129T023000Z","task":"optimize","scheduled_ms":1795919400000,
            "phase":"enqueued","expected":11,"enqueued":11,"in_flight":0,"retrying":1,"succeeded":9,"dead":1,
            "superseded":0,"duplicates":0,"firings":1,"started_ms":1795919432743,"fanout_done_ms":1795919432766,
            "finished_ms":null,"complete":false}"#,
        )
        .unwrap()
    }

    #[test]
    fn sweeps_list_as_a_table() {
        assert_eq!(
            render_list(&[sweep()]),
            "SWEEP                            PHASE     ENDED  OK  DEAD  SUPERSEDED  RUNNING  STARTED               FINISHED\n\
             local.optimize.20261129T023000Z  enqueued  10/11  9   1     0           1        2026-11-29T02:30:32Z  -\n"
        );
        assert_eq!(render_list(&[]), "No sweeps yet.\n");
    }

    #[test]
    fn one_sweep_shows_every_counter() {
        let out = render_one(&sweep());
        assert!(out.starts_with("sweep         local.optimize.20261129T023000Z\n"), "{out}");
        assert!(out.contains("scheduled     2026-11-29T02:30:00Z\n"), "{out}");
        assert!(out.contains("complete      no\n"), "{out}");
        assert!(out.ends_with("finished      -\n"), "{out}");
    }
}
