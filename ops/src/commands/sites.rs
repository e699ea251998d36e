//! `code24-ops sites`: the site registry the sweeps read (`list`, `add`, `deactivate`).

use clap::{Subcommand, ValueEnum};
use code24_shared::api::MAX_LIMIT;
use code24_shared::ids::CustomerId;
use code24_shared::site::{Plan, SiteRegistration, SiteUrl};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::dlq::with_not_found_hint;
use super::{check_limit, customer_id, print_value, Ctx};
use crate::client::{decode, percent_encode, query};
use crate::error::CliError;
use crate::output::{count, emit, Table};

#[derive(Debug, Subcommand)]
pub(crate) enum SitesCommand {
    /// List registered sites by customer id
    List {
        /// Follow every page to the end
        #[arg(long)]
        all: bool,
        /// Sites per page (1-1000; the API's default is 100)
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Start after this customer id (printed under a page that has more)
        #[arg(long, value_name = "CUSTOMER_ID", value_parser = customer_id, conflicts_with = "all")]
        after: Option<CustomerId>,
    },
    /// Register a customer's site, or update it when the customer exists
    #[command(after_help = "Example:\n  code24-ops sites add new-shop https://new.example --plan starter --name \"New Shop\"")]
    Add {
        /// [A-Za-z0-9_-]{1,64}; becomes the results' R2 key segment
        #[arg(value_parser = customer_id)]
        customer_id: CustomerId,
        /// The site's http(s) URL
        // Its own id: `url` is the global --url's.
        #[arg(id = "site_url", value_name = "URL", value_parser = site_url)]
        url: SiteUrl,
        /// The customer's plan
        #[arg(long, value_enum)]
        plan: PlanArg,
        /// Display name (default: the customer id)
        #[arg(long)]
        name: Option<String>,
        /// Register it without sweeping it
        #[arg(long)]
        inactive: bool,
    },
    /// Stop sweeping a customer's site (the registration is kept)
    Deactivate {
        #[arg(value_parser = customer_id)]
        customer_id: CustomerId,
    },
}

/// The plans, as the command line spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanArg {
    Starter,
    Growth,
    Enterprise,
}

impl From<PlanArg> for Plan {
    fn from(p: PlanArg) -> Self {
        match p {
            PlanArg::Starter => Plan::Starter,
            PlanArg::Growth => Plan::Growth,
            PlanArg::Enterprise => Plan::Enterprise,
        }
    }
}

fn site_url(raw: &str) -> Result<SiteUrl, String> {
    SiteUrl::parse(raw)
}

/// One registry row as `GET /api/sites` lists it.
#[derive(Debug, Deserialize)]
pub(crate) struct SiteRow {
    customer_id: String,
    url: String,
    /// D1 answers SQLite's 0/1; a boolean is accepted too.
    #[serde(deserialize_with = "flag")]
    active: bool,
    plan: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_i64() != Some(0)),
        other => Err(serde::de::Error::custom(format!("active is {other}, not a flag"))),
    }
}

#[derive(Debug, Deserialize)]
struct SitesPage {
    sites: Vec<Value>,
}

pub(crate) fn run(ctx: &Ctx, command: SitesCommand) -> Result<(), CliError> {
    match command {
        SitesCommand::List { all, limit, after } => list(ctx, all, check_limit(limit)?, after),
        SitesCommand::Add { customer_id, url, plan, name, inactive } => {
            let registration = SiteRegistration { customer_id, url, plan: plan.into(), name, active: !inactive };
            // The dispatcher's own check (name length and characters), before any request.
            SiteRegistration::decode(&serde_json::to_string(&registration).unwrap_or_default())
                .map_err(|e| CliError::usage(e, "fix the arguments; `code24-ops sites add --help` describes them"))?;
            let body = ctx.client()?.post("/api/sites", &registration)?;
            if ctx.json {
                return ctx.print_json(&body);
            }
            let r = &registration;
            emit(&format!(
                "Registered {} ({}, plan {}, {}); an existing registration was updated.\n",
                r.customer_id,
                r.url,
                r.plan.as_str(),
                if r.active { "active: swept from the next sweep on" } else { "inactive: not swept" }
            ));
            Ok(())
        }
        SitesCommand::Deactivate { customer_id } => {
            let path = format!("/api/sites/{}/deactivate", percent_encode(customer_id.as_str()));
            let body = ctx
                .client()?
                .post(&path, &json!({}))
                .map_err(|e| with_not_found_hint(e, "`code24-ops sites list --all` shows the registered customers"))?;
            if ctx.json {
                return ctx.print_json(&body);
            }
            emit(&format!("Deactivated {customer_id}: its site is no longer swept (reactivate with `sites add ... --plan P`).\n"));
            Ok(())
        }
    }
}

