//! Charts as inline SVG, drawn on the server: a waterfall (the MRR bridge), a line chart with
//! an optional forecast and its band (MRR over a year, churn, NRR), vertical bars (score
//! distributions) and horizontal bars (top improvers). Each is a function from plain numbers to
//! an `<svg>` string with a `<title>` and `aria-label`, so a page needs no script to show it and
//! prints as it shows. Colours come from classes in the stylesheet, never from `style`
//! attributes, which the Content-Security-Policy forbids; every label goes through [`esc`].

use std::fmt::Write as _;

use crate::html::esc;

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 34.0;

/// A value's vertical position: `min..max` onto the plot's height.
#[derive(Debug, Clone, Copy)]
struct Scale {
    min: f64,
    max: f64,
}

impl Scale {
    /// A scale from 0 (or below, for negative values) to a little above the largest value.
    fn covering(values: impl Iterator<Item = f64>) -> Self {
        let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let hi = if hi <= lo { lo + 1.0 } else { hi + (hi - lo) * 0.08 };
        Self { min: lo, max: hi }
    }

    fn y(self, v: f64) -> f64 {
        TOP + (H - TOP - BOTTOM) * (1.0 - (v - self.min) / (self.max - self.min))
    }
}

/// The frame of a chart: the `<svg>` with its accessible name, a baseline, and three labelled
/// gridlines on the value axis.
fn open(title: &str, class: &str, scale: Scale, fmt: &dyn Fn(f64) -> String) -> String {
    let mut out = format!(
        "<svg class=\"chart {class}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
    for i in 0..=3 {
        let v = scale.min + (scale.max - scale.min) * f64::from(i) / 3.0;
        let y = scale.y(v);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt(v))
        );
    }
    out
}

/// A label under the plot, centred on `x`; one at the right edge ends there instead of being cut.
fn x_label(out: &mut String, x: f64, label: &str) {
    let anchor = if x > W - RIGHT - 30.0 { "end" } else { "middle" };
    let _ = write!(out, "<text class=\"axis\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>", H - BOTTOM + 16.0, esc(label));
}

/// One step of a waterfall: a total (drawn from zero) or a change (drawn from the running sum).
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Total(String, f64),
    Change(String, f64),
}

/// A waterfall: totals from zero, each change from where the previous step ended (up or
/// down), each bar labelled with its value.
pub fn waterfall(title: &str, steps: &[Step], fmt: &dyn Fn(f64) -> String) -> String {
    let mut running = 0.0;
    let mut spans = Vec::new();
    for step in steps {
        match step {
            Step::Total(label, v) => {
                running = *v;
                spans.push((label.as_str(), 0.0, *v, "total", *v));
            }
            Step::Change(label, d) => {
                spans.push((label.as_str(), running, running + d, if *d < 0.0 { "down" } else { "up" }, *d));
                running += d;
            }
        }
    }
    let scale = Scale::covering(spans.iter().flat_map(|(_, a, b, ..)| [*a, *b]));
    let mut out = open(title, "waterfall", scale, fmt);
    let slot = (W - LEFT - RIGHT) / spans.len().max(1) as f64;
    for (i, (label, a, b, class, value)) in spans.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.15;
        let (top, bottom) = (scale.y(a.max(*b)), scale.y(a.min(*b)));
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            slot * 0.7,
            (bottom - top).max(1.0),
            esc(label),
            esc(&fmt(*value)),
            x + slot * 0.35,
            top - 4.0,
            esc(&fmt(*value))
        );
        x_label(&mut out, x + slot * 0.35, label);
    }
    out.push_str("</svg>");
    out
}

/// A band around the forecast: its low and high per forecast point.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub values: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

