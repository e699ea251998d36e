//! `deploy` without `--dry-run`: everything an environment needs, then its Workers.
//!
//! 1. Refuse at once, before any change, when wrangler is not logged in (`wrangler whoami`)
//!    or a Worker bound by a service binding but deployed elsewhere (the real elite workers)
//!    does not exist in the account.
//! 2. Build the Workers.
//! 3. Provision what is missing, as the configs name it (`code24_config_check::resources`):
//!    queues (each with its declared message retention, applied to existing ones too), the R2
//!    bucket and its lifecycle rule (`optimizations/` expires after the declared retention,
//!    `deploy/lifecycle.rs`), the D1 database; write a new database's id into every config
//!    that binds it (in place of the placeholder; an id that disagrees with the account's is
//!    refused); apply the D1 migrations remotely.
//! 4. `wrangler deploy --env X` each Worker in deploy order.
//! 5. Set the secrets given in the environment (`deploy/secrets.rs`: a weak one refused the
//!    deploy at step 0, before anything changed), then say which are still unset.
//!
//! Every step is a wrangler command run from the repository root, printed before it runs.

use std::fs;
use std::path::Path;

use code24_config_check::resources::{resources, Database};
use code24_config_check::workers as table;
use code24_config_check::wrangler::Target;
use code24_config_check::{Configs, PLACEHOLDER_DATABASE_ID};
use code24_shared::names::{self, Environment};
use serde_json::Value;

use super::secrets::{self, Given};
use super::{database_id, lifecycle, output_tail, queues, Wrangler};
use crate::Result;

pub(crate) fn run(root: &Path, wrangler: &Wrangler, env: Environment, given: &Given, build: impl FnOnce() -> Result<()>) -> Result<()> {
    let e = env.as_str();
    let mut done: Vec<String> = Vec::new();
    secrets::refuse_weak(given)?;
    logged_in(wrangler)?;
    let configs = Configs::load(root).map_err(|problems| format!("cannot read the configs: {}", problems[0]))?;
    services_exist(wrangler, &configs, env)?;
    build()?;

    let needs = resources(&configs, env);
    println!(
        "deploy: provisioning {e}: queues {:?}, R2 buckets {:?}, D1 {:?}",
        needs.queues,
        needs.buckets,
        needs.databases.iter().map(|d| &d.name).collect::<Vec<_>>()
    );
    for queue in &needs.queues {
        done.push(queues::ensure_queue(wrangler, queue, needs.retention_s.get(queue).copied())?);
    }
    for bucket in &needs.buckets {
        done.push(ensure(wrangler, "R2 bucket", bucket, &["r2", "bucket", "info", bucket], &["r2", "bucket", "create", bucket])?);
        done.push(lifecycle::ensure_rule(wrangler, bucket, needs.optimizations_retention_days.get(bucket).copied())?);
    }
    for database in &needs.databases {
        done.extend(provision_database(root, wrangler, env, database)?);
    }
    for dataset in &needs.datasets {
        done.push(format!("Analytics Engine dataset {dataset}: created by Cloudflare on the first write"));
    }

    for spec in table::deployed() {
        let worker = names::in_env(spec.name, env);
        wrangler.run(&["deploy", "--env", e, "-c", spec.config], &format!("wrangler deploy of {worker}"))?;
        done.push(format!("deployed {worker} ({})", spec.config));
    }
    done.extend(secrets::put(wrangler, env, given)?);
    let reminders = unset_secrets(wrangler, env);

    println!("\ndeploy --env {e}: done");
    for line in &done {
        println!("  - {line}");
    }
    if reminders.is_empty() {
        println!("  Every secret is set.");
    } else {
        println!("\n  Secrets still to set (the Workers run without them, but see below):");
        for line in &reminders {
            println!("  ! {line}");
        }
    }
    println!("  Rolling back: docs/DEPLOY.md, \"Rollbacks\".");
    Ok(())
}

/// `wrangler whoami --json` exits non-zero when no credentials are available.
fn logged_in(wrangler: &Wrangler) -> Result<()> {
    let output = wrangler.output(&["whoami", "--json"])?;
    let answer: Option<Value> = serde_json::from_slice(&output.stdout).ok();
    if output.status.success() && answer.as_ref().is_some_and(|a| a["loggedIn"] == true) {
        println!("deploy: wrangler is logged in to Cloudflare");
        return Ok(());
    }
    Err(format!(
        "wrangler is not logged in to Cloudflare, or cannot reach it (`wrangler whoami --json` said: {}), so nothing \
         was changed.\n  Log in with `npx wrangler login`, or set CLOUDFLARE_API_TOKEN (and CLOUDFLARE_ACCOUNT_ID when \
         the token reaches several accounts), then run this again.",
        output_tail(&output, 3).trim()
    ))
}