fn list(ctx: &Ctx, all: bool, limit: Option<u32>, after: Option<CustomerId>) -> Result<(), CliError> {
    let page_size = if all { limit.unwrap_or(MAX_LIMIT) } else { limit.unwrap_or(code24_shared::api::DEFAULT_LIMIT) };
    let mut rows: Vec<Value> = Vec::new();
    let mut after = after.map(|c| c.as_str().to_owned());
    let more = loop {
        let mut pairs: Vec<(&str, String)> = vec![("limit", page_size.to_string())];
        pairs.extend(after.take().map(|a| ("after", a)));
        let body = ctx.client()?.get(&format!("/api/sites{}", query(&pairs)))?;
        let page: SitesPage = decode(&body, "a page of sites")?;
        let full = page.sites.len() >= page_size as usize;
        let last = page.sites.last().and_then(|s| s.get("customer_id")).and_then(Value::as_str).map(str::to_owned);
        rows.extend(page.sites);
        match (full, last) {
            (true, Some(last)) if all => after = Some(last),
            (true, Some(last)) => break Some(last),
            _ => break None,
        }
    };
    if ctx.json {
        print_value(&json!({ "sites": rows }));
        return Ok(());
    }
    let sites: Vec<SiteRow> = rows.into_iter().map(|v| decode(&v.to_string(), "a site")).collect::<Result<_, _>>()?;
    let mut text = render(&sites);
    if let Some(last) = more {
        text.push_str(&format!("More sites: add --after {last} (or --all).\n"));
    }
    emit(&text);
    Ok(())
}

pub(crate) fn render(sites: &[SiteRow]) -> String {
    if sites.is_empty() {
        return "No sites registered.\n".into();
    }
    let mut table = Table::new(&["CUSTOMER", "ACTIVE", "PLAN", "NAME", "UPDATED", "URL"]);
    for s in sites {
        table.row(vec![
            s.customer_id.clone(),
            if s.active { "yes".into() } else { "no".into() },
            s.plan.clone(),
            s.name.clone().unwrap_or_default(),
            s.updated_at.clone().unwrap_or_else(|| "-".into()),
            s.url.clone(),
        ]);
    }
    let active = sites.iter().filter(|s| s.active).count();
    format!("{}{}, {active} active.\n", table.render(), count(sites.len(), "site", "sites"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_rows_render_with_their_flags() {
        let rows: Vec<SiteRow> = serde_json::from_str(
            r#"[{"customer_id":"acme","url":"https://acme.example","active":1,"plan":"growth","name":"Acme",
                 "created_at":"2026-11-29T01:00:00Z","updated_at":"2026-11-29T01:00:00Z"},
                {"customer_id":"old","url":"https://old.example","active":false,"plan":"starter","name":null,
                 "created_at":"2026-11-28T01:00:00Z","updated_at":"2026-11-28T02:00:00Z"}]"#,
        )
        .unwrap();
        assert_eq!(
            render(&rows),
            "CUSTOMER  ACTIVE  PLAN     NAME  UPDATED               URL\n\
             acme      yes     growth   Acme  2026-11-29T01:00:00Z  https://acme.example\n\
             old       no      starter        2026-11-28T02:00:00Z  https://old.example\n\
             2 sites, 1 active.\n"
        );
        assert!(serde_json::from_str::<SiteRow>(r#"{"customer_id":"a","url":"u","active":"yes","plan":"p"}"#).is_err());
    }
}
