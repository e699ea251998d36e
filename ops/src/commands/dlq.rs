//! `code24-ops dlq`: inspect the dead-letter store (`list`, `show`) and act on it (`replay`,
//! `purge`, carried out by [`super::selection`]).

use clap::{Args, Subcommand};
use code24_shared::api::MAX_LIMIT;
use code24_shared::dead_letters::query::{Cursor, DeadLetterDetail, DeadLetterEntry, DeadLetterPage};

use super::selection::{self, Action, SelectArgs};
use super::{check_limit, entry_id, filter_query, print_value, Ctx, FilterArgs};
use crate::client::{decode, percent_encode, query};
use crate::error::CliError;
use crate::output::{count, emit, key_values, time, time_or_dash, truncate, Table, LIST_MESSAGE_CHARS};

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// List dead letters, newest failure first
    #[command(after_help = "Examples:\n  code24-ops dlq list --customer acme-bakery --from 24h\n  \
                            code24-ops dlq list --sweep local.optimize.20261129T011500Z --all --json")]
    List(ListArgs),
    /// Show one dead letter: its full error, the original message body, and what became of its job
    Show {
        /// The dead letter's id (the first column of `dlq list`)
        #[arg(value_parser = entry_id)]
        id: String,
    },
    /// Send dead letters again for their original sweep (their result fills the original R2 key)
    #[command(after_help = "A filter replay first runs a dry run, shows what it selects and asks for \
confirmation (--yes skips the question; without a terminal --yes is required). Without --status, \
a filter replay selects status dead. More than 50 entries are replayed in chunks of 50 with a \
progress line on stderr, paced to --rate.\n\nExamples:\n  code24-ops dlq replay --id local.optimize.20261129T011500Z.acme --yes\n  \
code24-ops dlq replay --customer acme --error-class transient --dry-run\n  \
code24-ops dlq replay --sweep local.optimize.20261129T011500Z --rate 10 --limit 500 --yes")]
    Replay(ReplayArgs),
    /// Purge dead letters (kept for the audit trail with status purged, hidden from lists)
    #[command(after_help = "A filter purge asks for confirmation like a filter replay (--yes skips \
it). Without --status it selects dead and replayed entries.\n\nExamples:\n  \
code24-ops dlq purge --id local.optimize.20261129T011500Z.acme\n  \
code24-ops dlq purge --status replayed --to 30d --yes")]
    Purge(SelectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Entries per page (1-1000; the API's default is 100)
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Continue after this position (printed under a page that has more)
    #[arg(long, value_name = "CURSOR", conflicts_with = "all")]
    cursor: Option<String>,
    /// Follow every page to the end (pages of --limit, or 1000)
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    select: SelectArgs,
    /// Deliver at most N replays per second
    #[arg(long, value_name = "N")]
    rate: Option<u32>,
}

pub(crate) fn run(ctx: &Ctx, command: DlqCommand) -> Result<(), CliError> {
    match command {
        DlqCommand::List(args) => list(ctx, args),
        DlqCommand::Show { id } => show(ctx, &id),
        DlqCommand::Replay(args) => selection::run(ctx, Action::Replay, args.select, args.rate),
        DlqCommand::Purge(args) => selection::run(ctx, Action::Purge, args, None),
    }
}

fn list(ctx: &Ctx, args: ListArgs) -> Result<(), CliError> {
    let filter = args.filter.to_filter()?;
    let limit = check_limit(args.limit)?;
    if let Some(cursor) = &args.cursor {
        Cursor::decode(cursor).map_err(|e| CliError::usage(e, "pass the cursor exactly as a previous page printed it"))?;
    }
    let base = filter_query(&filter);
    let page_size = if args.all { limit.or(Some(MAX_LIMIT)) } else { limit };
    let fetch = |cursor: Option<&str>| -> Result<(String, DeadLetterPage), CliError> {
        let mut pairs = base.clone();
        pairs.extend(cursor.map(|c| ("cursor", c.to_owned())));
        pairs.extend(page_size.map(|n| ("limit", n.to_string())));
        let body = ctx.client()?.get(&format!("/api/dead-letters{}", query(&pairs)))?;
        let page = decode(&body, "a page of dead letters")?;
        Ok((body, page))
    };

    let (body, mut page) = fetch(args.cursor.as_deref())?;
    if !args.all {
        if ctx.json {
            return ctx.print_json(&body);
        }
        let mut text = render_page(&page.dead_letters);
        if let Some(next) = &page.next_cursor {
            text.push_str(&format!("More entries: add --cursor {next} (or --all).\n"));
        }
        emit(&text);
        warn_capacity(&page);
        return Ok(());
    }
    let mut entries = std::mem::take(&mut page.dead_letters);
    while let Some(next) = page.next_cursor.take() {
        let (_, next_page) = fetch(Some(&next))?;
        page = next_page;
        entries.append(&mut page.dead_letters);
    }
    if ctx.json {
        let all = DeadLetterPage { dead_letters: entries, next_cursor: None, store: page.store };
        print_value(&serde_json::to_value(&all).unwrap_or_default());
        return Ok(());
    }
    emit(&render_page(&entries));
    warn_capacity(&page);
    Ok(())
}

fn render_page(entries: &[DeadLetterEntry]) -> String {
    if entries.is_empty() {
        return "No dead letters match.\n".into();
    }
    let mut table = Table::new(&["ID", "CUSTOMER", "STATUS", "CLASS", "TRIES", "REPLAYS", "LAST FAILED", "ERROR"]);
    for e in entries {
        table.row(vec![
            e.id.clone(),
            e.customer_id.clone().unwrap_or_else(|| "-".into()),
            e.status.clone(),
            e.error_class.clone(),
            e.attempts.to_string(),
            e.replay_count.to_string(),
            time(e.last_failed_ms),
            truncate(&e.error_message, LIST_MESSAGE_CHARS),
        ]);
    }
    format!("{}{}.\n", table.render(), count(entries.len(), "dead letter", "dead letters"))
}

/// The store never drops entries; when it nears its warning size it says so, and so do we.
fn warn_capacity(page: &DeadLetterPage) {
    if page.store.near_capacity {
        eprintln!(
            "warning: the dead-letter store holds {} rows (warning size {}); replay what can be healed and purge the rest",
            page.store.rows, page.store.warn_at
        );
    }
}

fn show(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    let body = ctx
        .client()?
        .get(&format!("/api/dead-letters/{}", percent_encode(id)))
        .map_err(|e| with_not_found_hint(e, "`code24-ops dlq list` shows the stored dead letters"))?;
    if ctx.json {
        return ctx.print_json(&body);
    }
    let detail: DeadLetterDetail = decode(&body, "a dead letter")?;
    emit(&render_detail(&detail));
    Ok(())
}

/// The `show` view of one dead letter.
pub(crate) fn render_detail(detail: &DeadLetterDetail) -> String {
    let e = &detail.entry;
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut pairs = vec![
        ("id", e.id.clone()),
        ("status", format!("{}, {}", e.status, count(e.replay_count as usize, "replay", "replays"))),
        ("origin queue", e.origin_queue.clone()),
        ("job", or_dash(&e.job_id)),
        ("sweep", or_dash(&e.run_id)),
        ("customer", or_dash(&e.customer_id)),
        ("error", format!("{}: {}", e.error_class, e.error_message)),
        ("attempts", e.attempts.to_string()),
        ("first failed", time(e.first_failed_ms)),
        ("last failed", time(e.last_failed_ms)),
        ("last replayed", time_or_dash(e.replayed_ms)),
        ("job state", or_dash(&detail.job_state)),
        ("result key", or_dash(&detail.result_key)),
    ];
    if let Some(body) = &e.body {
        // A job body is JSON: show it indented; a poison body is shown as it was received.
        let shown = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| body.clone());
        pairs.push(("body", shown));
    }
    key_values(&pairs)
}

