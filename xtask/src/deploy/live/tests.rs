//! The live deploy, offline: a fake `wrangler` (a shell script) records every call and
//! answers like an account where nothing exists yet, over a copy of the repository's tomls.

use std::os::unix::fs::PermissionsExt;
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
  "queues info "*|"r2 bucket info "*) exit 1 ;;
  "d1 create "*) touch "{root}/d1-created" ;;
  "d1 list --json") if [ -f "{root}/d1-created" ]; then echo '[{{"uuid":"{DB_ID}","name":"code24-platform-staging"}}]'; else echo '[]'; fi ;;
  "secret list "*) echo '[]' ;;
esac
exit 0
"#,
            root = root.display()
        );
        let fake = root.join("fake-wrangler");
        fs::write(&fake, script).unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
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
        "queues create code24-optimize-dlq-staging",
        "queues info code24-optimize-staging",
        "queues create code24-optimize-staging",
        "queues info code24-reports-dlq-staging",
        "queues create code24-reports-dlq-staging",
        "queues info code24-reports-staging",
        "queues create code24-reports-staging",
        "r2 bucket info code24-elite-workers-data-staging",
        "r2 bucket create code24-elite-workers-data-staging",
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
