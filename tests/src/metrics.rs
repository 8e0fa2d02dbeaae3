//! `GET /metrics` as a scraper reads it: fetched with the admin token,
//! parsed by prometheus-parse, and checked line by line, since that
//! parser skips what it cannot read instead of refusing it.

use std::collections::HashSet;

use prometheus_parse::{LineInfo, SampleType, Scrape, Value};

use crate::Broker;

/// One scrape: the text and its samples.
pub struct Metrics {
    pub text: String,
    pub scrape: Scrape,
}

impl Metrics {
    /// Parses `text`, panicking on any line a scraper would refuse.
    pub fn parse(text: String) -> Metrics {
        let problems = problems(&text);
        assert!(problems.is_empty(), "{problems:#?}\n{text}");
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parse");
        Metrics { text, scrape }
    }

    /// The value of the sample `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .and_then(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
                _ => None,
            })
    }

    /// As [`Metrics::get`], panicking when there is no such sample.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", self.text))
    }

    /// The count of the histogram `name` whose labels include `labels`.
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(&format!("{name}_count"), labels)
    }
}

/// What a scraper would refuse in `text`: a line neither comment nor
/// sample, a sample of no family declared by a `# TYPE` line before it, a
/// value that is not a number, a series written twice.
pub fn problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut families: Vec<(String, SampleType)> = Vec::new();
    let mut series = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let mut problem = |what: &str| problems.push(format!("line {}: {what}: {line}", n + 1));
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Empty => {}
            LineInfo::Type {
                metric_name,
                metric_alias,
                sample_type,
            } => families.push((metric_alias.unwrap_or(metric_name), sample_type)),
            LineInfo::Sample {
                metric_name,
                labels,
                value,
                ..
            } => {
                let declared = families.iter().any(|(family, kind)| match kind {
                    SampleType::Histogram => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|suffix| format!("{family}{suffix}") == metric_name),
                    _ => family == metric_name,
                });
                if !declared {
                    problem("a sample of no declared family");
                }
                if value.parse::<f64>().is_err() && !["+Inf", "-Inf", "NaN"].contains(&value) {
                    problem("a value that is not a number");
                }
                if !series.insert(format!("{metric_name}{{{}}}", labels.unwrap_or(""))) {
                    problem("a series written twice");
                }
            }
            LineInfo::Ignored => problem("neither comment nor sample"),
        }
    }
    problems
}

impl Broker {
    /// `GET /metrics` with the admin token: the status, the
    /// Content-Type, and the body.
    pub async fn metrics_response(&self) -> (u16, Option<String>, String) {
        let host = self.admin_addr().to_string();
        let authorization = format!("Bearer {}", self.admin_token());
        let response = self
            .admin_send(
                "GET",
                "/metrics",
                &[("Host", &host), ("Authorization", &authorization)],
                "",
            )
            .await;
        let content_type = response.header("content-type").map(str::to_owned);
        (response.status, content_type, response.body)
    }

    /// One scrape of `/metrics`, parsed and checked.
    pub async fn metrics(&self) -> Metrics {
        let (status, _, body) = self.metrics_response().await;
        assert_eq!(status, 200, "{body}");
        Metrics::parse(body)
    }
}
