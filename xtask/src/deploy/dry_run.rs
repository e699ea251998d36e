//! `deploy --dry-run`: `wrangler deploy --dry-run --env X --outdir DIR` for every deployed
//! Worker, offline. wrangler bundles each Worker and validates its configuration for that
//! environment without contacting Cloudflare; this then measures each bundle the way wrangler
//! and Cloudflare do (the upload's modules, gzipped together) against the Workers size limits.
//!
//! Bundles and wrangler's full output land in `target/deploy-dry-run/<env>/`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use code24_config_check::workers as table;
use code24_shared::names::{self, Environment};
use flate2::write::GzEncoder;
use flate2::Compression;

use super::{build_target, output_tail, Wrangler};
use crate::setup::Tools;
use crate::{cmd, Result};

const MIB: u64 = 1024 * 1024;
/// Cloudflare's limit on a Worker's gzipped upload on the Workers Free plan (wrangler warns
/// against the same number).
pub(crate) const FREE_PLAN_GZIP: u64 = 3 * MIB;
/// The same limit on the Workers Paid plan.
pub(crate) const PAID_PLAN_GZIP: u64 = 10 * MIB;
/// Cloudflare's limit on the uncompressed upload, on either plan.
pub(crate) const RAW_LIMIT: u64 = 64 * MIB;

/// Where the dry runs of `env` write their bundles and logs.
pub(crate) fn out_dir(root: &Path, env: Environment) -> PathBuf {
    root.join("target/deploy-dry-run").join(env.as_str())
}

/// One measured bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    /// The Worker's deployed name.
    pub(crate) worker: String,
    /// Bytes uploaded: the entry module and every other module (the wasm), no source maps.
    pub(crate) raw: u64,
    /// The same bytes gzipped together, as wrangler reports and Cloudflare limits them.
    pub(crate) gzip: u64,
}

impl Bundle {
    /// Which plan's limit the bundle fits, or why it fits none.
    pub(crate) fn verdict(&self) -> std::result::Result<&'static str, String> {
        if self.raw > RAW_LIMIT {
            Err(format!("{} uncompressed is over Cloudflare's {} limit", cmd::bytes(self.raw), cmd::bytes(RAW_LIMIT)))
        } else if self.gzip > PAID_PLAN_GZIP {
            Err(format!("{} gzipped is over the paid plan's {} limit", cmd::bytes(self.gzip), cmd::bytes(PAID_PLAN_GZIP)))
        } else if self.gzip > FREE_PLAN_GZIP {
            Ok("over the free plan's 3 MiB: needs the Workers Paid plan (10 MiB)")
        } else {
            Ok("fits the free plan's 3 MiB (and the paid plan's 10 MiB)")
        }
    }
}

/// Dry-runs every deployed Worker of `env` from the bundles already built, then prints the
/// size report. Fails when wrangler refuses a config or a bundle fits no plan.
pub(crate) fn run(root: &Path, tools: &Tools, env: Environment) -> Result<()> {
    let wrangler = Wrangler::new(&tools.wrangler, root);
    let base = out_dir(root, env);
    let mut bundles = Vec::new();
    for spec in table::deployed() {
        let worker = build_target(spec)?;
        let outdir = base.join(worker.name);
        if outdir.exists() {
            fs::remove_dir_all(&outdir).map_err(|e| format!("cannot clear {}: {e}", outdir.display()))?;
        }
        let outdir_arg = outdir.to_string_lossy().into_owned();
        let args = ["deploy", "--dry-run", "--env", env.as_str(), "-c", spec.config, "--outdir", &outdir_arg];
        println!("  $ wrangler {}", args.join(" "));
        let output = wrangler.output(&args)?;
        let log = base.join(format!("{}.log", worker.name));
        let mut text = output.stdout.clone();
        text.extend_from_slice(&output.stderr);
        fs::create_dir_all(&base).and_then(|()| fs::write(&log, &text)).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
        if !output.status.success() {
            return Err(format!(
                "wrangler refused {} for {} ({}); full output in {}:\n{}",
                spec.config,
                env.as_str(),
                output.status,
                cmd::rel(root, &log),
                output_tail(&output, 30)
            ));
        }
        let bundle = measure(&outdir, names::in_env(spec.name, env))?;
        let reported = String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("Total Upload:").map(|r| r.trim().to_owned()))
            .unwrap_or_else(|| "no size line".into());
        println!("  {}: bundled and validated; wrangler reports {reported}", bundle.worker);
        bundles.push(bundle);
    }
    report(root, env, &bundles)
}

