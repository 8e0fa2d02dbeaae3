//! `GET /metrics`: the broker's figures in the Prometheus text format
//! (version 0.0.4), read from its counters at each scrape.
//!
//! Nothing here runs on the message path: the counters are the broker's
//! own ([`crate::broker::metrics`], per thread where they move per
//! message; [`crate::plugins::calls`] for hook calls), and a scrape only
//! reads them. Every name is listed, with its labels and meaning, in
//! `docs/metrics.md`.
//!
//! - [`process`]: CPU, memory, descriptors from `/proc/self`.
//! - [`plugin_figures`]: a plugin's own stats JSON as samples.
//! - [`persistence`]: the durable store's figures.

mod persistence;
pub mod plugin_figures;
pub mod process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::broker::metrics::listener::Refused;
use crate::broker::metrics::{Dropped, PACKET_TYPES};
use crate::broker::Broker;
use crate::plugins::calls::{Histogram, Point};
use crate::plugins::dispatch::Instance;

/// The `Content-Type` of what [`render`] writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The exposition text of `broker` and its running `plugins` (name and
/// instance, as `PluginManager::instances` gives them). Calls each
/// plugin's `stats()`: run it off the broker's threads.
pub fn render(broker: Arc<Broker>, plugins: Vec<(String, Arc<Instance>)>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape { broker, plugins }));
    let mut text = String::new();
    // Writing to a String cannot fail, and the collector returns only
    // the writer's errors.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

/// One scrape's sources.
struct Scrape {
    broker: Arc<Broker>,
    plugins: Vec<(String, Arc<Instance>)>,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

/// Label pairs of one sample.
type Labels = Vec<(&'static str, String)>;

/// Writes families through prometheus-client's encoder.
struct Out<'a>(DescriptorEncoder<'a>);

impl Out<'_> {
    /// A family of samples of one type; nothing when it has none.
    fn family<V>(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        rows: Vec<(Labels, V)>,
        mut sample: impl FnMut(
            &mut prometheus_client::encoding::MetricEncoder<'_>,
            &V,
        ) -> std::fmt::Result,
    ) -> std::fmt::Result {
        if rows.is_empty() {
            return Ok(());
        }
        let mut family = self.0.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in &rows {
            if labels.is_empty() {
                sample(&mut family, value)?;
            } else {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let mut labelled = family.encode_family(&labels)?;
                sample(&mut labelled, value)?;
            }
        }
        Ok(())
    }

    /// A counter family; `name` without `_total`, which is added.
    fn counters<V: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        rows: Vec<(Labels, V)>,
    ) -> std::fmt::Result {
        self.family(name, help, MetricType::Counter, rows, |m, v| {
            m.encode_counter::<Vec<(&str, &str)>, _, u64>(v, None)
        })
    }

    fn counter<V: EncodeCounterValue>(&mut self, name: &str, help: &str, v: V) -> std::fmt::Result {
        self.counters(name, help, vec![(Vec::new(), v)])
    }

    fn gauges<V: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        rows: Vec<(Labels, V)>,
    ) -> std::fmt::Result {
        self.family(name, help, MetricType::Gauge, rows, |m, v| {
            m.encode_gauge(v)
        })
    }

    fn gauge<V: EncodeGaugeValue>(&mut self, name: &str, help: &str, v: V) -> std::fmt::Result {
        self.gauges(name, help, vec![(Vec::new(), v)])
    }

    /// Figures whose type the host cannot know.
    fn untyped(&mut self, name: &str, help: &str, rows: Vec<(Labels, f64)>) -> std::fmt::Result {
        self.family(name, help, MetricType::Unknown, rows, |m, v| {
            m.encode_gauge(v)
        })
    }

    fn histograms(
        &mut self,
        name: &str,
        help: &str,
        rows: Vec<(Labels, Histogram)>,
    ) -> std::fmt::Result {
        self.family(name, help, MetricType::Histogram, rows, |m, h| {
            m.encode_histogram::<Vec<(&str, &str)>>(h.sum_seconds, h.count, &h.buckets, None)
        })
    }
}

impl Collector for Scrape {
    fn encode(&self, encoder: DescriptorEncoder) -> std::fmt::Result {
        let mut out = Out(encoder);
        broker_figures(&self.broker, &mut out)?;
        persistence::figures(self.broker.store.as_deref(), &mut out)?;
        plugin_figures(&self.plugins, &mut out)?;
        process_figures(&mut out)
    }
}

fn one(label: &'static str, value: impl Into<String>) -> Labels {
    vec![(label, value.into())]
}

