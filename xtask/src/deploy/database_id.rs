//! Writes a D1 database's real id into a toml, in place of the placeholder: the one edit
//! `deploy` makes to the configs. A line edit inside the right `[[env.NAME.d1_databases]]`
//! entry keeps every comment and the layout, so the change is a one-line diff to commit.

use code24_shared::names::Environment;

use crate::Result;

/// `text` with the `database_id` of the `[[env.<env>.d1_databases]]` entry whose binding is
/// `binding` set to `id`.
pub(crate) fn set(text: &str, env: Environment, binding: &str, id: &str) -> Result<String> {
    let header = format!("[[env.{}.d1_databases]]", env.as_str());
    let binding_line = format!("binding = \"{binding}\"");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Entries: (first line, end) of each block that starts at a header line.
    let starts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim_start().starts_with('[')).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let block = &lines[start..end];
        if block[0].trim() != header || !block.iter().any(|l| l.trim() == binding_line) {
            continue;
        }
        let Some(offset) = block.iter().position(|l| l.trim_start().starts_with("database_id")) else {
            return Err(format!("{header} with {binding_line} has no database_id line to fill"));
        };
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        let old = &lines[start + offset];
        let newline = if old.ends_with('\n') { "\n" } else { "" };
        let indent = &old[..old.len() - old.trim_start().len()];
        out[start + offset] = format!("{indent}database_id = \"{id}\"{newline}");
        return Ok(out.concat());
    }
    Err(format!("no {header} entry with {binding_line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "name = \"w\"\n\n[[d1_databases]]\nbinding = \"DB\"\ndatabase_id = \"00000000-0000-0000-0000-000000000000\"\n\n\
        [[env.staging.d1_databases]]\nbinding = \"DB\"\n# Placeholder.\ndatabase_id = \"00000000-0000-0000-0000-000000000000\"\nmigrations_dir = \"m\"\n\n\
        [[env.production.d1_databases]]\nbinding = \"DB\"\ndatabase_id = \"00000000-0000-0000-0000-000000000000\"\n";

    #[test]
    fn only_the_environments_entry_changes() {
        let out = set(TOML, Environment::Staging, "DB", "abc").unwrap();
        let changed: Vec<(&str, &str)> = TOML.lines().zip(out.lines()).filter(|(a, b)| a != b).collect();
        assert_eq!(changed, [("database_id = \"00000000-0000-0000-0000-000000000000\"", "database_id = \"abc\"")]);
        assert!(out.contains("[[env.staging.d1_databases]]\nbinding = \"DB\"\n# Placeholder.\ndatabase_id = \"abc\"\n"));
        assert_eq!(out.lines().count(), TOML.lines().count());
    }

    #[test]
    fn a_missing_entry_is_an_error() {
        assert!(set(TOML, Environment::Dev, "DB", "abc").unwrap_err().contains("[[env.dev.d1_databases]]"));
        assert!(set(TOML, Environment::Staging, "OTHER", "abc").is_err());
    }
}