/// A line over `labels` (one value per label; `None` is a gap), optionally followed by a
/// dashed forecast from the last value, with its band shaded.
pub fn line(title: &str, labels: &[String], values: &[Option<f64>], forecast: Option<&Forecast>, fmt: &dyn Fn(f64) -> String) -> String {
    let extra = forecast.map_or(0, |f| f.values.len());
    let points = labels.len().max(1);
    let all = values.iter().flatten().copied().chain(forecast.into_iter().flat_map(|f| f.high.iter().chain(&f.values).copied()));
    let scale = Scale::covering(all);
    let mut out = open(title, "line", scale, fmt);
    let step = (W - LEFT - RIGHT) / (points + extra).max(2).saturating_sub(1) as f64;
    let x = |i: usize| LEFT + step * i as f64;
    if let Some(f) = forecast {
        let last = values.iter().rposition(Option::is_some);
        let start = last.map(|i| (x(i), values[i].unwrap_or(0.0)));
        let mut band = String::new();
        let highs = f.high.iter().enumerate().map(|(k, v)| (x(points + k), *v));
        let lows: Vec<(f64, f64)> = f.low.iter().enumerate().map(|(k, v)| (x(points + k), *v)).rev().collect();
        for (px, v) in start.into_iter().chain(highs).chain(lows).chain(start) {
            let _ = write!(band, "{px:.1},{:.1} ", scale.y(v));
        }
        let _ = write!(out, "<polygon class=\"band\" points=\"{}\"/>", band.trim_end());
        let mut dashed = String::new();
        for (px, v) in start.into_iter().chain(f.values.iter().enumerate().map(|(k, v)| (x(points + k), *v))) {
            let _ = write!(dashed, "{px:.1},{:.1} ", scale.y(v));
        }
        let _ = write!(out, "<polyline class=\"forecast\" points=\"{}\"/>", dashed.trim_end());
    }
    let mut path = String::new();
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let _ = write!(path, "{:.1},{:.1} ", x(i), scale.y(*v));
            let _ = write!(
                out,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
                x(i),
                scale.y(*v),
                esc(&labels[i]),
                esc(&fmt(*v))
            );
        }
    }
    let _ = write!(out, "<polyline class=\"actual\" points=\"{}\"/>", path.trim_end());
    let every = (points + extra).div_ceil(6).max(1);
    for (i, label) in labels.iter().enumerate().filter(|(i, _)| i % every == 0 || *i + 1 == points) {
        x_label(&mut out, x(i), label);
    }
    out.push_str("</svg>");
    out
}

/// Vertical bars, one per label (a distribution).
pub fn columns(title: &str, bars: &[(String, f64)], fmt: &dyn Fn(f64) -> String) -> String {
    let scale = Scale::covering(bars.iter().map(|(_, v)| *v));
    let mut out = open(title, "columns", scale, fmt);
    let slot = (W - LEFT - RIGHT) / bars.len().max(1) as f64;
    for (i, (label, v)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + slot * 0.1;
        let (top, zero) = (scale.y(*v), scale.y(0.0));
        let _ = write!(
            out,
            "<rect class=\"up\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}: {}</title></rect>",
            slot * 0.8,
            (zero - top).max(0.0),
            esc(label),
            esc(&fmt(*v))
        );
        x_label(&mut out, x + slot * 0.4, label);
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one row per label, gains right and losses left of a zero line.
pub fn rows(title: &str, bars: &[(String, f64)], fmt: &dyn Fn(f64) -> String) -> String {
    let row = 26.0;
    let height = TOP + row * bars.len().max(1) as f64 + 8.0;
    let (lo, hi) = bars.iter().fold((0.0_f64, 0.0_f64), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let span = if hi - lo <= 0.0 { 1.0 } else { hi - lo };
    let (left, width) = (170.0, W - 170.0 - 70.0);
    let x = |v: f64| left + width * (v - lo) / span;
    let mut out = format!(
        "<svg class=\"chart rows\" viewBox=\"0 0 {W} {height}\" role=\"img\" aria-label=\"{t}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{t}</title>",
        t = esc(title)
    );
    let _ = write!(out, "<line class=\"grid\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{1:.1}\"/>", x(0.0), height - 8.0);
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = TOP + row * i as f64;
        let (a, b) = (x(0.0_f64.min(*v)), x(0.0_f64.max(*v)));
        let class = if *v < 0.0 { "down" } else { "up" };
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect class=\"{class}\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 8.0,
            y + 16.0,
            esc(label),
            y + 4.0,
            (b - a).max(1.0),
            row - 8.0,
            b + 4.0,
            y + 16.0,
            esc(&fmt(*v))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests;
