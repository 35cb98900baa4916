//! `--plot`: latency and throughput over time as a small hand-written SVG.
//!
//! Two charts, one above the other, with one point per second of the
//! measured window: the median and 99th percentile latency of successful
//! requests, and successful and other (shed or failed) requests per second.

use std::fmt::Write as _;

use crate::report::SecondStats;

const WIDTH: f64 = 760.0;
const CHART_H: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 60.0;
const GAP: f64 = 70.0;

/// A line of one chart; `None` leaves a gap (no successful request that
/// second, so no latency to show).
struct Series<'a> {
    label: &'a str,
    color: &'a str,
    values: Vec<Option<f64>>,
}

/// The SVG document for `timeline`, headed by `title`. A last second that
/// the run covered for less than half a second is left out (its few
/// requests are the tail of in-flight ones, not a rate).
pub fn svg(title: &str, timeline: &[SecondStats]) -> String {
    let full = timeline
        .iter()
        .rposition(|s| s.covered_secs >= 0.5)
        .map_or(0, |i| i + 1);
    let timeline = &timeline[..full];
    let height = TOP + 2.0 * CHART_H + GAP + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let ok = |s: &SecondStats, v: f64| (s.outcomes.ok > 0).then_some(v);
    let latency = [
        Series {
            label: "p50",
            color: "#1f77b4",
            values: timeline.iter().map(|s| ok(s, s.ok_p50_ms)).collect(),
        },
        Series {
            label: "p99",
            color: "#d62728",
            values: timeline.iter().map(|s| ok(s, s.ok_p99_ms)).collect(),
        },
    ];
    let throughput = [
        Series {
            label: "2xx/s",
            color: "#2ca02c",
            values: timeline.iter().map(|s| Some(s.ok_rate())).collect(),
        },
        Series {
            label: "other/s",
            color: "#ff7f0e",
            values: timeline.iter().map(|s| Some(s.other_rate())).collect(),
        },
    ];
    chart(&mut out, TOP, "latency of 2xx, ms", &latency);
    chart(
        &mut out,
        TOP + CHART_H + GAP,
        "throughput, requests/s",
        &throughput,
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds</text>"#,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        height - 12.0
    );
    out.push_str("</svg>\n");
    out
}

fn chart(out: &mut String, top: f64, name: &str, series: &[Series<'_>]) {
    let w = WIDTH - LEFT - RIGHT;
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let peak = series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let y_max = nice_ceiling(peak);
    let x_max = n.saturating_sub(1).max(1) as f64;
    let x = |i: f64| LEFT + w * i / x_max;
    let y = |v: f64| top + CHART_H - CHART_H * (v.clamp(0.0, y_max) / y_max);
    let _ = writeln!(out, r#"<g class="chart">"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>"#,
        top - 8.0,
        escape(name)
    );
    for k in 0..=4 {
        let v = y_max * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + w,
            LEFT - 6.0,
            yy + 4.0,
            label(v)
        );
    }
    let step = nice_ceiling(x_max / 8.0).max(1.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t),
            top + CHART_H + 16.0,
            label(t)
        );
        t += step;
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{w}" height="{CHART_H}" fill="none" stroke="black"/>"#
    );
    if n == 0 {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#,
            LEFT + w / 2.0,
            top + CHART_H / 2.0
        );
    }
    for (k, s) in series.iter().enumerate() {
        // One subpath per run of seconds that have a value.
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in s.values.iter().enumerate() {
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    let cmd = if pen_down { 'L' } else { 'M' };
                    let _ = write!(d, "{cmd}{:.1},{:.1} ", x(i as f64), y(v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = writeln!(
            out,
            r#"<path fill="none" stroke="{}" stroke-width="1.5" d="{}"/>"#,
            s.color,
            d.trim_end()
        );
        let lx = LEFT + w - 150.0 + 75.0 * k as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            top - 12.0,
            lx + 16.0,
            top - 12.0,
            s.color,
            lx + 20.0,
            top - 8.0,
            escape(s.label)
        );
    }
    let _ = writeln!(out, "</g>");
}

/// The smallest of 1, 2, 5 × 10^k that is at least `v` (1 for nothing).
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v * (1.0 - 1e-12) {
            return m * mag;
        }
    }
    10.0 * mag
}

fn label(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcomes;

    #[test]
    fn a_short_last_second_is_left_out() {
        let mut timeline: Vec<_> = (0..5).map(|i| second(i, 100, 10.0)).collect();
        timeline[4].covered_secs = 0.02;
        let doc = svg("tail", &timeline);
        for line in doc.lines().filter(|l| l.starts_with("<path ")) {
            assert_eq!(line.matches(',').count(), 4, "{line}");
        }
    }

    fn second(i: u64, ok: u64, p99: f64) -> SecondStats {
        SecondStats {
            second: i,
            covered_secs: 1.0,
            outcomes: Outcomes {
                ok,
                busy: 3,
                ..Outcomes::default()
            },
            ok_p50_ms: p99 / 3.0,
            ok_p99_ms: p99,
        }
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(4100.0), 5000.0);
        assert_eq!(nice_ceiling(0.03), 0.05);
    }

    #[test]
    fn the_svg_is_well_formed_and_has_both_charts() {
        let timeline: Vec<_> = (0..30).map(|i| second(i, 4000 + i, 12.5)).collect();
        let doc = svg("kukka <cluster> & baseline", &timeline);
        assert!(doc.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(doc.trim_end().ends_with("</svg>"));
        assert_eq!(doc.matches("<path ").count(), 4);
        assert_eq!(doc.matches("<g ").count(), doc.matches("</g>").count());
        assert!(doc.contains("&lt;cluster&gt; &amp; baseline"));
        assert!(!doc.contains("NaN") && !doc.contains("inf"));
        // Every line has one point per second, all inside the drawing.
        for line in doc.lines().filter(|l| l.starts_with("<path ")) {
            let d = line
                .split(" d=\"")
                .nth(1)
                .unwrap_or("")
                .trim_end_matches("\"/>");
            assert_eq!(d.split_whitespace().count(), 30, "{line}");
            assert_eq!(d.matches('M').count(), 1, "{line}");
            for p in d.split_whitespace() {
                let (x, y) = p[1..].split_once(',').expect("x,y");
                let (x, y): (f64, f64) = (x.parse().expect("x"), y.parse().expect("y"));
                assert!((0.0..=WIDTH).contains(&x));
                assert!((TOP..=TOP + 2.0 * CHART_H + GAP).contains(&y));
            }
        }
    }

    #[test]
    fn seconds_without_successes_leave_a_gap_in_the_latency_lines() {
        let timeline: Vec<_> = (0..10)
            .map(|i| second(i, if i == 4 { 0 } else { 100 }, 250.0))
            .collect();
        let doc = svg("gap", &timeline);
        let paths: Vec<_> = doc.lines().filter(|l| l.starts_with("<path ")).collect();
        assert_eq!(paths.len(), 4);
        // p50 and p99 break at second 4; the throughput lines do not.
        assert_eq!(paths[0].matches('M').count(), 2, "{}", paths[0]);
        assert_eq!(paths[1].matches('M').count(), 2);
        assert_eq!(paths[2].matches('M').count(), 1);
        assert_eq!(paths[3].matches('M').count(), 1);
    }

    #[test]
    fn an_empty_run_still_draws() {
        let doc = svg("empty", &[]);
        assert!(doc.contains("no data"));
        assert!(doc.trim_end().ends_with("</svg>"));
        assert!(!doc.contains("NaN"));
    }
}
