//! The charts' geometry on small hand-checked inputs, and that labels are escaped.

use super::*;

fn plain(v: f64) -> String {
    format!("{v:.0}")
}

/// The `(class, y, height)` of every `<rect>`.
fn rects(svg: &str) -> Vec<(String, f64, f64)> {
    svg.split("<rect ")
        .skip(1)
        .map(|r| {
            let attr = |name: &str| r.split(&format!("{name}=\"")).nth(1).and_then(|v| v.split('"').next()).unwrap_or("").to_owned();
            (attr("class"), attr("y").parse().unwrap(), attr("height").parse().unwrap())
        })
        .collect()
}

#[test]
fn a_waterfall_starts_each_change_where_the_last_ended() {
    let steps = [
        Step::Total("Start".into(), 100.0),
        Step::Change("New".into(), 50.0),
        Step::Change("Churn".into(), -30.0),
        Step::Total("End".into(), 120.0),
    ];
    let svg = waterfall("MRR bridge", &steps, &plain);
    let r = rects(&svg);
    assert_eq!(r.iter().map(|(c, ..)| c.as_str()).collect::<Vec<_>>(), ["total", "up", "down", "total"]);
    // The scale runs 0..162 (150 + 8 %) over 190 px: 1 unit = 190 / 162 px.
    let px = (H - TOP - BOTTOM) / 162.0;
    assert!((r[0].2 - 100.0 * px).abs() < 0.2 && (r[1].2 - 50.0 * px).abs() < 0.2 && (r[2].2 - 30.0 * px).abs() < 0.2, "{r:?}");
    // New rises from the top of Start; Churn falls from the top of New; End is a total.
    assert!((r[1].1 + r[1].2 - r[0].1).abs() < 0.2, "{r:?}");
    assert!((r[2].1 - r[1].1).abs() < 0.2, "{r:?}");
    assert!(svg.starts_with("<svg") && svg.contains("<title>MRR bridge</title>") && svg.ends_with("</svg>"));
    assert!(!svg.contains("style="), "the CSP forbids style attributes");
}

#[test]
fn a_line_with_a_forecast_draws_a_dashed_tail_and_its_band() {
    let labels: Vec<String> = ["2026-01", "2026-02", "2026-03"].map(String::from).to_vec();
    let forecast = Forecast { values: vec![130.0], low: vec![120.0], high: vec![140.0] };
    let svg = line("MRR", &labels, &[Some(100.0), None, Some(120.0)], Some(&forecast), &plain);
    assert_eq!(svg.matches("<circle").count(), 2, "a gap has no dot");
    assert!(svg.contains("class=\"forecast\"") && svg.contains("class=\"band\""));
    // The band closes on the last actual point: 4 corners and back to the start.
    let band = svg.split("class=\"band\" points=\"").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(band.split(' ').count(), 4, "{band}");
    let bare = line("Churn", &labels, &[Some(1.0), Some(2.0), Some(3.0)], None, &plain);
    assert!(!bare.contains("band") && bare.matches("<circle").count() == 3);
}

#[test]
fn bars_grow_from_zero_and_escape_their_labels() {
    let svg = columns("Scores", &[("0-9".into(), 0.0), ("<b>".into(), 4.0)], &plain);
    let r = rects(&svg);
    assert_eq!(r.len(), 2);
    assert!(r[0].2 == 0.0 && r[1].2 > 100.0, "{r:?}");
    assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    let svg = rows("Improvers", &[("acme".into(), 12.5), ("dune".into(), -3.0)], &|v| format!("{v:+.1}"));
    assert!(svg.contains(">+12.5<") && svg.contains(">-3.0<") && svg.contains("class=\"down\""));
}