fn report(root: &Path, env: Environment, bundles: &[Bundle]) -> Result<()> {
    println!(
        "\ndeploy --dry-run --env {}: {} Workers bundled and validated offline, in deploy order (bundles and logs in {})",
        env.as_str(),
        bundles.len(),
        cmd::rel(root, &out_dir(root, env))
    );
    println!("  {:<38} {:>10} {:>10}  size limit (gzip)", "Worker", "raw", "gzip");
    let mut failures = Vec::new();
    for b in bundles {
        let verdict = b.verdict();
        let shown = match &verdict {
            Ok(fits) => (*fits).to_owned(),
            Err(why) => format!("FAIL: {why}"),
        };
        println!("  {:<38} {:>10} {:>10}  {shown}", b.worker, cmd::bytes(b.raw), cmd::bytes(b.gzip));
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", b.worker));
        }
    }
    println!("  Limits: gzipped upload 3 MiB on the Workers Free plan, 10 MiB on Workers Paid; 64 MiB uncompressed.");
    println!("  gzip: the uploaded modules as one gzip stream, as Cloudflare limits them (wrangler's zlib figure above differs slightly).");
    println!("  These are the bundles `deploy` uploads, built with `worker-build --no-opt`: wasm-opt would only shrink them.");
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("bundles over Cloudflare's limits: {}", failures.join("; ")))
    }
}

/// Sizes the upload in `outdir` as wrangler does: every module but the entry (`index.js`),
/// then the entry, gzipped as one stream. wrangler's README and source maps are not uploaded.
fn measure(outdir: &Path, worker: String) -> Result<Bundle> {
    let mut files: Vec<PathBuf> = fs::read_dir(outdir)
        .map_err(|e| format!("wrangler wrote no bundle to {}: {e}", outdir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name != "README.md" && !name.ends_with(".map")
        })
        .collect();
    files.sort_by_key(|p| (p.file_name().is_some_and(|n| n == "index.js"), p.clone()));
    if !files.iter().any(|p| p.file_name().is_some_and(|n| n == "index.js")) {
        return Err(format!("no index.js in {}", outdir.display()));
    }
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let mut raw = 0;
    for file in &files {
        let bytes = fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        raw += bytes.len() as u64;
        gz.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    let gzip = gz.finish().map_err(|e| e.to_string())?.len() as u64;
    Ok(Bundle { worker, raw, gzip })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(raw: u64, gzip: u64) -> Bundle {
        Bundle { worker: "w".into(), raw, gzip }
    }

    #[test]
    fn verdicts_name_the_plan() {
        assert!(bundle(MIB, MIB / 3).verdict().unwrap().contains("free plan"));
        assert!(bundle(20 * MIB, 4 * MIB).verdict().unwrap().contains("needs the Workers Paid plan"));
        assert!(bundle(30 * MIB, 11 * MIB).verdict().unwrap_err().contains("paid plan's 10.0 MiB"));
        assert!(bundle(65 * MIB, MIB).verdict().unwrap_err().contains("uncompressed"));
    }

    #[test]
    fn a_bundle_is_measured_without_readme_or_source_maps() {
        let dir = std::env::temp_dir().join(format!("code24-measure-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("index.js"), "x".repeat(1000)).unwrap();
        fs::write(dir.join("abc-index_bg.wasm"), vec![0u8; 3000]).unwrap();
        fs::write(dir.join("index.js.map"), "y".repeat(5000)).unwrap();
        fs::write(dir.join("README.md"), "z".repeat(5000)).unwrap();
        let b = measure(&dir, "w".into()).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(b.raw, 4000);
        assert!(b.gzip > 0 && b.gzip < 200, "{}", b.gzip);
    }
}
