//! Aggregation methods and the arithmetic whisper uses to roll points into a lower archive.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// How points of a higher-precision archive are combined into one point of a lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregationMethod {
    /// Mean of the known values.
    Average,
    /// Sum of the known values.
    Sum,
    /// The latest known value.
    Last,
    /// The largest known value.
    Max,
    /// The smallest known value.
    Min,
    /// Mean where unknown values count as zero.
    AvgZero,
    /// The value with the largest magnitude.
    AbsMax,
    /// The value with the smallest magnitude.
    AbsMin,
}

/// Every method, in whisper's numeric-id order.
pub const ALL_METHODS: [AggregationMethod; 8] = [
    AggregationMethod::Average,
    AggregationMethod::Sum,
    AggregationMethod::Last,
    AggregationMethod::Max,
    AggregationMethod::Min,
    AggregationMethod::AvgZero,
    AggregationMethod::AbsMax,
    AggregationMethod::AbsMin,
];

impl AggregationMethod {
    /// The id stored in the file header (1..=8).
    pub fn id(self) -> u32 {
        match self {
            Self::Average => 1,
            Self::Sum => 2,
            Self::Last => 3,
            Self::Max => 4,
            Self::Min => 5,
            Self::AvgZero => 6,
            Self::AbsMax => 7,
            Self::AbsMin => 8,
        }
    }

    /// The method for a header id, if whisper knows it.
    pub fn from_id(id: u32) -> Option<Self> {
        ALL_METHODS.get((id as usize).wrapping_sub(1)).copied()
    }

    /// whisper's name for the method (`average`, `avg_zero`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Sum => "sum",
            Self::Last => "last",
            Self::Max => "max",
            Self::Min => "min",
            Self::AvgZero => "avg_zero",
            Self::AbsMax => "absmax",
            Self::AbsMin => "absmin",
        }
    }

    /// Combines `known` (the non-empty values in time order) given all `neighbors` (with gaps).
    ///
    /// The order of operations follows Python's `sum`/`max`/`min` so results are bit-identical.
    pub fn aggregate(self, known: &[f64], neighbors: &[Option<f64>]) -> Option<f64> {
        let (&first, rest) = known.split_first()?;
        let value = match self {
            Self::Average => py_sum(known.iter().copied()) / known.len() as f64,
            Self::Sum => py_sum(known.iter().copied()),
            Self::Last => *known.last()?,
            // Python's max/min keep the first element unless a later one compares strictly
            // greater/smaller, which also decides what happens with NaN.
            Self::Max => rest.iter().fold(first, |m, &v| if v > m { v } else { m }),
            Self::Min => rest.iter().fold(first, |m, &v| if v < m { v } else { m }),
            Self::AbsMax => rest
                .iter()
                .fold(first, |m, &v| if v.abs() > m.abs() { v } else { m }),
            Self::AbsMin => rest
                .iter()
                .fold(first, |m, &v| if v.abs() < m.abs() { v } else { m }),
            Self::AvgZero => {
                if neighbors.is_empty() {
                    return None;
                }
                py_sum(neighbors.iter().map(|v| v.unwrap_or(0.0))) / neighbors.len() as f64
            }
        };
        Some(value)
    }
}

/// Left-to-right double accumulation starting from integer 0, like CPython 3.11's `sum`.
fn py_sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |acc, v| acc + v)
}

impl fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AggregationMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ALL_METHODS
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::InvalidAggregationMethod(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ids_match_whisper() {
        for (i, m) in ALL_METHODS.iter().enumerate() {
            assert_eq!(m.id() as usize, i + 1);
            assert_eq!(m.name().parse::<AggregationMethod>().unwrap(), *m);
            assert_eq!(AggregationMethod::from_id(m.id()), Some(*m));
        }
        assert!(AggregationMethod::from_id(0).is_none());
        assert!(AggregationMethod::from_id(9).is_none());
        assert!("median".parse::<AggregationMethod>().is_err());
    }

    #[test]
    fn python_tie_and_nan_rules() {
        let n = [Some(-3.0), None, Some(3.0)];
        assert_eq!(
            AggregationMethod::AbsMax.aggregate(&[-3.0, 3.0], &n),
            Some(-3.0)
        );
        assert_eq!(
            AggregationMethod::AbsMin.aggregate(&[2.0, -2.0], &n),
            Some(2.0)
        );
        assert!(AggregationMethod::Max
            .aggregate(&[f64::NAN, 1.0], &n)
            .unwrap()
            .is_nan());
        assert_eq!(
            AggregationMethod::Max.aggregate(&[1.0, f64::NAN], &n),
            Some(1.0)
        );
        assert_eq!(
            AggregationMethod::AvgZero.aggregate(&[-3.0, 3.0], &n),
            Some(0.0)
        );
        assert_eq!(AggregationMethod::Average.aggregate(&[], &n), None);
    }
}
