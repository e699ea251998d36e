//! The configuration check (`code24-config-check`, also `cargo xtask check-config`) as ordinary
//! tests: it passes on the repository, and it fails, naming the Worker, the environment and the
//! binding, on deliberately broken copies of the tomls. A binding missing from one `[env.*]`
//! section would otherwise surface only at runtime, in that environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use code24_config_check::workers::WORKERS;
use code24_config_check::{check_configs, sources, Problem};
use code24_shared::names::Environment;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the repository").to_path_buf()
}

fn listing(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

#[test]
fn every_config_passes_in_every_environment() {
    let problems = check_configs(&repo());
    assert!(problems.is_empty(), "the configuration check failed:{}", listing(&problems));
}

#[test]
fn the_code_uses_exactly_the_bindings_of_the_table() {
    let problems = sources::check_sources(&repo());
    assert!(problems.is_empty(), "the binding table and the code disagree:{}", listing(&problems));
}

/// A copy of every Worker's toml in a fresh directory, with `edit` applied to one of them.
struct BrokenCopy {
    root: PathBuf,
}

impl BrokenCopy {
    fn new(config: &str, edit: impl Fn(&str) -> String) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!("code24-config-check-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
        for spec in WORKERS {
            let text = fs::read_to_string(repo().join(spec.config)).unwrap();
            let text = if spec.config == config {
                let edited = edit(&text);
                assert_ne!(edited, text, "the edit of {config} changed nothing: the test is stale");
                edited
            } else {
                text
            };
            let path = root.join(spec.config);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        Self { root }
    }

    /// Asserts the check fails with a problem about `subject` of `worker` in `env` whose
    /// message contains `fragment`, and returns every problem.
    #[track_caller]
    fn fails_with(&self, worker: &str, env: Environment, subject: &str, fragment: &str) -> Vec<Problem> {
        let problems = check_configs(&self.root);
        let hit =
            problems.iter().find(|p| p.worker == worker && p.env == Some(env) && p.subject == subject && p.message.contains(fragment));
        let Some(hit) = hit else {
            panic!("expected a problem of {worker} in {} about {subject} ({fragment:?}); got:{}", env.as_str(), listing(&problems));
        };
        // What an operator reads names all three.
        let shown = hit.to_string();
        for part in [worker, env.as_str(), subject] {
            assert!(shown.contains(part), "{shown:?} does not name {part:?}");
        }
        problems
    }
}

impl Drop for BrokenCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `text` with the array-of-tables entry `[[header]]` that contains `line` removed.
fn remove_entry(text: &str, header: &str, line: &str) -> String {
    edit_entry(text, header, line, |_| String::new())
}

/// `text` with `f` applied to the entry (header line to the next header) `[[header]]` or
/// `[header]` that contains `line`.
fn edit_entry(text: &str, header: &str, line: &str, f: impl Fn(&str) -> String) -> String {
    let mut blocks: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.starts_with('[') || blocks.is_empty() {
            blocks.push(String::new());
        }
        let block = blocks.last_mut().unwrap();
        block.push_str(l);
        block.push('\n');
    }
    let wanted = [format!("[[{header}]]"), format!("[{header}]")];
    blocks
        .into_iter()
        .map(|b| {
            let first = b.lines().next().unwrap_or_default().trim();
            if wanted.iter().any(|w| w == first) && b.lines().any(|l| l.trim() == line) {
                f(&b)
            } else {
                b
            }
        })
        .collect()
}

#[test]
fn a_binding_missing_from_production_is_named() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        remove_entry(t, "env.production.analytics_engine_datasets", r#"binding = "JOB_ANALYTICS""#)
    });
    let problems = copy.fails_with("code24-optimizer", Environment::Production, "binding JOB_ANALYTICS", "missing");
    // Only that section is broken.
    assert!(problems.iter().all(|p| p.env == Some(Environment::Production)), "{}", listing(&problems));
    let shown = problems[0].to_string();
    assert!(shown.contains("[[env.production.analytics_engine_datasets]]") && shown.contains("code24_jobs_production"), "{shown}");
}

