//! What one deployed environment needs to exist before its Workers deploy, read from the
//! resolved configs themselves (not a second list): queues, R2 buckets, D1 databases. `cargo
//! xtask deploy` creates the missing ones. Analytics Engine datasets need no provisioning
//! (created on the first write); Durable Object classes are created by the ledger's deploy.

use std::collections::{BTreeMap, BTreeSet};

use code24_shared::names::{var, Environment};

use crate::wrangler::Target;
use crate::Configs;

/// The resources of one environment.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Every queue sent to, consumed, or used as a dead-letter queue.
    pub queues: BTreeSet<String>,
    /// The message retention of each consumed queue, in seconds: its consumer's
    /// `QUEUE_RETENTION_SECONDS` (wrangler.toml has no key for it; deploy applies it).
    pub retention_s: BTreeMap<String, u64>,
    pub buckets: BTreeSet<String>,
    /// How long each bucket keeps optimization results, in days: the
    /// `OPTIMIZATIONS_RETENTION_DAYS` of the Worker that writes them and binds the bucket
    /// (wrangler.toml has no key for a lifecycle rule; deploy applies it).
    pub optimizations_retention_days: BTreeMap<String, u64>,
    pub databases: Vec<Database>,
    /// Analytics Engine datasets (listed for the report; nothing to create).
    pub datasets: BTreeSet<String>,
}

/// One D1 database and every config that binds it.
#[derive(Debug, PartialEq, Eq)]
pub struct Database {
    pub name: String,
    /// The id the configs carry (the placeholder until `deploy` writes the real one).
    pub id: String,
    /// `(config path, binding)` of each Worker binding it; the first one applies migrations.
    pub bound_by: Vec<(String, String)>,
}

pub fn resources(configs: &Configs, env: Environment) -> Resources {
    let mut out = Resources::default();
    for (spec, r) in configs.resolved(env) {
        let read = |name: &str| r.vars.get(name).and_then(|v| v.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
        let retention = read(var::QUEUE_RETENTION_SECONDS);
        let results_days = read(var::OPTIMIZATIONS_RETENTION_DAYS);
        for c in &r.consumers {
            out.queues.insert(c.queue.clone());
            out.queues.extend(c.dead_letter_queue.clone());
            if let Some(seconds) = retention {
                out.retention_s.insert(c.queue.clone(), seconds);
            }
        }
        for binding in &r.bindings {
            match &binding.target {
                Target::Queue { queue } => {
                    out.queues.insert(queue.clone());
                }
                Target::R2 { bucket_name } => {
                    out.buckets.insert(bucket_name.clone());
                    if let Some(days) = results_days {
                        out.optimizations_retention_days.insert(bucket_name.clone(), days);
                    }
                }
                Target::Dataset { dataset } => {
                    out.datasets.insert(dataset.clone());
                }
                Target::D1 { database_name, database_id, .. } => {
                    let entry = (spec.config.to_owned(), binding.name.clone());
                    match out.databases.iter_mut().find(|d| d.name == *database_name) {
                        Some(db) => db.bound_by.push(entry),
                        None => {
                            out.databases.push(Database { name: database_name.clone(), id: database_id.clone(), bound_by: vec![entry] })
                        }
                    }
                }
                Target::DurableObject { .. } | Target::Service { .. } => {}
            }
        }
    }
    out
}
