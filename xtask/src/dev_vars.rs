//! The local stack's `.dev.vars`: the admin token every local run and test uses.

use std::fs;
use std::path::Path;

use crate::workers::WORKERS;
use crate::{cmd, Result};

/// The admin token written into a fresh `.dev.vars`: public, local only, and strong by the
/// rule the dispatcher enforces everywhere (`code24_shared::secrets`), which refuses to serve
/// with a weak one.
pub(crate) const DEV_ADMIN_TOKEN: &str = "local-Dev-Token-0f3c9a7e-not-a-secret";
const ADMIN_TOKEN_VAR: &str = code24_shared::names::var::ADMIN_TOKEN;

/// Writes `ADMIN_TOKEN=`[`DEV_ADMIN_TOKEN`] into the `.dev.vars` of every Worker that reads the
/// admin token, unless the file already sets a strong one (a weak one, such as an older
/// checkout's `dev-token`, is replaced: the dispatcher would refuse to serve with it), and
/// returns the entry Worker's token.
pub(crate) fn ensure(root: &Path) -> Result<String> {
    let mut entry_token = None;
    for worker in WORKERS.iter().filter(|w| w.admin_token) {
        let config_dir = Path::new(worker.config).parent().unwrap_or(Path::new(""));
        let path = root.join(config_dir).join(".dev.vars");
        let existing = fs::read_to_string(&path).unwrap_or_default();
        let token = match dev_var(&existing, ADMIN_TOKEN_VAR) {
            Some(token) if code24_shared::secrets::check(&token).is_ok() => token,
            found => {
                let mut text: String = if found.is_some() {
                    println!("stack: the {ADMIN_TOKEN_VAR} of {} is weak; replacing it", cmd::rel(root, &path));
                    existing
                        .lines()
                        .filter(|l| l.split_once('=').is_none_or(|(k, _)| k.trim() != ADMIN_TOKEN_VAR))
                        .map(|l| format!("{l}\n"))
                        .collect()
                } else {
                    existing
                };
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{ADMIN_TOKEN_VAR}={DEV_ADMIN_TOKEN}\n"));
                fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!("stack: wrote {ADMIN_TOKEN_VAR} to {}", cmd::rel(root, &path));
                DEV_ADMIN_TOKEN.to_string()
            }
        };
        if std::ptr::eq(worker, &WORKERS[0]) {
            entry_token = Some(token);
        }
    }
    entry_token.ok_or_else(|| format!("the entry Worker `{}` is not marked to read {ADMIN_TOKEN_VAR}", WORKERS[0].name))
}

/// The value of `name` in a dotenv-style file, without surrounding quotes.
fn dev_var(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_vars_are_read_like_dotenv() {
        let text = "# local\nOTHER=1\nADMIN_TOKEN = \"s3cret\"\n";
        assert_eq!(dev_var(text, "ADMIN_TOKEN").as_deref(), Some("s3cret"));
        assert_eq!(dev_var(text, "MISSING"), None);
    }

    #[test]
    fn the_entry_worker_reads_the_admin_token() {
        assert!(WORKERS[0].admin_token, "the dispatcher serves the admin API");
    }

    #[test]
    fn the_local_token_is_strong() {
        assert!(code24_shared::secrets::check(DEV_ADMIN_TOKEN).is_ok(), "the dispatcher refuses to serve with a weak one");
    }
}
