//! Percentiles of delays.

use std::time::Duration;

/// Nearest-rank summary of a set of delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// `None` for an empty set.
pub fn summarize(mut values: Vec<Duration>) -> Option<Summary> {
    values.sort_unstable();
    Some(Summary {
        count: values.len(),
        p50: percentile(&values, 50)?,
        p99: percentile(&values, 99)?,
        max: *values.last()?,
    })
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `pct` percent
/// of the values at or below it.
pub fn percentile(sorted: &[Duration], pct: u32) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (n * pct as usize).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// Milliseconds with three decimals, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// A signed difference in milliseconds (`a - b`), for "added" columns.
pub fn added_ms(a: Duration, b: Duration) -> String {
    let diff = a.as_secs_f64() - b.as_secs_f64();
    format!("{:+.3}", diff * 1e3)
}

/// `a - b` in seconds, signed.
pub fn diff_secs(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() - b.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).rev().map(d).collect();
        let s = summarize(v).unwrap_or_else(|| panic!("empty"));
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, d(50), d(99), d(100)));
        let one = summarize(vec![d(7)]).unwrap_or_else(|| panic!("empty"));
        assert_eq!((one.p50, one.p99, one.max), (d(7), d(7), d(7)));
        assert_eq!(summarize(Vec::new()), None);
        assert_eq!(percentile(&[d(1), d(2), d(3)], 50), Some(d(2)));
    }

    #[test]
    fn differences_are_signed() {
        assert_eq!(added_ms(d(3), d(1)), "+2.000");
        assert_eq!(added_ms(d(1), d(3)), "-2.000");
        assert_eq!(ms(Duration::from_micros(1500)), "1.500");
    }
}
