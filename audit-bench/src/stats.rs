//! Medians, extremes and per-round ratios of repeated measurements.

use serde::{Deserialize, Deserializer, Serialize};

/// The rounds of one measurement: every sample, its median, min and max.
///
/// JSON has no NaN: serde_json writes it as `null`, which reads back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    #[serde(deserialize_with = "nan_if_null")]
    pub(crate) median: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub(crate) min: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub(crate) max: f64,
    #[serde(deserialize_with = "nans_if_null")]
    pub(crate) samples: Vec<f64>,
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nans_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

impl Summary {
    /// Summarizes the samples (non-finite ones are ignored). `None` when
    /// there is none left.
    pub(crate) fn of(samples: &[f64]) -> Option<Self> {
        let kept: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        let median = median(&kept)?;
        let min = kept.iter().copied().fold(f64::INFINITY, f64::min);
        let max = kept.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self { median, min, max, samples: kept })
    }

    /// One measurement taken once.
    pub(crate) fn single(value: f64) -> Self {
        Self { median: value, min: value, max: value, samples: vec![value] }
    }

    /// Whether it comes from more than one distinct sample.
    pub(crate) fn has_spread(&self) -> bool {
        self.samples.len() > 1
    }
}

/// The median (the mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// `a[i] / b[i]` for each round measured in both (pairs with a zero
/// denominator are left out).
pub(crate) fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).filter(|(_, b)| **b != 0.0).map(|(a, b)| a / b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn summary_ignores_non_finite_samples() {
        let s = Summary::of(&[2.0, f64::NAN, 1.0, 5.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 5.0));
        assert_eq!(s.samples.len(), 3);
        assert!(Summary::of(&[f64::INFINITY]).is_none());
    }

    #[test]
    fn nan_survives_json() {
        let s = Summary::single(f64::NAN);
        let back: Summary = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert!(back.median.is_nan() && back.samples[0].is_nan());
    }

    #[test]
    fn ratios_pair_rounds_and_skip_zero_denominators() {
        assert_eq!(ratios(&[10.0, 9.0, 8.0], &[10.0, 0.0, 4.0]), vec![1.0, 2.0]);
    }
}
