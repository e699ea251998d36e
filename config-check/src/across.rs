//! The checks across the Workers of one environment: what one Worker's config names, another's
//! must provide. Every queue sent to has exactly one consumer there; every consumed queue is
//! sent to (or is a dead-letter queue); every dead-letter queue is consumed; Workers sharing a
//! D1 database agree on its id; every Durable Object `script_name` names a Worker of the same
//! environment that hosts the class.

use code24_shared::names::Environment;

use crate::workers::{Resource, WorkerSpec};
use crate::wrangler::{Resolved, Target};
use crate::Problem;

pub fn check_environment(env: Environment, workers: &[(&'static WorkerSpec, Resolved)]) -> Vec<Problem> {
    let mut out = Vec::new();
    let in_env = env.as_str();
    let consumers_of = |queue: &str| workers.iter().filter(|(_, r)| r.consumers.iter().any(|c| c.queue == queue)).count();
    let dead_letter_queues: Vec<&str> =
        workers.iter().flat_map(|(_, r)| r.consumers.iter().filter_map(|c| c.dead_letter_queue.as_deref())).collect();

    for (spec, r) in workers {
        for binding in &r.bindings {
            let subject = format!("binding {}", binding.name);
            match &binding.target {
                Target::Queue { queue } => match consumers_of(queue) {
                    1 => {}
                    0 => out.push(Problem::new(
                        spec,
                        Some(env),
                        subject,
                        format!("queue {queue:?} has no consumer in {in_env}: its messages would never be worked"),
                    )),
                    n => out.push(Problem::new(
                        spec,
                        Some(env),
                        subject,
                        format!("queue {queue:?} has {n} consumers in {in_env}; a queue has exactly one"),
                    )),
                },
                Target::D1 { database_name, database_id, .. } => {
                    for (other, other_r) in workers {
                        let differs = other_r.bindings.iter().find_map(|b| match &b.target {
                            Target::D1 { database_name: n, database_id: id, .. } if n == database_name && id != database_id => Some(id),
                            _ => None,
                        });
                        if let Some(other_id) = differs {
                            out.push(Problem::new(
                                spec,
                                Some(env),
                                subject.clone(),
                                format!("database_id {database_id:?} of {database_name:?} differs from {other_id:?} in {}: one database, one id", other.config),
                            ));
                        }
                    }
                }
                Target::DurableObject { class_name, script_name: Some(script) } => {
                    let hosted = workers.iter().any(|(host, host_r)| {
                        host_r.name == *script
                            && host.bindings.iter().any(|b| matches!(b.resource, Resource::OwnClass { class } if class == class_name))
                    });
                    if !hosted {
                        out.push(Problem::new(
                            spec,
                            Some(env),
                            subject,
                            format!("script_name {script:?}: no Worker of {in_env} by that name hosts {class_name}"),
                        ));
                    }
                }
                _ => {}
            }
        }
        for c in &r.consumers {
            let subject = format!("consumer of queue {}", c.queue);
            let sent_to = workers.iter().any(|(_, p)| p.bindings.iter().any(|b| b.target == Target::Queue { queue: c.queue.clone() }));
            if !sent_to && !dead_letter_queues.contains(&c.queue.as_str()) {
                out.push(Problem::new(
                    spec,
                    Some(env),
                    subject.clone(),
                    format!("no Worker of {in_env} sends to this queue, and it is no consumer's dead-letter queue"),
                ));
            }
            if let Some(dlq) = &c.dead_letter_queue {
                if consumers_of(dlq) == 0 {
                    out.push(Problem::new(
                        spec,
                        Some(env),
                        subject,
                        format!("dead-letter queue {dlq:?} has no consumer in {in_env}: dead letters would sit unread until the queue's retention deletes them"),
                    ));
                }
            }
        }
    }
    out
}