fn broker_figures(broker: &Broker, out: &mut Out<'_>) -> std::fmt::Result {
    let m = &broker.metrics;
    let get = |v: &AtomicU64| v.load(Ordering::Relaxed);

    out.gauges(
        "mqhost_build_info",
        "The broker's version, as a label; always 1.",
        vec![(one("version", env!("CARGO_PKG_VERSION")), 1u64)],
    )?;
    out.gauge(
        "mqhost_uptime_seconds",
        "Seconds since the broker started.",
        broker.uptime_secs(),
    )?;

    // Connections, per listener.
    let listeners = m.listeners();
    out.gauges(
        "mqhost_connections",
        "Connections open now on each listener, before and after CONNECT.",
        listeners
            .iter()
            .map(|l| (one("listener", l.id.as_str()), l.open()))
            .collect(),
    )?;
    out.counters(
        "mqhost_connections_accepted",
        "Connections each listener let in.",
        listeners
            .iter()
            .map(|l| (one("listener", l.id.as_str()), l.accepted_total()))
            .collect(),
    )?;
    out.counters(
        "mqhost_connections_refused",
        "Connections each listener turned away or closed before a successful CONNACK, by reason.",
        listeners
            .iter()
            .flat_map(|l| {
                Refused::ALL.iter().map(move |why| {
                    (
                        vec![
                            ("listener", l.id.clone()),
                            ("reason", why.label().to_owned()),
                        ],
                        l.refused_total(*why),
                    )
                })
            })
            .collect(),
    )?;
    out.gauge(
        "mqhost_clients_connected",
        "Clients connected now (CONNACK sent, connection open).",
        get(&m.clients_connected),
    )?;
    out.gauge(
        "mqhost_clients_maximum",
        "Most clients connected at once since start.",
        get(&m.clients_maximum),
    )?;
    out.counter(
        "mqhost_clients_accepted",
        "CONNECTs accepted.",
        get(&m.clients_connected_total),
    )?;

    // Packets and bytes.
    let kinds = 1..PACKET_TYPES.len();
    let by_type = |read: &dyn Fn(usize) -> u64| -> Vec<(Labels, u64)> {
        kinds
            .clone()
            .map(|kind| (one("type", PACKET_TYPES[kind]), read(kind)))
            .collect()
    };
    out.counters(
        "mqhost_packets_received",
        "MQTT packets decoded from clients, by packet type.",
        by_type(&|kind| m.packets_in(kind).0),
    )?;
    out.counters(
        "mqhost_packets_received_bytes",
        "Bytes of the MQTT packets decoded from clients (whole packets), by packet type.",
        by_type(&|kind| m.packets_in(kind).1),
    )?;
    out.counters(
        "mqhost_packets_sent",
        "MQTT packets encoded for clients, by packet type.",
        by_type(&|kind| m.packets_out(kind).0),
    )?;
    out.counters(
        "mqhost_packets_sent_bytes",
        "Bytes of the MQTT packets encoded for clients (whole packets), by packet type.",
        by_type(&|kind| m.packets_out(kind).1),
    )?;
    out.counter(
        "mqhost_received_bytes",
        "Bytes read from clients' streams (after TLS and WebSocket framing).",
        m.bytes_read(),
    )?;
    out.counter(
        "mqhost_sent_bytes",
        "Bytes written to clients' streams (before TLS and WebSocket framing).",
        m.bytes_written(),
    )?;

    // Messages.
    out.counter(
        "mqhost_messages_received",
        "Application messages accepted from publishers, and made by the broker (wills, plugins).",
        m.messages_received(),
    )?;
    out.counter(
        "mqhost_messages_delivered",
        "Application messages written to subscribers.",
        m.messages_delivered(),
    )?;
    out.counters(
        "mqhost_messages_dropped",
        "Messages not delivered, by reason; a message lost on its way to several subscribers counts once for each.",
        Dropped::ALL
            .iter()
            .map(|why| (one("reason", why.label()), m.dropped_for(*why)))
            .collect(),
    )?;

    // State.
    out.gauge(
        "mqhost_sessions",
        "Sessions alive now, with or without a connection.",
        get(&m.sessions),
    )?;
    out.counter(
        "mqhost_sessions_expired",
        "Sessions that ended because their expiry interval ran out.",
        get(&m.sessions_expired),
    )?;
    out.gauge(
        "mqhost_subscriptions",
        "Subscriptions now, over every session.",
        broker.router.subscription_count() as u64,
    )?;
    out.gauge(
        "mqhost_retained_messages",
        "Retained messages stored now.",
        broker.router.retained_count() as u64,
    )?;
    out.gauge(
        "mqhost_retained_bytes",
        "Bytes of the retained messages stored now (topics and payloads).",
        broker.router.retained_bytes(),
    )?;
    out.counters(
        "mqhost_limit_refusals",
        "Times a configured limit refused something, by limit (the $SYS and admin API names).",
        m.limits()
            .into_iter()
            .map(|(name, value)| (one("limit", name.replace('/', "_")), value))
            .collect(),
    )
}