/// Every service a deployed Worker binds that this repository does not deploy (the elite
/// workers) must exist already: Cloudflare refuses a binding to a missing Worker, and finding
/// that out half-way through would leave the environment half-deployed.
fn services_exist(wrangler: &Wrangler, configs: &Configs, env: Environment) -> Result<()> {
    let ours: Vec<String> = table::deployed().map(|s| names::in_env(s.name, env)).collect();
    let mut missing = Vec::new();
    // Several Workers bind the same elite worker (the optimizer and the reports consumer):
    // each is looked up once.
    let mut asked: Vec<String> = Vec::new();
    for (spec, resolved) in configs.resolved(env) {
        for binding in &resolved.bindings {
            let Target::Service { service } = &binding.target else { continue };
            if ours.contains(service) || asked.contains(service) {
                continue;
            }
            asked.push(service.clone());
            if !wrangler.output(&["deployments", "list", "--name", service, "--json"])?.status.success() {
                missing.push(format!("{service} (bound as {} by {})", binding.name, spec.name));
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "these Workers are bound but not found in the Cloudflare account, so nothing was changed: {}.\n  \
         Deploy them first, or, if they are named differently, change ELITE_*_WORKER in shared/src/names.rs and the \
         services in consumers/optimizer/wrangler.toml and consumers/reports/wrangler.toml (docs/DEPLOY.md, \"The elite workers\").",
        missing.join(", ")
    ))
}

/// Creates `name` unless `info` finds it; returns what happened.
fn ensure(wrangler: &Wrangler, kind: &str, name: &str, info: &[&str], create: &[&str]) -> Result<String> {
    if wrangler.output(info)?.status.success() {
        return Ok(format!("{kind} {name}: exists"));
    }
    wrangler.run(create, &format!("creating {kind} {name}"))?;
    Ok(format!("{kind} {name}: created"))
}

fn provision_database(root: &Path, wrangler: &Wrangler, env: Environment, db: &Database) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let id = match d1_id(wrangler, &db.name)? {
        Some(id) => {
            done.push(format!("D1 {}: exists ({id})", db.name));
            id
        }
        None => {
            wrangler.run(&["d1", "create", &db.name], &format!("creating D1 {}", db.name))?;
            let id =
                d1_id(wrangler, &db.name)?.ok_or_else(|| format!("D1 {} was created but is not listed by `wrangler d1 list`", db.name))?;
            done.push(format!("D1 {}: created ({id})", db.name));
            id
        }
    };
    if db.id == PLACEHOLDER_DATABASE_ID {
        for (config, binding) in &db.bound_by {
            let path = root.join(config);
            let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {config}: {e}"))?;
            let text = database_id::set(&text, env, binding, &id)?;
            fs::write(&path, text).map_err(|e| format!("cannot write {config}: {e}"))?;
            done.push(format!("wrote database_id {id} into [[env.{}.d1_databases]] of {config}: commit this change", env.as_str()));
        }
    } else if db.id != id {
        return Err(format!(
            "the configs bind D1 {} as database_id {:?}, but the account's {} is {id:?}; nothing was deployed. \
             Put {id:?} (or the placeholder {PLACEHOLDER_DATABASE_ID:?}, which deploy fills) into {}",
            db.name,
            db.id,
            db.name,
            db.bound_by.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(" and ")
        ));
    }
    let (config, binding) = &db.bound_by[0];
    wrangler.run(
        &["d1", "migrations", "apply", binding, "--remote", "--env", env.as_str(), "-c", config],
        &format!("applying the D1 migrations to {}", db.name),
    )?;
    done.push(format!("D1 {}: migrations applied", db.name));
    Ok(done)
}

/// The id of the account's D1 database `name`, if it exists.
fn d1_id(wrangler: &Wrangler, name: &str) -> Result<Option<String>> {
    let output = wrangler.output(&["d1", "list", "--json"])?;
    if !output.status.success() {
        return Err(format!("`wrangler d1 list --json` failed ({}):\n{}", output.status, output_tail(&output, 10)));
    }
    database_in_list(&String::from_utf8_lossy(&output.stdout), name)
}

/// Finds `name` in the JSON array `wrangler d1 list --json` prints (`[{"uuid", "name", ..}]`).
fn database_in_list(stdout: &str, name: &str) -> Result<Option<String>> {
    let json = stdout.find('[').map_or("", |at| &stdout[at..]);
    let list: Value = serde_json::from_str(json).map_err(|e| format!("cannot read `wrangler d1 list --json`: {e}"))?;
    Ok(list.as_array().into_iter().flatten().find(|db| db["name"] == name).and_then(|db| db["uuid"].as_str()).map(str::to_owned))
}

/// One line per secret that is not set (or could not be listed), with the command to set it.
fn unset_secrets(wrangler: &Wrangler, env: Environment) -> Vec<String> {
    let mut out = Vec::new();
    for spec in table::deployed().filter(|s| !s.secrets.is_empty()) {
        let worker = names::in_env(spec.name, env);
        let listed = wrangler.output(&["secret", "list", "--env", env.as_str(), "-c", spec.config, "--format", "json"]);
        let names: Option<Vec<String>> = listed.ok().filter(|o| o.status.success()).and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let list: Value = serde_json::from_str(text.find('[').map_or("", |at| &text[at..])).ok()?;
            Some(list.as_array()?.iter().filter_map(|s| s["name"].as_str().map(str::to_owned)).collect())
        });
        let config_flag = if spec.config == "wrangler.toml" { String::new() } else { format!(" -c {}", spec.config) };
        for secret in spec.secrets {
            let set = format!("npx wrangler secret put {secret} --env {}{config_flag}", env.as_str());
            match &names {
                Some(names) if names.iter().any(|n| n == secret) => {}
                Some(_) if *secret == names::var::ALERT_WEBHOOK_URL => out.push(format!(
                    "{secret} is not set on {worker}: incidents are recorded (the dashboard's health page) but no alert is sent: `{set}` \
                     (an https:// webhook URL, e.g. Slack's incoming webhook)"
                )),
                Some(_) => {
                    let effect = if *secret == names::var::ADMIN_TOKEN { " (the admin API answers 503 until it is)" } else { "" };
                    out.push(format!(
                        "{secret} is not set on {worker}: `{set}`{effect}, or run the deploy again with {secret}=<a strong value> \
                         in the environment (`{}` rule: {})",
                        "cargo xtask deploy",
                        code24_shared::secrets::RULE
                    ));
                }
                None => out.push(format!("could not list the secrets of {worker}: make sure {secret} is set: `{set}`")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
