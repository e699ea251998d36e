//! The Workers' secrets at deploy time: no weak `ADMIN_TOKEN` or `SESSION_SECRET` goes out.
//!
//! A secret given in the deploying shell's environment (`ADMIN_TOKEN=... cargo xtask deploy
//! --env X`) is checked against the core's rule (`code24_shared::secrets`) before anything
//! changes: a weak one refuses the whole deploy, and the refusal offers a strong value
//! generated on the spot from the system's random source. A strong one is set with `wrangler
//! secret put` (value on stdin, never on a command line) after the Workers are deployed. A
//! secret not given is left as the account has it; the summary names every one still unset,
//! and the dispatcher itself refuses to serve with a weak one (503).

use std::io::Read;

use code24_config_check::workers as table;
use code24_shared::names::Environment;
use code24_shared::secrets::{self, RULE};

use super::Wrangler;
use crate::Result;

/// Secret values given to this deploy, by name.
#[derive(Debug, Default)]
pub(crate) struct Given {
    pub(crate) values: Vec<(&'static str, String)>,
}

impl Given {
    /// The deployed Workers' secrets found in this process's environment.
    pub(crate) fn from_process() -> Self {
        let mut values = Vec::new();
        for name in table::deployed().flat_map(|spec| spec.secrets.iter().copied()) {
            if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
                if !values.iter().any(|(n, _)| *n == name) {
                    values.push((name, value));
                }
            }
        }
        Self { values }
    }
}

/// Refuses the deploy, before any change, when a given secret is weak.
pub(crate) fn refuse_weak(given: &Given) -> Result<()> {
    for (name, value) in &given.values {
        if *name == code24_shared::names::var::ALERT_WEBHOOK_URL {
            secrets::check_webhook_url(value).map_err(|e| format!("{name} is refused ({e}), so nothing was changed"))?;
            continue;
        }
        if let Err(weakness) = secrets::check(value) {
            let fresh = generate()?;
            return Err(format!(
                "{name} is weak ({}), so nothing was changed: it needs {RULE}.\n  \
                 A strong one, generated now: {name}={fresh}\n  \
                 Use it (`export {name}=...`) and run this again: the deploy sets it with `wrangler secret put`.",
                weakness.message()
            ));
        }
    }
    Ok(())
}

/// A strong secret from the system's random source.
pub(crate) fn generate() -> Result<String> {
    let mut file = std::fs::File::open("/dev/urandom").map_err(|e| format!("cannot open /dev/urandom: {e}"))?;
    loop {
        let mut bytes = [0u8; 64];
        file.read_exact(&mut bytes).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
        if let Some(fresh) = secrets::generate(&bytes) {
            return Ok(fresh);
        }
    }
}

/// Sets every given secret on each deployed Worker that reads it; returns what was done.
pub(crate) fn put(wrangler: &Wrangler, env: Environment, given: &Given) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for spec in table::deployed() {
        for (name, value) in given.values.iter().filter(|(n, _)| spec.secrets.contains(n)) {
            let args = ["secret", "put", name, "--env", env.as_str(), "-c", spec.config];
            wrangler.run_with_input(&args, value, &format!("setting {name} on {}", spec.name))?;
            done.push(format!("secret {name} set on {} ({})", spec.name, spec.config));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weak_given_secret_is_refused_with_a_strong_one_offered() {
        let given = Given { values: vec![("ADMIN_TOKEN", "dev-token".into())] };
        let err = refuse_weak(&given).unwrap_err();
        assert!(err.contains("ADMIN_TOKEN is weak (only 9 characters)") && err.contains("nothing was changed"), "{err}");
        let offered = err.split("ADMIN_TOKEN=").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap();
        assert!(secrets::check(offered).is_ok(), "{offered}");
        assert!(!err.contains("dev-token"), "the weak value itself is never echoed");
        assert!(refuse_weak(&Given { values: vec![("SESSION_SECRET", generate().unwrap())] }).is_ok());
        assert_ne!(generate().unwrap(), generate().unwrap());
    }
}