#[test]
fn the_stand_in_is_refused_in_deployed_environments() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.staging.services", r#"binding = "ELITE_BRAND""#, |b| {
            b.replace("code24-elite-brand-staging", "code24-elite-standin")
        })
    });
    copy.fails_with("code24-optimizer", Environment::Staging, "binding ELITE_BRAND", "stand-in");

    let copy = BrokenCopy::new("wrangler.toml", |t| {
        format!("{t}\n[[env.dev.services]]\nbinding = \"ELITE_STANDIN\"\nservice = \"code24-elite-standin\"\n")
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Dev, "binding ELITE_STANDIN", "local only");

    let copy = BrokenCopy::new("elite-standin/wrangler.toml", |t| format!("{t}\n[env.production]\n"));
    let problems = check_configs(&copy.root);
    assert!(problems.iter().any(|p| p.worker == "code24-elite-standin" && p.subject == "[env.production]"), "{}", listing(&problems));
}

#[test]
fn a_durable_object_must_point_at_its_own_environments_ledger() {
    let copy = BrokenCopy::new("consumers/dead-letters/wrangler.toml", |t| {
        edit_entry(t, "env.staging.durable_objects.bindings", r#"name = "LEDGER""#, |b| {
            b.replace("code24-ledger-staging", "code24-ledger-production")
        })
    });
    copy.fails_with("code24-dead-letters", Environment::Staging, "binding LEDGER", "script_name = \"code24-ledger-production\"");
    copy.fails_with("code24-dead-letters", Environment::Staging, "binding LEDGER", "no Worker of staging by that name");
}

#[test]
fn crons_must_equal_the_schedule_table() {
    let copy = BrokenCopy::new("wrangler.toml", |t| {
        edit_entry(t, "env.dev.triggers", r#"crons = ["0 * * * *"]"#, |b| b.replace(r#"["0 * * * *"]"#, r#"["*/3 * * * *"]"#))
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Dev, "triggers.crons", "schedule table");

    // Triggers are inherited: a section without its own would run the local schedule.
    let copy = BrokenCopy::new("wrangler.toml", |t| remove_entry(t, "env.dev.triggers", r#"crons = ["0 * * * *"]"#));
    copy.fails_with("code24-platform-dispatcher", Environment::Dev, "triggers.crons", "schedule table");
}

#[test]
fn queue_producers_and_consumers_must_agree() {
    let copy = BrokenCopy::new("wrangler.toml", |t| {
        edit_entry(t, "env.staging.queues.producers", r#"binding = "OPTIMIZE_QUEUE""#, |b| {
            b.replace("code24-optimize-staging", "code24-optimize")
        })
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Staging, "binding OPTIMIZE_QUEUE", "expected \"code24-optimize-staging\"");
    copy.fails_with(
        "code24-optimizer",
        Environment::Staging,
        "consumer of queue code24-optimize-staging",
        "no Worker of staging sends to this queue",
    );

    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.production.queues.consumers", r#"queue = "code24-optimize-production""#, |b| {
            b.lines().filter(|l| !l.starts_with("dead_letter_queue")).map(|l| format!("{l}\n")).collect()
        })
    });
    copy.fails_with(
        "code24-optimizer",
        Environment::Production,
        "consumer of queue code24-optimize-production",
        "dead_letter_queue = None",
    );
}

#[test]
fn consumer_settings_are_explicit_and_attempts_stay_below_max_retries() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.staging.queues.consumers", r#"queue = "code24-optimize-staging""#, |b| {
            b.replace("max_retries = 100", "max_retries = 5").replace("max_batch_timeout = 5\n", "")
        })
    });
    copy.fails_with(
        "code24-optimizer",
        Environment::Staging,
        "consumer of queue code24-optimize-staging",
        "MAX_ATTEMPTS = 5 must stay below max_retries = 5",
    );
    copy.fails_with("code24-optimizer", Environment::Staging, "consumer of queue code24-optimize-staging", "max_batch_timeout is not set");
}