/// One sample per plugin and hook point.
fn per_point<V>(
    plugins: &[(String, Arc<Instance>)],
    read: impl Fn(&Instance, Point) -> V,
) -> Vec<(Labels, V)> {
    let mut rows = Vec::new();
    for (name, instance) in plugins {
        for point in Point::all() {
            let labels = vec![("plugin", name.clone()), ("hook", point.name().to_owned())];
            rows.push((labels, read(instance, point)));
        }
    }
    rows
}

fn plugin_figures(plugins: &[(String, Arc<Instance>)], out: &mut Out<'_>) -> std::fmt::Result {
    let by_plugin = |read: &dyn Fn(&Instance) -> u64| -> Vec<(Labels, u64)> {
        plugins
            .iter()
            .map(|(name, instance)| (one("plugin", name.as_str()), read(instance)))
            .collect()
    };
    out.counters(
        "mqhost_hook_calls",
        "Calls of each plugin at each hook point.",
        per_point(plugins, |instance, point| instance.calls().calls(point)),
    )?;
    out.histograms(
        "mqhost_hook_duration_seconds",
        "How long hook calls took: every call at points that fire per connection or subscription, \
         one call in 64 per thread at message.publish, message.delivered, message.acked and \
         client.authorize (_count is the calls timed; mqhost_hook_calls_total counts them all).",
        per_point(plugins, |instance, point| instance.calls().latency(point)),
    )?;
    out.counters(
        "mqhost_plugin_errors",
        "Errors plugins returned from calls, panics included.",
        by_plugin(&|i| i.errors()),
    )?;
    out.counters(
        "mqhost_plugin_panics",
        "Calls that panicked; the first puts the plugin out of service.",
        by_plugin(&|i| i.panics()),
    )?;
    out.gauges(
        "mqhost_plugin_failed",
        "1 while a plugin is out of service after a panic, else 0.",
        by_plugin(&|i| u64::from(i.has_failed())),
    )?;

    let mut pooled = Vec::new();
    let mut plain = Vec::new();
    for (name, instance) in plugins {
        for figure in plugin_figures::flatten(&instance.stats()) {
            match figure.pool {
                Some(pool) => pooled.push((
                    vec![
                        ("plugin", name.clone()),
                        ("pool", pool),
                        ("figure", figure.name),
                    ],
                    figure.value,
                )),
                None => plain.push((
                    vec![("plugin", name.clone()), ("figure", figure.name)],
                    figure.value,
                )),
            }
        }
    }
    out.untyped(
        "mqhost_plugin_pool_figure",
        "A plugin's own figure for one of its pools, from its stats (the Redis backend's queued, written, errors, overflow, reconnects...).",
        pooled,
    )?;
    out.untyped(
        "mqhost_plugin_figure",
        "A plugin's own figure from its stats, named by its path of keys.",
        plain,
    )
}

