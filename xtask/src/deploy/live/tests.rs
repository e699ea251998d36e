//! The live deploy, offline: a fake `wrangler` (a shell script) records every call and
//! answers like an account where nothing exists yet, over a copy of the repository's tomls.

use std::path::PathBuf;

use super::*;

const DB_ID: &str = "5f0e2a9c-1111-4222-8333-944455556666";

/// A temporary repository copy and a fake wrangler whose calls land in `calls.log`.
struct Sandbox {
    root: PathBuf,
}

impl Sandbox {
    fn new(name: &str, logged_in: bool) -> Self {
        let root = std::env::temp_dir().join(format!("code24-deploy-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let repo = crate::workspace_root();
        for spec in table::WORKERS {
            let path = root.join(spec.config);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::copy(repo.join(spec.config), path).unwrap();
        }
        let whoami = if logged_in { r#"echo '{"loggedIn":true}'"# } else { r#"echo '{"loggedIn":false}'; exit 1"# };
        // Nothing exists until created; `d1 list` shows the database once `d1 create` ran.
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> "{root}/calls.log"
case "$*" in
  "whoami --json") {whoami} ;;
  "queues info "*) if [ -f "{root}/queues-exist" ]; then exit 0; else exit 1; fi ;;
  "r2 bucket info "*) exit 1 ;;
  "r2 bucket lifecycle list "*) if [ -f "{root}/rules" ]; then cat "{root}/rules"; else echo "There are no lifecycle rules."; fi ;;
  "d1 create "*) touch "{root}/d1-created" ;;
  "d1 list --json") if [ -f "{root}/d1-created" ]; then echo '[{{"uuid":"{DB_ID}","name":"code24-platform-staging"}}]'; else echo '[]'; fi ;;
  "secret list "*) echo '[]' ;;
esac
exit 0
"#,
            root = root.display()
        );
        // Written beside, then put in place by another process: a file this process held open
        // for writing while a parallel test forked could not be executed ("Text file busy").
        let (draft, fake) = (root.join("fake-wrangler.draft"), root.join("fake-wrangler"));
        fs::write(&draft, script).unwrap();
        let installed = std::process::Command::new("install").arg("-m").arg("755").arg(&draft).arg(&fake).status().unwrap();
        assert!(installed.success(), "install {} failed", fake.display());
        Self { root }
    }

    fn wrangler(&self) -> Wrangler {
        Wrangler::new(&self.root.join("fake-wrangler"), &self.root)
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.root.join("calls.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

#[test]
fn a_first_deploy_provisions_everything_then_deploys_in_order() {
    let sandbox = Sandbox::new("first", true);
    let mut built = false;
    run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &Given::default(), || {
        built = true;
        Ok(())
    })
    .unwrap();
    assert!(built);
    let expected = [
        "whoami --json",
        "deployments list --name code24-elite-brand-staging --json",
        "deployments list --name code24-elite-designer-staging --json",
        "deployments list --name code24-elite-developer-staging --json",
        "queues info code24-optimize-dlq-staging",
        "queues create code24-optimize-dlq-staging --message-retention-period-secs 1209600",
        "queues info code24-optimize-staging",
        "queues create code24-optimize-staging --message-retention-period-secs 1209600",
        "queues info code24-reports-dlq-staging",
        "queues create code24-reports-dlq-staging --message-retention-period-secs 1209600",
        "queues info code24-reports-staging",
        "queues create code24-reports-staging --message-retention-period-secs 1209600",
        "r2 bucket info code24-elite-workers-data-staging",
        "r2 bucket create code24-elite-workers-data-staging",
        "r2 bucket lifecycle list code24-elite-workers-data-staging",
        "r2 bucket lifecycle add code24-elite-workers-data-staging code24-optimizations-expiry optimizations/ --expire-days 14 --force",
        "d1 list --json",
        "d1 create code24-platform-staging",
        "d1 list --json",
        "d1 migrations apply DB --remote --env staging -c ledger/wrangler.toml",
        "deploy --env staging -c ledger/wrangler.toml",
        "deploy --env staging -c consumers/dead-letters/wrangler.toml",
        "deploy --env staging -c consumers/optimizer/wrangler.toml",
        "deploy --env staging -c consumers/reports/wrangler.toml",
        "deploy --env staging -c wrangler.toml",
        "secret list --env staging -c wrangler.toml --format json",
    ];
    assert_eq!(sandbox.calls(), expected);

    // The new database's id is in every config that binds it, in staging only, and the
    // configs still pass the check.
    for config in ["ledger/wrangler.toml", "wrangler.toml", "consumers/dead-letters/wrangler.toml", "consumers/reports/wrangler.toml"] {
        let text = fs::read_to_string(sandbox.root.join(config)).unwrap();
        assert_eq!(text.matches(DB_ID).count(), 1, "{config}");
        assert_eq!(text.matches(PLACEHOLDER_DATABASE_ID).count(), 3, "{config}: local, dev and production keep theirs");
    }
    let problems = code24_config_check::check_configs(&sandbox.root);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn existing_queues_get_their_declared_retention_applied() {
    let sandbox = Sandbox::new("queues-exist", true);
    fs::write(sandbox.root.join("queues-exist"), "").unwrap();
    run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &Given::default(), || Ok(())).unwrap();
    let configs = Configs::load(&sandbox.root).unwrap();
    let needs = resources(&configs, Environment::Staging);
    let updates: Vec<String> = sandbox.calls().into_iter().filter(|c| c.starts_with("queues update ")).collect();
    let expected: Vec<String> =
        needs.queues.iter().map(|q| format!("queues update {q} --message-retention-period-secs {}", needs.retention_s[q])).collect();
    assert_eq!(updates, expected);
    assert_eq!(expected.len(), 4, "two queues and their dead-letter queues");
    assert!(!sandbox.calls().iter().any(|c| c.starts_with("queues create ")), "{:?}", sandbox.calls());
}

#[test]
fn the_lifecycle_rule_is_left_alone_when_it_matches_and_replaced_when_it_does_not() {
    let rule = |days: u64| {
        format!("name:    code24-optimizations-expiry\nenabled: Yes\nprefix:  optimizations/\naction:  Expire objects after {days} days\n")
    };
    let lifecycle_calls =
        |sandbox: &Sandbox| -> Vec<String> { sandbox.calls().into_iter().filter(|c| c.contains(" lifecycle ")).collect() };

    let sandbox = Sandbox::new("rule-matches", true);
    fs::write(sandbox.root.join("rules"), rule(14)).unwrap();
    run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &Given::default(), || Ok(())).unwrap();
    assert_eq!(
        lifecycle_calls(&sandbox),
        ["r2 bucket lifecycle list code24-elite-workers-data-staging"],
        "staging keeps 14 days: nothing to do"
    );

    let sandbox = Sandbox::new("rule-differs", true);
    fs::write(sandbox.root.join("rules"), rule(90)).unwrap();
    run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &Given::default(), || Ok(())).unwrap();
    assert_eq!(
        lifecycle_calls(&sandbox),
        [
            "r2 bucket lifecycle list code24-elite-workers-data-staging",
            "r2 bucket lifecycle remove code24-elite-workers-data-staging --name code24-optimizations-expiry",
            "r2 bucket lifecycle add code24-elite-workers-data-staging code24-optimizations-expiry optimizations/ --expire-days 14 --force",
        ]
    );
}