#[test]
fn vars_are_checked_with_the_workers_own_parsers() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.production.vars", r#"ENVIRONMENT = "production""#, |b| {
            b.replace(r#"ENVIRONMENT = "production""#, r#"ENVIRONMENT = "staging""#)
                .replace(r#"RETRY_MAX_SECONDS = "300""#, r#"RETRY_MAX_SECONDS = "1""#)
        })
    });
    copy.fails_with("code24-optimizer", Environment::Production, "var ENVIRONMENT", "expected \"production\"");
    copy.fails_with("code24-optimizer", Environment::Production, "var RETRY_MAX_SECONDS", "would refuse");

    let copy = BrokenCopy::new("ledger/wrangler.toml", |t| {
        edit_entry(t, "env.dev.vars", r#"ENVIRONMENT = "dev""#, |b| b.replace("\"360\"", "\"24\""))
    });
    copy.fails_with("code24-ledger", Environment::Dev, "var SWEEP_RETENTION_HOURS", "outside");

    // A malformed warning size would otherwise only be logged by the consumer at runtime.
    let copy = BrokenCopy::new("consumers/dead-letters/wrangler.toml", |t| {
        edit_entry(t, "env.staging.vars", r#"ENVIRONMENT = "staging""#, |b| format!("{b}DEAD_LETTER_WARN_ROWS = \"100k\"\n"))
    });
    copy.fails_with("code24-dead-letters", Environment::Staging, "var DEAD_LETTER_WARN_ROWS", "\"100k\" is not a whole number");

    let copy = BrokenCopy::new("wrangler.toml", |t| {
        edit_entry(t, "env.staging.vars", r#"ENVIRONMENT = "staging""#, |b| format!("{b}ADMIN_TOKEN = \"hunter2\"\n"))
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Staging, "var ADMIN_TOKEN", "wrangler secret put ADMIN_TOKEN --env staging");
}

#[test]
fn one_database_has_one_id_per_environment() {
    let copy = BrokenCopy::new("consumers/dead-letters/wrangler.toml", |t| {
        edit_entry(t, "env.production.d1_databases", r#"binding = "DB""#, |b| {
            b.replace("00000000-0000-0000-0000-000000000000", "11111111-1111-1111-1111-111111111111")
        })
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Production, "binding DB", "differs");
}

#[test]
fn an_unknown_binding_is_named() {
    let copy = BrokenCopy::new("consumers/dead-letters/wrangler.toml", |t| {
        edit_entry(t, "env.dev.r2_buckets", r#"binding = "RESULTS""#, |b| b.replace(r#"binding = "RESULTS""#, r#"binding = "RESULT""#))
    });
    copy.fails_with("code24-dead-letters", Environment::Dev, "binding RESULT", "not in this Worker's binding table");
    copy.fails_with("code24-dead-letters", Environment::Dev, "binding RESULTS", "missing");
}

#[test]
fn limits_a_deployed_environment_without_limits_is_refused() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| remove_entry(t, "env.production.limits", "cpu_ms = 30000"));
    copy.fails_with(
        "code24-optimizer",
        Environment::Production,
        "limits",
        "missing: set [env.production.limits] with subrequests and cpu_ms",
    );

    let copy = BrokenCopy::new("ledger/wrangler.toml", |t| {
        edit_entry(t, "env.staging.limits", "subrequests = 10000", |b| b.replace("subrequests = 10000\n", ""))
    });
    copy.fails_with("code24-ledger", Environment::Staging, "limits.subrequests", "missing");

    let copy = BrokenCopy::new("wrangler.toml", |t| edit_entry(t, "env.dev.limits", "cpu_ms = 30000", |b| b.replace("30000", "900000")));
    copy.fails_with("code24-platform-dispatcher", Environment::Dev, "limits.cpu_ms", "outside Cloudflare's bounds (1..=300000)");

    // The platform's default is not enough for the dispatcher's fan-out of 1,000,000 sites.
    let copy = BrokenCopy::new("wrangler.toml", |t| {
        edit_entry(t, "env.production.limits", "subrequests = 20000", |b| b.replace("20000", "10000"))
    });
    copy.fails_with(
        "code24-platform-dispatcher",
        Environment::Production,
        "limits.subrequests",
        "below the 20000 the fan-out is designed for",
    );
}

#[test]
fn limits_a_consumer_without_an_explicit_queue_retention_is_refused() {
    let copy = BrokenCopy::new("consumers/reports/wrangler.toml", |t| {
        edit_entry(t, "env.staging.vars", r#"ENVIRONMENT = "staging""#, |b| b.replace("QUEUE_RETENTION_SECONDS = \"1209600\"\n", ""))
    });
    copy.fails_with("code24-reports", Environment::Staging, "var QUEUE_RETENTION_SECONDS", "missing");

    let copy = BrokenCopy::new("consumers/dead-letters/wrangler.toml", |t| {
        edit_entry(t, "env.production.vars", r#"ENVIRONMENT = "production""#, |b| b.replace("\"1209600\"", "\"2000000\""))
    });
    copy.fails_with("code24-dead-letters", Environment::Production, "var QUEUE_RETENTION_SECONDS", "outside 60..=1209600");
}

#[test]
fn a_deployed_environment_without_a_retention_for_optimization_results_is_refused() {
    // The results bucket's lifecycle rule (deploy applies it) needs the optimizer's declared
    // retention in every environment.
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.production.vars", r#"ENVIRONMENT = "production""#, |b| b.replace("OPTIMIZATIONS_RETENTION_DAYS = \"30\"\n", ""))
    });
    copy.fails_with("code24-optimizer", Environment::Production, "var OPTIMIZATIONS_RETENTION_DAYS", "missing");

    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.staging.vars", r#"ENVIRONMENT = "staging""#, |b| {
            b.replace("OPTIMIZATIONS_RETENTION_DAYS = \"14\"", "OPTIMIZATIONS_RETENTION_DAYS = \"0\"")
        })
    });
    copy.fails_with("code24-optimizer", Environment::Staging, "var OPTIMIZATIONS_RETENTION_DAYS", "outside 1..=3650");
}

