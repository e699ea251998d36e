//! `dlq replay` and `dlq purge`: select dead letters by id or by filter, preview, confirm, and
//! carry out in chunks with a progress line.
//!
//! A filter selection is previewed with the API's dry run, so the operator sees the count and
//! the ids before confirming. Up to [`CHUNK`] entries go in one request; more are listed
//! through the list endpoint and sent as explicit ids, [`CHUNK`] per request, paced so a
//! `--rate` holds across requests (the API spreads one request's replays; it cannot know
//! about the next request).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use code24_shared::api::{DEFAULT_LIMIT, MAX_LIMIT};
use code24_shared::dead_letters::query::{DeadLetterFilter, DeadLetterPage, DeadLetterStatus};
use code24_shared::dead_letters::selection::{Selection, SelectionOutcome};

use super::{check_limit, confirm, entry_id, filter_query, print_value, Ctx, FilterArgs};
use crate::client::{decode, query};
use crate::error::{CliError, Exit};
use crate::output::{count, emit, Progress, Table};

/// Entries per request when a selection is carried out chunk by chunk.
pub(crate) const CHUNK: usize = 50;
/// Ids a summary lists before saying how many more there are.
const SHOWN_IDS: usize = 20;

#[derive(Debug, Args)]
pub(crate) struct SelectArgs {
    /// Select this dead letter (repeat for several); excludes the filter flags
    #[arg(long = "id", value_name = "ID", value_parser = entry_id, conflicts_with = "filter")]
    ids: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Report what would be selected; change nothing
    #[arg(long)]
    dry_run: bool,
    /// Take at most N entries (1-1000; default 100)
    #[arg(long, value_name = "N")]
    limit: Option<u32>,
    /// Do not ask for confirmation (required for a filter selection without a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Why (required unless --dry-run; kept with the audit log's entry)
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Replay,
    Purge,
}

impl Action {
    fn path(self) -> &'static str {
        match self {
            Self::Replay => "/api/dead-letters/replay",
            Self::Purge => "/api/dead-letters/purge",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Purge => "purge",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            Self::Replay => "replaying",
            Self::Purge => "purging",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Self::Replay => "replayed",
            Self::Purge => "purged",
        }
    }
}

pub(crate) fn run(ctx: &Ctx, action: Action, args: SelectArgs, rate: Option<u32>) -> Result<(), CliError> {
    let selection = plan(action, &args, rate)?;
    match &selection.ids {
        Some(ids) => by_ids(ctx, action, &selection, ids),
        None => by_filter(ctx, action, &selection, args.yes),
    }
}

