//! The rollups' histograms of run time and queue wait (migration 0016): 80
//! log-spaced buckets. Bucket 1 (index 0 here) holds 0–10 ms; bucket k
//! (index k-1, k = 2..80) holds [10 × 1.25^(k-2), 10 × 1.25^(k-1)) ms; the
//! last also holds everything longer. Percentiles read from them are
//! interpolated inside a bucket, so they are within a bucket's width (25 %)
//! of the exact value.

/// Buckets per histogram (the SQL functions' 80).
pub const BUCKETS: usize = 80;

/// The lowest value of bucket `i` (0-based), in ms.
pub fn lower_edge(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        10.0 * 1.25f64.powi(i32::try_from(i - 1).unwrap_or(i32::MAX))
    }
}

/// The value below which a fraction `q` (0–1) of the counted values lie:
/// linear inside the bucket that holds it; `None` when nothing is counted.
pub fn percentile(counts: &[i64], q: f64) -> Option<f64> {
    let total: i64 = counts.iter().map(|c| (*c).max(0)).sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0i64;
    for (i, c) in counts.iter().enumerate() {
        let c = (*c).max(0);
        if c > 0 && (below + c) as f64 >= rank {
            let (lo, hi) = (lower_edge(i), lower_edge(i + 1));
            // The last bucket has no upper edge: its lower edge is all we know.
            if i + 1 >= BUCKETS {
                return Some(lo);
            }
            let within = ((rank - below as f64) / c as f64).clamp(0.0, 1.0);
            return Some(lo + within * (hi - lo));
        }
        below += c;
    }
    Some(lower_edge(counts.len().saturating_sub(1)))
}

/// Which bucket (0-based) `ms` falls in: the SQL `analytics_bucket(ms) - 1`.
pub fn bucket_of(ms: i64) -> usize {
    if ms < 10 {
        return 0;
    }
    let k = 2.0 + ((ms as f64 / 10.0).ln() / 1.25f64.ln()).floor();
    (k as usize).min(BUCKETS) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_have_the_documented_edges() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(9), 0);
        assert_eq!(bucket_of(10), 1);
        assert_eq!(bucket_of(12), 1);
        assert_eq!(bucket_of(13), 2);
        assert_eq!(bucket_of(i64::MAX / 2), BUCKETS - 1);
        for ms in [10, 99, 1_000, 61_000, 3_600_000] {
            let i = bucket_of(ms);
            assert!(
                lower_edge(i) <= ms as f64 && (ms as f64) < lower_edge(i + 1),
                "{ms}"
            );
        }
    }

    #[test]
    fn percentiles_are_within_their_bucket() {
        let mut h = vec![0i64; BUCKETS];
        // 90 runs of 1 s, 10 of 60 s.
        h[bucket_of(1_000)] += 90;
        h[bucket_of(60_000)] += 10;
        let p50 = percentile(&h, 0.5).expect("p50");
        assert!(lower_edge(bucket_of(1_000)) <= p50 && p50 < lower_edge(bucket_of(1_000) + 1));
        let p95 = percentile(&h, 0.95).expect("p95");
        assert!(lower_edge(bucket_of(60_000)) <= p95 && p95 < lower_edge(bucket_of(60_000) + 1));
        assert!((p95 - 60_000.0).abs() / 60_000.0 < 0.25);
        assert_eq!(percentile(&vec![0; BUCKETS], 0.5), None);
    }
}