/// Replaces the generic hint of a 404 with one naming the command that lists what exists.
pub(crate) fn with_not_found_hint(mut e: CliError, hint: &str) -> CliError {
    if e.exit == crate::error::Exit::NotFound {
        e.hint = hint.to_owned();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::dead_letters::query::DeadLetterEntry;

    fn entry(message: &str) -> DeadLetterEntry {
        DeadLetterEntry {
            id: "local.optimize.20261129T011500Z.acme".into(),
            origin_queue: "code24-optimize".into(),
            job_id: Some("local.optimize.20261129T011500Z.acme".into()),
            run_id: Some("local.optimize.20261129T011500Z".into()),
            customer_id: Some("acme".into()),
            error_class: "permanent".into(),
            error_message: message.to_owned(),
            attempts: 1,
            first_failed_ms: 1_795_914_903_000,
            last_failed_ms: 1_795_914_903_000,
            status: "dead".into(),
            replay_count: 0,
            replayed_ms: None,
            body: None,
        }
    }

    #[test]
    fn lists_truncate_errors_to_one_short_line() {
        let out = render_page(&[entry(&format!("elite designer answered HTTP 400:\n{}", "x".repeat(100)))]);
        let row = out.lines().nth(1).unwrap_or_default();
        assert!(
            row.starts_with("local.optimize.20261129T011500Z.acme  acme      dead    permanent  1      0        2026-11-29T01:15:03Z  "),
            "{out}"
        );
        assert!(row.ends_with(&format!("elite designer answered HTTP 400: {}…", "x".repeat(25))), "{row}");
        assert!(out.ends_with("\n1 dead letter.\n"), "{out}");
        assert_eq!(render_page(&[]), "No dead letters match.\n");
    }

    #[test]
    fn the_detail_view_shows_the_whole_error_and_the_body() {
        let long = format!("elite designer answered HTTP 400: {}", "x".repeat(100));
        let detail = DeadLetterDetail {
            entry: DeadLetterEntry { body: Some(r#"{"v":1}"#.into()), ..entry(&long) },
            job_state: Some("dead".into()),
            result_key: Some("optimizations/acme/20261129T011500Z.json".into()),
        };
        let out = render_detail(&detail);
        assert!(out.contains(&format!("error          permanent: {long}\n")), "{out}");
        assert!(out.contains("status         dead, 0 replays\n"), "{out}");
        assert!(out.contains("last failed    2026-11-29T01:15:03Z\n"), "{out}");
        assert!(out.contains("last replayed  -\n"), "{out}");
        assert!(out.ends_with("body           {\n                 \"v\": 1\n               }\n"), "{out}");
    }
}