/// The request the arguments describe, validated by the dispatcher's own rules.
pub(crate) fn plan(action: Action, args: &SelectArgs, rate: Option<u32>) -> Result<Selection, CliError> {
    let limit = check_limit(args.limit)?;
    if rate == Some(0) {
        return Err(CliError::usage("--rate must be at least 1 per second", "omit --rate to replay as fast as the queue takes them"));
    }
    let selection = if args.ids.is_empty() {
        if args.filter.is_empty() {
            return Err(CliError::usage(
                format!("name the dead letters to {}", action.verb()),
                "pass --id ID (repeatable) or filter flags such as --customer or --sweep; --status dead selects every dead entry",
            ));
        }
        let mut filter = args.filter.to_filter()?;
        // Only dead entries can be replayed: selecting replayed ones would only skip them.
        if action == Action::Replay && filter.status.is_none() {
            filter.status = Some(DeadLetterStatus::Dead);
        }
        Selection { ids: None, filter: Some(filter), dry_run: args.dry_run, limit, rate_per_s: rate, reason: args.reason.clone() }
    } else {
        let mut ids: Vec<String> = Vec::new();
        for id in &args.ids {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        ids.truncate(limit.unwrap_or(MAX_LIMIT) as usize);
        Selection { ids: Some(ids), filter: None, dry_run: args.dry_run, limit, rate_per_s: rate, reason: args.reason.clone() }
    };
    let encoded = serde_json::to_string(&selection).unwrap_or_default();
    Selection::decode(&encoded).map_err(|e| CliError::usage(e, format!("see `code24-ops dlq {} --help`", action.verb())))?;
    Ok(selection)
}

fn by_ids(ctx: &Ctx, action: Action, selection: &Selection, ids: &[String]) -> Result<(), CliError> {
    let outcome =
        if selection.dry_run || ids.len() <= CHUNK { send(ctx, action, selection)? } else { chunked(ctx, action, ids, selection)? };
    report(ctx, action, &outcome, selection.limit())
}

fn by_filter(ctx: &Ctx, action: Action, selection: &Selection, yes: bool) -> Result<(), CliError> {
    let preview = send(ctx, action, &Selection { dry_run: true, ..selection.clone() })?;
    if selection.dry_run || preview.done.is_empty() {
        return report(ctx, action, &preview, selection.limit());
    }
    if !ctx.json {
        emit(&describe(action, &preview, selection.limit()));
    }
    let n = preview.done.len();
    if !yes {
        let question = format!("{} {}?", capitalised(action.verb()), count(n, "dead letter", "dead letters"));
        let refusal = format!("refusing to {} {}", action.verb(), count(n, "dead letter", "dead letters"));
        if !confirm(&question, &refusal)? {
            eprintln!("Nothing was {}.", action.past());
            return Ok(());
        }
    }
    let outcome = if n <= CHUNK {
        send(ctx, action, selection)?
    } else {
        let filter = selection.filter.clone().unwrap_or_default();
        let ids = list_ids(ctx, &filter, selection.limit() as usize)?;
        chunked(ctx, action, &ids, selection)?
    };
    report(ctx, action, &outcome, selection.limit())
}

fn send(ctx: &Ctx, action: Action, selection: &Selection) -> Result<SelectionOutcome, CliError> {
    let body = ctx.client()?.post(action.path(), selection)?;
    decode(&body, "a replay or purge outcome")
}

/// The ids of up to `limit` entries matching `filter`, in list order.
fn list_ids(ctx: &Ctx, filter: &DeadLetterFilter, limit: usize) -> Result<Vec<String>, CliError> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    while ids.len() < limit {
        let mut pairs = filter_query(filter);
        pairs.push(("limit", (limit - ids.len()).min(MAX_LIMIT as usize).to_string()));
        pairs.extend(cursor.take().map(|c| ("cursor", c)));
        let body = ctx.client()?.get(&format!("/api/dead-letters{}", query(&pairs)))?;
        let page: DeadLetterPage = decode(&body, "a page of dead letters")?;
        ids.extend(page.dead_letters.into_iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.truncate(limit);
    Ok(ids)
}

/// Sends `ids` [`CHUNK`] at a time with a progress line, and sums the outcomes.
fn chunked(ctx: &Ctx, action: Action, ids: &[String], selection: &Selection) -> Result<SelectionOutcome, CliError> {
    let rate = selection.rate_per_s;
    let client = ctx.client()?;
    let progress = Progress::new(action.gerund(), ids.len(), std::io::stderr().is_terminal());
    let mut total = SelectionOutcome { dry_run: false, matched: 0, done: Vec::new(), skipped: Vec::new() };
    let mut sent = 0;
    for chunk in ids.chunks(CHUNK) {
        let started = Instant::now();
        let request = Selection {
            ids: Some(chunk.to_vec()),
            filter: None,
            dry_run: false,
            limit: Some(chunk.len() as u32),
            rate_per_s: rate,
            reason: selection.reason.clone(),
        };
        let outcome = client.post(action.path(), &request).and_then(|b| decode::<SelectionOutcome>(&b, "a replay or purge outcome"));
        let mut outcome = match outcome {
            Ok(outcome) => outcome,
            Err(mut e) => {
                progress.finish();
                e.message = format!("stopped after {} of {} entries: {}", total.done.len(), ids.len(), e.message);
                e.hint = format!("{}; then run the same command again: {} entries are no longer selected", e.hint, action.past());
                return Err(e);
            }
        };
        sent += chunk.len();
        total.matched += outcome.matched;
        total.done.append(&mut outcome.done);
        total.skipped.append(&mut outcome.skipped);
        progress.update(sent);
        if let Some(rate) = rate {
            if sent < ids.len() {
                std::thread::sleep(pace(chunk.len(), rate).saturating_sub(started.elapsed()));
            }
        }
    }
    progress.finish();
    Ok(total)
}

/// How long a chunk of `n` replays takes at `rate` per second: the next chunk waits for it.
pub(crate) fn pace(n: usize, rate: u32) -> Duration {
    Duration::from_millis(n as u64 * 1_000 / u64::from(rate.max(1)))
}

/// Prints the outcome; skipped entries of a real run are an error (exit 1) naming them.
fn report(ctx: &Ctx, action: Action, outcome: &SelectionOutcome, limit: u32) -> Result<(), CliError> {
    if ctx.json {
        print_value(&serde_json::to_value(outcome).unwrap_or_default());
    } else {
        emit(&describe(action, outcome, limit));
    }
    if outcome.dry_run || outcome.skipped.is_empty() {
        return Ok(());
    }
    Err(CliError::new(
        Exit::Api,
        skipped_message(action, outcome, ctx.json),
        "`code24-ops dlq show ID` shows an entry; only entries with status dead can be replayed",
    ))
}

/// Says how many selected entries a real run skipped, and where they are listed.
fn skipped_message(action: Action, outcome: &SelectionOutcome, json: bool) -> String {
    let skipped = outcome.skipped.len();
    format!(
        "{skipped} of the {} selected {} {} not {} ({})",
        outcome.matched,
        if outcome.matched == 1 { "dead letter" } else { "dead letters" },
        if skipped == 1 { "was" } else { "were" },
        action.past(),
        if json { "see `skipped` in the output" } else { "listed above" }
    )
}

/// The human summary of an outcome (or of a dry run's preview).
pub(crate) fn describe(action: Action, outcome: &SelectionOutcome, limit: u32) -> String {
    let n = outcome.done.len();
    let letters = count(n, "dead letter", "dead letters");
    let mut out = if outcome.dry_run {
        format!("Would {} {letters} ({} matched); nothing changed yet.\n", action.verb(), outcome.matched)
    } else {
        format!("{} {letters}.\n", capitalised(action.past()))
    };
    for id in outcome.done.iter().take(SHOWN_IDS) {
        out.push_str(&format!("  {}\n", crate::output::clean(id)));
    }
    if n > SHOWN_IDS {
        out.push_str(&format!("  … and {} more\n", n - SHOWN_IDS));
    }
    if !outcome.skipped.is_empty() {
        let mut table = Table::new(&["SKIPPED", "REASON"]);
        for s in &outcome.skipped {
            table.row(vec![s.id.clone(), s.reason.clone()]);
        }
        out.push_str(&table.render());
    }
    if outcome.dry_run && outcome.matched >= limit {
        let raise = if limit < MAX_LIMIT { format!("; raise --limit (up to {MAX_LIMIT}) to take more") } else { String::new() };
        out.push_str(&format!("The selection stops at the limit of {limit} (default {DEFAULT_LIMIT}){raise}.\n"));
    }
    out
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use code24_shared::dead_letters::selection::Skipped;

    fn args(ids: &[&str], filter: FilterArgs) -> SelectArgs {
        SelectArgs {
            ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            filter,
            dry_run: false,
            limit: None,
            yes: false,
            reason: Some("a test".into()),
        }
    }

    #[test]
    fn a_selection_needs_ids_or_a_filter() {
        let e = plan(Action::Replay, &args(&[], FilterArgs::default()), None).unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("name the dead letters to replay"), "{e}");
        assert!(e.hint.contains("--status dead"), "{e}");
        let e = plan(Action::Replay, &args(&["a.b"], FilterArgs::default()), Some(0)).unwrap_err();
        assert!(e.message.contains("--rate must be at least 1"), "{e}");
        let mut too_many = args(&["a.b"], FilterArgs::default());
        too_many.limit = Some(MAX_LIMIT + 1);
        assert_eq!(plan(Action::Purge, &too_many, None).unwrap_err().exit, Exit::Usage);
        let mut no_reason = args(&["a.b"], FilterArgs::default());
        no_reason.reason = None;
        let e = plan(Action::Purge, &no_reason, None).unwrap_err();
        assert!(e.exit == Exit::Usage && e.message.contains("a reason is required"), "{e}");
        no_reason.dry_run = true;
        assert!(plan(Action::Purge, &no_reason, None).is_ok(), "a dry run needs no reason");
    }

    #[test]
    fn a_replay_filter_selects_dead_entries_unless_told_otherwise() {
        let customer = FilterArgs { customer_id: Some(super::super::customer_id("acme").unwrap()), ..FilterArgs::default() };
        let replay = plan(Action::Replay, &args(&[], customer.clone()), Some(5)).unwrap();
        assert_eq!(replay.filter.as_ref().and_then(|f| f.status), Some(DeadLetterStatus::Dead));
        assert_eq!(replay.rate_per_s, Some(5));
        let purge = plan(Action::Purge, &args(&[], customer), None).unwrap();
        assert_eq!(purge.filter.as_ref().and_then(|f| f.status), None);
    }

    #[test]
    fn ids_are_deduplicated_and_cut_to_the_limit() {
        let mut a = args(&["x.1", "x.2", "x.1", "x.3"], FilterArgs::default());
        a.limit = Some(2);
        let s = plan(Action::Replay, &a, None).unwrap();
        assert_eq!(s.ids, Some(vec!["x.1".to_owned(), "x.2".to_owned()]));
        assert_eq!(s.filter, None);
    }

    #[test]
    fn chunks_are_paced_to_the_rate() {
        assert_eq!(pace(50, 10), Duration::from_secs(5));
        assert_eq!(pace(50, 1_000), Duration::from_millis(50));
        assert_eq!(pace(3, 2), Duration::from_millis(1_500));
    }

    #[test]
    fn summaries_list_ids_skips_and_the_limit() {
        let outcome = SelectionOutcome {
            dry_run: true,
            matched: 3,
            done: vec!["s.a".into(), "s.b".into()],
            skipped: vec![Skipped { id: "s.c".into(), reason: "status is replayed, not dead".into() }],
        };
        assert_eq!(
            describe(Action::Replay, &outcome, 3),
            "Would replay 2 dead letters (3 matched); nothing changed yet.\n  s.a\n  s.b\n\
             SKIPPED  REASON\ns.c      status is replayed, not dead\n\
             The selection stops at the limit of 3 (default 100); raise --limit (up to 1000) to take more.\n"
        );
        let done = SelectionOutcome { dry_run: false, matched: 1, done: vec!["s.a".into()], skipped: vec![] };
        assert_eq!(describe(Action::Purge, &done, 100), "Purged 1 dead letter.\n  s.a\n");
        let skipped = SelectionOutcome { dry_run: false, ..outcome.clone() };
        assert_eq!(skipped_message(Action::Replay, &skipped, false), "1 of the 3 selected dead letters was not replayed (listed above)");
        let many = SelectionOutcome { dry_run: false, matched: 25, done: (0..25).map(|i| format!("s.{i}")).collect(), skipped: vec![] };
        assert!(describe(Action::Replay, &many, 100).ends_with("  s.19\n  … and 5 more\n"));
    }
}