#[test]
fn nothing_happens_without_a_login() {
    let sandbox = Sandbox::new("logged-out", false);
    let err = run(&sandbox.root, &sandbox.wrangler(), Environment::Production, &Given::default(), || panic!("must not build")).unwrap_err();
    assert!(err.contains("npx wrangler login") && err.contains("nothing was changed"), "{err}");
    assert_eq!(sandbox.calls(), ["whoami --json"]);
}

#[test]
fn a_database_id_that_disagrees_with_the_account_is_refused() {
    let sandbox = Sandbox::new("wrong-id", true);
    fs::write(sandbox.root.join("d1-created"), "").unwrap();
    for config in ["ledger/wrangler.toml", "wrangler.toml", "consumers/dead-letters/wrangler.toml", "consumers/reports/wrangler.toml"] {
        let path = sandbox.root.join(config);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, database_id::set(&text, Environment::Staging, "DB", "99999999-0000-0000-0000-000000000000").unwrap()).unwrap();
    }
    let err = run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &Given::default(), || Ok(())).unwrap_err();
    assert!(err.contains("99999999-0000-0000-0000-000000000000") && err.contains(DB_ID), "{err}");
    assert!(!sandbox.calls().iter().any(|c| c.starts_with("deploy ")), "{:?}", sandbox.calls());
}

#[test]
fn a_weak_admin_token_is_refused_before_anything_happens() {
    let sandbox = Sandbox::new("weak-token", true);
    let given = Given { values: vec![("ADMIN_TOKEN", "dev-token".into())] };
    let err = run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &given, || panic!("must not build")).unwrap_err();
    assert!(err.contains("ADMIN_TOKEN is weak") && err.contains("nothing was changed") && err.contains("generated now"), "{err}");
    assert!(sandbox.calls().is_empty(), "not even a login check: {:?}", sandbox.calls());
}

#[test]
fn a_strong_given_secret_is_set_after_the_deploys() {
    let sandbox = Sandbox::new("strong-token", true);
    let strong = super::secrets::generate().unwrap();
    let given = Given { values: vec![("SESSION_SECRET", strong)] };
    run(&sandbox.root, &sandbox.wrangler(), Environment::Staging, &given, || Ok(())).unwrap();
    let calls = sandbox.calls();
    let put = calls.iter().position(|c| c == "secret put SESSION_SECRET --env staging -c wrangler.toml").expect("the secret is put");
    let last_deploy = calls.iter().rposition(|c| c.starts_with("deploy ")).unwrap();
    assert!(put > last_deploy, "{calls:?}");
    assert!(calls.iter().all(|c| !c.contains(&given.values[0].1)), "the value never appears on a command line");
}

#[test]
fn d1_list_output_is_read() {
    let out = "[\n  {\"uuid\": \"u1\", \"name\": \"a\"},\n  {\"uuid\": \"u2\", \"name\": \"code24-platform-dev\"}\n]";
    assert_eq!(database_in_list(out, "code24-platform-dev").unwrap().as_deref(), Some("u2"));
    assert_eq!(database_in_list(out, "nope").unwrap(), None);
    assert!(database_in_list("not json", "a").is_err());
}
