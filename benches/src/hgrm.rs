//! `--hgrm FILE`: a latency histogram's whole percentile distribution in
//! the `.hgrm` text format of HdrHistogram's
//! `outputPercentileDistribution` (5 ticks per half distance), which the
//! HdrHistogram plotter (<https://hdrhistogram.github.io/HdrHistogram/plotFiles.html>)
//! and wrk2 users read. Values are in milliseconds.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// Percentile ticks per half distance to 100 % (HdrHistogram's default).
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The `.hgrm` text of `h`, a histogram of microseconds, in milliseconds.
pub fn render(h: &Histogram<u64>) -> String {
    let digits = usize::from(h.sigfig());
    let ms = |us: f64| us / 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = ms(v.value_iterated_to() as f64);
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        ms(h.mean()),
        ms(h.stdev())
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        ms(h.max() as f64),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets(h.sigfig())
    );
    out
}

/// HdrHistogram's sub-bucket count for `sigfig` significant digits: the
/// power of two that resolves `2 * 10^sigfig` values one by one.
fn sub_buckets(sigfig: u8) -> u64 {
    let largest = 2 * 10u64.pow(u32::from(sigfig));
    largest.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::histogram;

    #[test]
    fn the_distribution_is_in_the_hgrm_format() {
        let mut h = histogram(3);
        for us in 1..=10_000u64 {
            h.record(us).expect("in range");
        }
        let text = render(&h);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("       Value     Percentile TotalCount 1/(1-Percentile)")
        );
        assert_eq!(lines.next(), Some(""));
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        // First row: the smallest value at percentile 0.
        assert_eq!(rows[0][0], "0.001");
        assert_eq!(rows[0][1], "0.000000000000");
        // The median is 5 ms, within the histogram's precision.
        let median = rows
            .iter()
            .find(|r| r[1] == "0.500000000000")
            .expect("a 50 % row");
        let value: f64 = median[0].parse().expect("ms");
        assert!((value - 5.0).abs() < 0.01, "{value}");
        let count: u64 = median[2].parse().expect("count");
        assert!((5000..5010).contains(&count), "{count}");
        assert_eq!(median[3], "2.00");
        // Percentiles and counts never go down; the last row is 100 %
        // without a 1/(1-p) column.
        for w in rows.windows(2) {
            let p = |r: &Vec<&str>| r[1].parse::<f64>().expect("p");
            let n = |r: &Vec<&str>| r[2].parse::<u64>().expect("n");
            assert!(p(&w[1]) >= p(&w[0]) && n(&w[1]) >= n(&w[0]), "{w:?}");
        }
        let last = rows.last().expect("rows");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "10000");
        assert_eq!(last.len(), 3);
        assert!(
            text.contains("#[Max     =       10.007, Total count    =        10000]"),
            "{text}"
        );
        assert!(
            text.contains("#[Mean    =        5.001, StdDeviation   =        2.887]"),
            "{text}"
        );
        assert!(
            text.contains("#[Buckets =           20, SubBuckets     =         2048]"),
            "{text}"
        );
    }
}
