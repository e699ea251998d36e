//! Samples, their median and spread, and the JSON lines the bench prints.

use serde_json::{json, Value};

/// Timings of one side of one figure, in milliseconds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    pub(crate) ms: Vec<f64>,
}

impl Samples {
    pub(crate) fn push(&mut self, ms: f64) {
        self.ms.push(ms);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub(crate) fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if !n.is_multiple_of(2) => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub(crate) fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub(crate) fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// The median, min, max and run count as JSON fields.
    pub(crate) fn fields(&self) -> Value {
        json!({
            "median_ms": round(self.median()),
            "min_ms": round(self.min()),
            "max_ms": round(self.max()),
            "runs": self.ms.len(),
        })
    }
}

/// Ratios of paired samples (run i of side a over run i of side b): their median and spread.
/// Pairing keeps each ratio within one moment of the machine's load.
pub(crate) fn paired_ratios(a: &Samples, b: &Samples) -> Samples {
    Samples { ms: a.ms.iter().zip(&b.ms).map(|(x, y)| x / y).collect() }
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Prints one figure as one JSON line: `{"bench": name, ...fields}`.
pub(crate) fn emit(bench: &str, mut fields: Value) -> Value {
    let mut line = json!({ "bench": bench });
    if let (Some(out), Some(more)) = (line.as_object_mut(), fields.as_object_mut()) {
        out.append(more);
    }
    println!("{line}");
    line
}

/// `a` with the fields of `b` added.
pub(crate) fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(out), Value::Object(more)) = (a.as_object_mut(), b) {
        out.extend(more);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], median: f64, min: f64, max: f64) {
        let s = Samples { ms: values.to_vec() };
        assert_eq!((s.median(), s.min(), s.max()), (median, min, max), "{values:?}");
    }

    #[test]
    fn medians_and_spreads() {
        check(&[3.0], 3.0, 3.0, 3.0);
        check(&[5.0, 1.0, 3.0], 3.0, 1.0, 5.0);
        check(&[4.0, 1.0, 2.0, 3.0], 2.5, 1.0, 4.0);
        assert!(Samples::default().median().is_nan());
    }

    #[test]
    fn ratios_pair_runs_in_order() {
        let a = Samples { ms: vec![2.0, 9.0] };
        let b = Samples { ms: vec![1.0, 3.0] };
        assert_eq!(paired_ratios(&a, &b).ms, vec![2.0, 3.0]);
    }
}
