//! `code24-ops audit list`: the audit log, newest first, filtered by actor, action and time,
//! one page at a time (`--cursor` continues where a page ended). Read-only: the API offers no
//! way to change or delete an entry, and neither does this tool.

use clap::Subcommand;
use code24_shared::audit::AuditPage;

use super::{check_limit, parse_instant, Ctx};
use crate::client::{decode, query};
use crate::error::CliError;
use crate::output::{emit, time, truncate, Table};

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit entries, newest first
    #[command(
        after_help = "Examples:\n  code24-ops audit list --action dead_letters.purge\n  code24-ops audit list --actor ops@example.com --since 2026-12-01"
    )]
    List {
        /// Only entries by this actor (an email, or a service identity such as admin-token)
        #[arg(long, value_name = "WHO")]
        actor: Option<String>,
        /// Only this action (site.add, site.deactivate, run.backfill, billing.record,
        /// dead_letters.replay, dead_letters.purge)
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
        /// Only entries at or after this instant (RFC 3339, a date, or epoch ms)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Continue after a previous page (its `next cursor`)
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// At most N entries (1-1000; the API's default is 100)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
}

pub(crate) fn run(ctx: &Ctx, command: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::List { actor, action, since, cursor, limit } = command;
    let limit = check_limit(limit)?;
    let mut pairs: Vec<(&str, String)> = Vec::new();
    pairs.extend(actor.map(|a| ("actor", a)));
    pairs.extend(action.map(|a| ("action", a)));
    if let Some(since) = since {
        let now = chrono::Utc::now().timestamp_millis();
        let at = parse_instant(&since, now).map_err(|e| CliError::usage(e, "see `code24-ops audit list --help`"))?;
        pairs.push(("from_ms", at.to_string()));
    }
    pairs.extend(cursor.map(|c| ("cursor", c)));
    pairs.extend(limit.map(|n| ("limit", n.to_string())));
    let body = ctx.client()?.get(&format!("/api/audit{}", query(&pairs)))?;
    if ctx.json {
        return ctx.print_json(&body);
    }
    let page: AuditPage = decode(&body, "a page of the audit log")?;
    emit(&render(&page));
    Ok(())
}

pub(crate) fn render(page: &AuditPage) -> String {
    if page.entries.is_empty() {
        return "No audit entries match.\n".into();
    }
    let mut table = Table::new(&["ID", "WHEN", "WHO", "ACTION", "COUNT", "OUTCOME", "REASON"]);
    for e in &page.entries {
        table.row(vec![
            e.id.to_string(),
            time(e.at_ms),
            e.actor.clone(),
            e.action.clone(),
            e.count.to_string(),
            truncate(&e.outcome, 40),
            truncate(e.reason.as_deref().unwrap_or("-"), 60),
        ]);
    }
    let mut out = table.render();
    if let Some(cursor) = &page.next_cursor {
        out.push_str(&format!("More: code24-ops audit list --cursor {cursor}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_list_as_a_table_with_the_next_page() {
        let page: AuditPage = serde_json::from_str(
            r#"{"entries":[{"id":3,"at_ms":1795919432000,"actor_kind":"operator","actor":"ops@example.com",
            "action":"dead_letters.purge","request":"{}","count":2,"status":200,"outcome":"ok","reason":"ticket 9"}],
            "next_cursor":"3"}"#,
        )
        .unwrap();
        let out = render(&page);
        assert!(out.starts_with("ID  WHEN                  WHO"), "{out}");
        assert!(out.contains("ops@example.com  dead_letters.purge  2      ok       ticket 9"), "{out}");
        assert!(out.ends_with("More: code24-ops audit list --cursor 3\n"), "{out}");
        assert_eq!(render(&AuditPage { entries: vec![], next_cursor: None }), "No audit entries match.\n");
    }
}