#[test]
fn limits_job_retention_shorter_than_queue_retention_is_refused() {
    let copy = BrokenCopy::new("ledger/wrangler.toml", |t| {
        edit_entry(t, "env.dev.vars", r#"ENVIRONMENT = "dev""#, |b| b.replace("\"360\"", "\"200\""))
    });
    copy.fails_with(
        "code24-ledger",
        Environment::Dev,
        "var SWEEP_RETENTION_HOURS",
        "job retention 200 h is shorter than the queue retention: code24-optimize-dev keeps messages 1209600 s",
    );
}

#[test]
fn limits_consumer_batches_stay_within_the_service_binding_budget() {
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.production.queues.consumers", r#"queue = "code24-optimize-production""#, |b| {
            b.replace("max_batch_size = 8", "max_batch_size = 9")
        })
    });
    copy.fails_with(
        "code24-optimizer",
        Environment::Production,
        "consumer of queue code24-optimize-production",
        "max_batch_size = 9 is too large: a job makes up to 3 service-binding calls",
    );

    // A reports batch is judged as if every job were a health check (six calls).
    let copy = BrokenCopy::new("consumers/reports/wrangler.toml", |t| {
        edit_entry(t, "env.dev.queues.consumers", r#"queue = "code24-reports-dev""#, |b| {
            b.replace("max_batch_size = 4", "max_batch_size = 5")
        })
    });
    copy.fails_with("code24-reports", Environment::Dev, "consumer of queue code24-reports-dev", "at most 4 jobs a batch");
}

#[test]
fn production_binds_the_seeds_bucket_exactly_and_others_keep_their_suffix() {
    // Production with the suffix every other resource has is refused: the seed names the bucket.
    let copy = BrokenCopy::new("consumers/optimizer/wrangler.toml", |t| {
        edit_entry(t, "env.production.r2_buckets", r#"binding = "RESULTS""#, |b| {
            b.replace(r#""code24-elite-workers-data""#, r#""code24-elite-workers-data-production""#)
        })
    });
    copy.fails_with("code24-optimizer", Environment::Production, "binding RESULTS", "code24-elite-workers-data");
    // Staging binding production's bucket is refused too.
    let copy = BrokenCopy::new("wrangler.toml", |t| {
        edit_entry(t, "env.staging.r2_buckets", r#"binding = "RESULTS""#, |b| {
            b.replace("code24-elite-workers-data-staging", "code24-elite-workers-data")
        })
    });
    copy.fails_with("code24-platform-dispatcher", Environment::Staging, "binding RESULTS", "code24-elite-workers-data-staging");
}
