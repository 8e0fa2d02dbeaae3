//! Results: every figure of every round, medians, ratios, the Markdown
//! table and the JSON file.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// One figure a scenario reports.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Key in JSON: `throughput`, `p99_us`, ...
    pub key: &'static str,
    /// Label in the table.
    pub label: &'static str,
    pub unit: &'static str,
    /// Whether more is better (throughput) or less (latency, memory).
    pub higher_is_better: bool,
}

/// One run of one broker in one round.
#[derive(Debug, Clone)]
pub struct Round {
    pub round: usize,
    pub broker: String,
    /// Figures by metric key; empty when the run failed.
    pub values: BTreeMap<&'static str, f64>,
    /// Raw facts of the run (messages, elapsed, CPU time, ...).
    pub details: Value,
    pub error: Option<String>,
}

/// Everything one scenario measured.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub key: String,
    pub title: String,
    pub description: String,
    /// The broker the ratio is about, then the one it is compared with.
    pub subject: String,
    pub reference: String,
    pub metrics: Vec<Metric>,
    pub rounds: Vec<Round>,
    /// Set when the scenario did not run, with why.
    pub skipped: Option<String>,
}

/// Median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mid = sorted.len() / 2;
    let odd = sorted.len() & 1 == 1;
    Some(if odd {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

impl ScenarioResult {
    /// Median of `metric` over the successful rounds of `broker`.
    pub fn median(&self, broker: &str, metric: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .rounds
            .iter()
            .filter(|r| r.broker == broker && r.error.is_none())
            .filter_map(|r| r.values.get(metric).copied())
            .collect();
        median(&values)
    }

    /// Whether `broker` ran at least one round without failing.
    pub fn succeeded(&self, broker: &str) -> bool {
        self.rounds
            .iter()
            .any(|r| r.broker == broker && r.error.is_none())
    }

    /// The table's cell for `metric` of `broker`: its median; a dash for a
    /// figure only the other broker has (the backend's own rates); or
    /// "failed" when no round of it succeeded.
    fn cell(&self, broker: &str, metric: &Metric) -> String {
        match self.median(broker, metric.key) {
            Some(v) => figure(v, metric.unit),
            None if self.succeeded(broker) => "—".to_owned(),
            None => "failed".to_owned(),
        }
    }

    /// Subject's median over the reference's, for `metric`.
    pub fn ratio(&self, metric: &str) -> Option<f64> {
        Some(self.median(&self.subject, metric)? / self.median(&self.reference, metric)?)
    }

    pub fn failures(&self) -> Vec<String> {
        self.rounds
            .iter()
            .filter_map(|r| {
                r.error
                    .as_ref()
                    .map(|e| format!("{} round {} on {}: {e}", self.key, r.round + 1, r.broker))
            })
            .collect()
    }

    fn to_json(&self) -> Value {
        let medians: BTreeMap<&str, BTreeMap<&str, Option<f64>>> = [&self.subject, &self.reference]
            .iter()
            .map(|b| {
                (
                    b.as_str(),
                    self.metrics
                        .iter()
                        .map(|m| (m.key, self.median(b, m.key)))
                        .collect(),
                )
            })
            .collect();
        let ratios: BTreeMap<&str, Option<f64>> = self
            .metrics
            .iter()
            .map(|m| (m.key, self.ratio(m.key)))
            .collect();
        json!({
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "subject": self.subject,
            "reference": self.reference,
            "skipped": self.skipped,
            "metrics": self.metrics.iter().map(|m| json!({
                "key": m.key, "label": m.label, "unit": m.unit,
                "higher_is_better": m.higher_is_better,
            })).collect::<Vec<_>>(),
            "medians": medians,
            "ratios": ratios,
            "rounds": self.rounds.iter().map(|r| json!({
                "round": r.round + 1,
                "broker": r.broker,
                "values": r.values,
                "details": r.details,
                "error": r.error,
            })).collect::<Vec<_>>(),
        })
    }
}

fn figure(v: f64, unit: &str) -> String {
    let number = if v >= 100.0 {
        group_thousands(v.round() as u64)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

/// The Markdown tables: one for mqhost against Mosquitto, one for mqhost
/// against itself with plugins; skipped scenarios listed with why.
pub fn markdown(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let groups: Vec<(String, String)> = {
        let mut seen: Vec<(String, String)> = Vec::new();
        for r in results.iter().filter(|r| r.skipped.is_none()) {
            let pair = (r.subject.clone(), r.reference.clone());
            if !seen.contains(&pair) {
                seen.push(pair);
            }
        }
        seen
    };
    for (subject, reference) in &groups {
        out.push_str(&format!(
            "| Scenario | Figure | {subject} | {reference} | {subject} / {reference} |\n|---|---|--:|--:|--:|\n"
        ));
        for r in results
            .iter()
            .filter(|r| r.skipped.is_none() && &r.subject == subject && &r.reference == reference)
        {
            for (i, m) in r.metrics.iter().enumerate() {
                let ratio = r.ratio(m.key).map_or("—".to_owned(), |x| format!("{x:.2}"));
                let better = if m.higher_is_better { "↑" } else { "↓" };
                out.push_str(&format!(
                    "| {} | {} {better} | {} | {} | {ratio} |\n",
                    if i == 0 { r.title.as_str() } else { "" },
                    m.label,
                    r.cell(subject, m),
                    r.cell(reference, m),
                ));
            }
        }
        out.push('\n');
    }
    for r in results.iter() {
        if let Some(why) = &r.skipped {
            out.push_str(&format!("- {} skipped: {why}\n", r.title));
        }
    }
    out
}

/// The JSON document: when, where, how, and every round of every scenario.
pub fn json(header: Value, results: &[ScenarioResult]) -> Value {
    let mut doc = header;
    doc["scenarios"] = Value::Array(results.iter().map(ScenarioResult::to_json).collect());
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(broker: &str, values: &[(&'static str, f64)], error: Option<&str>) -> Round {
        Round {
            round: 0,
            broker: broker.to_owned(),
            values: values.iter().copied().collect(),
            details: Value::Null,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn a_figure_only_the_subject_has_is_a_dash_without_ratio() {
        let metric = |key| Metric {
            key,
            label: key,
            unit: "msg/s",
            higher_is_better: true,
        };
        let result = ScenarioResult {
            key: "redis".into(),
            title: "T".into(),
            description: String::new(),
            subject: "a".into(),
            reference: "b".into(),
            metrics: vec![metric("throughput"), metric("mqtt_rate")],
            rounds: vec![
                round("a", &[("throughput", 100.0), ("mqtt_rate", 400.0)], None),
                round("b", &[("throughput", 200.0)], None),
            ],
            skipped: None,
        };
        let table = markdown(std::slice::from_ref(&result));
        assert!(table.contains("| T | throughput ↑ | 100 msg/s | 200 msg/s | 0.50 |"));
        assert!(table.contains("|  | mqtt_rate ↑ | 400 msg/s | — | — |"));

        let mut failed = result;
        failed.rounds[1] = round("b", &[], Some("lost"));
        assert!(markdown(&[failed]).contains("| 400 msg/s | failed | — |"));
    }
}
