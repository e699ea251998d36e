//! Figure 5: the size of every Worker's bundle (`build/index.js` + `build/index_bg.wasm` as
//! worker-build writes them), raw and gzipped, each file and together.

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;

use super::stats::emit;
use super::{Figure, Verdict};
use crate::workers::WORKERS;
use crate::Result;

/// The target for each Worker, gzipped.
const TARGET_GZIP: u64 = 512 * 1024;

fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).map_err(|e| e.to_string())?;
    Ok(encoder.finish().map_err(|e| e.to_string())?.len() as u64)
}

/// Measures the bundles already built and returns one figure per Worker.
pub(crate) fn measure(root: &Path) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for worker in WORKERS {
        let dir = root.join(worker.crate_dir).join("build");
        let read = |f: &str| fs::read(dir.join(f)).map_err(|e| format!("{}/build/{f}: {e} (build first)", worker.crate_dir));
        let (js, wasm) = (read("index.js")?, read("index_bg.wasm")?);
        let together = [js.as_slice(), wasm.as_slice()].concat();
        let (js_gz, wasm_gz, total_gz) = (gzip_len(&js)?, gzip_len(&wasm)?, gzip_len(&together)?);
        let total = together.len() as u64;
        emit(
            "bundle",
            json!({
                "worker": worker.name, "js_bytes": js.len(), "js_gzip_bytes": js_gz,
                "wasm_bytes": wasm.len(), "wasm_gzip_bytes": wasm_gz,
                "total_bytes": total, "total_gzip_bytes": total_gz, "target_gzip_bytes": TARGET_GZIP,
            }),
        );
        figures.push(Figure {
            figure: format!("5. bundle `{}` (wasm + JS)", worker.name),
            value: format!(
                "{} raw, **{} gzipped** (wasm {} / {} gz, JS {} / {} gz)",
                kib(total),
                kib(total_gz),
                kib(wasm.len() as u64),
                kib(wasm_gz),
                kib(js.len() as u64),
                kib(js_gz)
            ),
            target: "≤ 512 KiB gzipped".into(),
            verdict: Verdict::of(total_gz <= TARGET_GZIP),
        });
    }
    Ok(figures)
}

pub(crate) fn kib(n: u64) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}
