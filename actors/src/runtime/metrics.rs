//! A small Prometheus registry: counters and gauges with labels, rendered in
//! the text exposition format on every node's `/metrics`.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{Mutex, OnceLock},
};

type Key = (&'static str, String);

fn registry() -> &'static Mutex<BTreeMap<Key, f64>> {
    static REG: OnceLock<Mutex<BTreeMap<Key, f64>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Adds `by` to a counter.
pub fn add(name: &'static str, pairs: &[(&str, &str)], by: f64) {
    if let Ok(mut reg) = registry().lock() {
        *reg.entry((name, labels(pairs))).or_insert(0.0) += by;
    }
}

/// Adds one to a counter.
pub fn inc(name: &'static str, pairs: &[(&str, &str)]) {
    add(name, pairs, 1.0);
}

/// Sets a gauge.
pub fn set(name: &'static str, pairs: &[(&str, &str)], value: f64) {
    if let Ok(mut reg) = registry().lock() {
        reg.insert((name, labels(pairs)), value);
    }
}

/// Reads one series (for tests and status pages).
pub fn get(name: &'static str, pairs: &[(&str, &str)]) -> Option<f64> {
    registry()
        .lock()
        .ok()
        .and_then(|reg| reg.get(&(name, labels(pairs))).copied())
}

/// Renders every series.
pub fn render() -> String {
    let mut out = String::new();
    if let Ok(reg) = registry().lock() {
        for ((name, labels), value) in reg.iter() {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_accumulate_and_render_with_escaped_labels() {
        inc("kukka_test_total", &[("k", "a\"b")]);
        inc("kukka_test_total", &[("k", "a\"b")]);
        set("kukka_test_gauge", &[], 3.0);
        assert_eq!(get("kukka_test_total", &[("k", "a\"b")]), Some(2.0));
        let text = render();
        assert!(text.contains("kukka_test_total{k=\"a\\\"b\"} 2"));
        assert!(text.contains("kukka_test_gauge 3"));
    }
}