fn process_figures(out: &mut Out<'_>) -> std::fmt::Result {
    let process = process::read();
    if let Some(v) = process.cpu_seconds {
        out.counter(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds.",
            v,
        )?;
    }
    if let Some(v) = process.resident_bytes {
        out.gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            v,
        )?;
    }
    if let Some(v) = process.virtual_bytes {
        out.gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            v,
        )?;
    }
    if let Some(v) = process.open_fds {
        out.gauge("process_open_fds", "Open file descriptors.", v)?;
    }
    if let Some(v) = process.max_fds {
        out.gauge(
            "process_max_fds",
            "The soft limit on open file descriptors.",
            v,
        )?;
    }
    if let Some(v) = process.threads {
        out.gauge("process_threads", "Threads of the process.", v)?;
    }
    if let Some(v) = process.start_time_seconds {
        out.gauge(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch.",
            v,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostConfig;

    /// Checks what [`render`] wrote the way a scraper would: every line a comment or a sample, every
    /// sample's family declared by a `# TYPE` line before it, no series
    /// twice. Returns the problems found.
    fn lint(text: &str) -> Vec<String> {
        use prometheus_parse::LineInfo;
        let mut problems = Vec::new();
        let mut declared: Vec<(String, prometheus_parse::SampleType)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (n, line) in text.lines().enumerate() {
            let mut problem = |what: &str| {
                problems.push(format!("line {}: {what}: {line}", n + 1));
            };
            match LineInfo::parse(line) {
                LineInfo::Doc { .. } => {}
                LineInfo::Type {
                    metric_name,
                    metric_alias,
                    sample_type,
                } => declared.push((metric_alias.unwrap_or(metric_name), sample_type)),
                LineInfo::Sample {
                    metric_name,
                    labels,
                    value,
                    ..
                } => {
                    let family = declared.iter().rev().find(|(name, kind)| {
                        use prometheus_parse::SampleType::*;
                        match kind {
                            Histogram => [
                                format!("{name}_bucket"),
                                format!("{name}_sum"),
                                format!("{name}_count"),
                            ]
                            .contains(&metric_name.to_owned()),
                            _ => name == metric_name,
                        }
                    });
                    if family.is_none() {
                        problem("a sample of no declared family");
                    }
                    if value.parse::<f64>().is_err() && value != "+Inf" && value != "NaN" {
                        problem("a value that is not a number");
                    }
                    if !seen.insert(format!("{metric_name}{{{}}}", labels.unwrap_or(""))) {
                        problem("a series written twice");
                    }
                }
                LineInfo::Empty => {}
                LineInfo::Ignored => problem("neither comment nor sample"),
            }
        }
        problems
    }

    /// The samples of `text`, parsed by prometheus-parse.
    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    /// The value of the sample `name` whose labels include `labels`.
    fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("no {name} {labels:?}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a single value"),
        }
    }

    #[test]
    fn the_check_finds_what_a_scraper_would_refuse() {
        let bad = "# TYPE a counter\na 1\nb 2\na 1\nnot a sample at all\n# TYPE c gauge\nc x\n";
        let problems = lint(bad);
        // "not a sample at all" reads as a sample of an undeclared family
        // whose value is not a number: two problems.
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn a_fresh_broker_renders_valid_text_with_every_family() {
        let broker = Broker::new(HostConfig::default());
        broker.metrics.listener("tcp.default");
        let text = render(broker, Vec::new());
        assert_eq!(lint(&text), Vec::<String>::new(), "{text}");
        let scrape = parse(&text);
        for name in [
            "mqhost_build_info",
            "mqhost_connections",
            "mqhost_connections_accepted_total",
            "mqhost_connections_refused_total",
            "mqhost_clients_connected",
            "mqhost_clients_accepted_total",
            "mqhost_packets_received_total",
            "mqhost_packets_sent_bytes_total",
            "mqhost_received_bytes_total",
            "mqhost_messages_received_total",
            "mqhost_messages_delivered_total",
            "mqhost_messages_dropped_total",
            "mqhost_sessions",
            "mqhost_subscriptions",
            "mqhost_retained_messages",
            "mqhost_retained_bytes",
            "mqhost_limit_refusals_total",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
        ] {
            assert!(
                scrape.samples.iter().any(|s| s.metric == name),
                "{name} missing from\n{text}"
            );
        }
        // Every counter's name ends in _total, as the conventions say.
        for line in text.lines().filter(|l| l.ends_with(" counter")) {
            assert!(line.contains("_total counter"), "{line}");
        }
        assert_eq!(
            value(
                &scrape,
                "mqhost_connections_refused_total",
                &[("reason", "max_conn_rate")]
            ),
            0.0
        );
    }

    #[test]
    fn counted_figures_are_the_ones_rendered() {
        let broker = Broker::new(HostConfig::default());
        let listener = broker.metrics.listener("tcp.default");
        listener.accepted();
        listener.accepted();
        listener.refused(Refused::NotAuthorized);
        let local = broker.metrics.local();
        local.packet_in(crate::broker::metrics::PUBLISH, 20);
        local.packet_in(crate::broker::metrics::PUBLISH, 22);
        local.packet_out(crate::broker::metrics::CONNACK, 4);
        local.add(&local.counters.messages_received, 2);
        broker.metrics.dropped(Dropped::QueueFull);
        let text = render(Arc::clone(&broker), Vec::new());
        assert_eq!(lint(&text), Vec::<String>::new(), "{text}");
        let scrape = parse(&text);
        let listener = [("listener", "tcp.default")];
        assert_eq!(
            value(&scrape, "mqhost_connections_accepted_total", &listener),
            2.0
        );
        assert_eq!(
            value(
                &scrape,
                "mqhost_connections_refused_total",
                &[("listener", "tcp.default"), ("reason", "not_authorized")]
            ),
            1.0
        );
        let publish = [("type", "publish")];
        assert_eq!(
            value(&scrape, "mqhost_packets_received_total", &publish),
            2.0
        );
        assert_eq!(
            value(&scrape, "mqhost_packets_received_bytes_total", &publish),
            42.0
        );
        assert_eq!(
            value(&scrape, "mqhost_packets_sent_total", &[("type", "connack")]),
            1.0
        );
        assert_eq!(value(&scrape, "mqhost_messages_received_total", &[]), 2.0);
        assert_eq!(
            value(
                &scrape,
                "mqhost_messages_dropped_total",
                &[("reason", "queue_full")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &scrape,
                "mqhost_messages_dropped_total",
                &[("reason", "expired")]
            ),
            0.0
        );
    }
}
