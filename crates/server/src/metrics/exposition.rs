//! The resource families written straight into the exposition text.
//!
//! A loaded scrape holds about 90,000 resource samples (1,000 corridors with
//! their lanes, 10,000 bundles). Building a label vector of owned strings
//! per sample and handing it to `prometheus-client`'s encoder cost more
//! than a third of such a scrape, so the resource families are written
//! here instead: each sample line once, from borrowed labels, as it is
//! gathered. The event metrics (requests, store, admissions) stay with
//! `prometheus-client`, which writes them first.
//!
//! The bytes are exactly those `prometheus-client` writes for the same
//! family and samples, in both formats (descriptors, name suffixes, label
//! escaping, `dtoa` floats); the tests hold the two side by side on
//! generated labels and values.

use std::fmt::Write as _;

use super::Format;

/// How a family's samples are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Info,
}

/// One family: its name without prefix and unit, help, unit (as the
/// exposition spells it) and type.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Option<&'static str>,
    pub kind: Kind,
}

/// A label: its name and its value, borrowed from the resource.
pub type Label<'a> = (&'static str, &'a str);

impl Spec {
    /// `{prefix}_{name}[_{unit}]`: the name the descriptor lines carry in
    /// OpenMetrics.
    fn base_name(&self, prefix: &str) -> String {
        let mut name = format!("{prefix}_{}", self.name);
        if let Some(unit) = self.unit {
            name.push('_');
            name.push_str(unit);
        }
        name
    }

    /// The name every sample line of the family starts with (both formats
    /// agree on it): the base name, then `_total` for a counter and
    /// `_info` for an info family.
    pub fn sample_name(&self, prefix: &str) -> String {
        let mut name = self.base_name(prefix);
        name.push_str(self.type_suffix());
        name
    }

    fn type_suffix(&self) -> &'static str {
        match self.kind {
            Kind::Gauge => "",
            Kind::Counter => "_total",
            Kind::Info => "_info",
        }
    }

    /// The `# HELP`, `# TYPE` (and in OpenMetrics `# UNIT`) lines.
    pub fn write_descriptor(&self, out: &mut String, prefix: &str, format: Format) {
        let base = self.base_name(prefix);
        match format {
            Format::OpenMetrics => {
                let kind = match self.kind {
                    Kind::Gauge => "gauge",
                    Kind::Counter => "counter",
                    Kind::Info => "info",
                };
                // OpenMetrics HELP text is written as given (ours has no
                // backslash or newline).
                let _ = writeln!(out, "# HELP {base} {}", self.help);
                let _ = writeln!(out, "# TYPE {base} {kind}");
                if let Some(unit) = self.unit {
                    let _ = writeln!(out, "# UNIT {base} {unit}");
                }
            }
            Format::PrometheusText => {
                // The 0.0.4 format names the family by its sample name and
                // has no info type: an info family is a gauge of value 1.
                let name = format!("{base}{}", self.type_suffix());
                let kind = match self.kind {
                    Kind::Counter => "counter",
                    Kind::Gauge | Kind::Info => "gauge",
                };
                let _ = write!(out, "# HELP {name} ");
                escape_help(out, self.help);
                out.push('\n');
                let _ = writeln!(out, "# TYPE {name} {kind}");
            }
        }
    }
}

/// Appends one sample line: `name{labels,extra} value`. An info sample's
/// value is always written `1`, as an info family's is.
pub fn write_sample(
    out: &mut String,
    sample_name: &str,
    kind: Kind,
    labels: &[Label<'_>],
    extra: Option<Label<'_>>,
    value: f64,
) {
    out.push_str(sample_name);
    let mut first = true;
    for (name, value) in labels.iter().copied().chain(extra) {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    if kind == Kind::Info {
        out.push_str(" 1\n");
    } else {
        out.push(' ');
        out.push_str(dtoa::Buffer::new().format(value));
        out.push('\n');
    }
}

/// Label values escape backslash, double quote and newline (both formats).
fn escape_label_value(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The 0.0.4 format's HELP text escapes backslash and newline.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::MetricType;
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::registry::{Registry, Unit};
    use proptest::prelude::*;

    /// The same family and samples through `prometheus-client`'s own
    /// encoder: what the direct writer must reproduce byte for byte.
    #[derive(Debug)]
    struct Reference {
        spec: Spec,
        samples: Vec<(Vec<(&'static str, String)>, f64)>,
    }

    impl Collector for Reference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            let unit = self.spec.unit.map(|u| Unit::Other(u.to_owned()));
            let metric_type = match self.spec.kind {
                Kind::Gauge => MetricType::Gauge,
                Kind::Counter => MetricType::Counter,
                Kind::Info => MetricType::Info,
            };
            let mut family = encoder.encode_descriptor(
                self.spec.name,
                self.spec.help,
                unit.as_ref(),
                metric_type,
            )?;
            for (labels, value) in &self.samples {
                match self.spec.kind {
                    Kind::Info => family.encode_info(labels)?,
                    Kind::Gauge => ConstGauge::new(*value).encode(family.encode_family(labels)?)?,
                    Kind::Counter => {
                        ConstCounter::new(*value).encode(family.encode_family(labels)?)?
                    }
                }
            }
            Ok(())
        }
    }

    fn reference(
        spec: Spec,
        samples: &[(Vec<(&'static str, String)>, f64)],
        format: Format,
    ) -> String {
        let mut registry = Registry::with_prefix("corridor");
        registry.register_collector(Box::new(Reference {
            spec,
            samples: samples.to_vec(),
        }));
        let mut text = String::new();
        match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode_registry(&mut text, &registry).unwrap()
            }
            Format::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap()
            }
        }
        text
    }

    fn direct(
        spec: Spec,
        samples: &[(Vec<(&'static str, String)>, f64)],
        format: Format,
    ) -> String {
        let mut text = String::new();
        spec.write_descriptor(&mut text, "corridor", format);
        let name = spec.sample_name("corridor");
        for (labels, value) in samples {
            let borrowed: Vec<Label<'_>> = labels.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let (extra, rest) = match borrowed.split_last() {
                Some((last, rest)) if borrowed.len() > 1 => (Some(*last), rest),
                _ => (None, &borrowed[..]),
            };
            write_sample(&mut text, &name, spec.kind, rest, extra, *value);
        }
        text
    }

    fn spec_strategy() -> impl Strategy<Value = Spec> {
        (
            prop_oneof![Just(Kind::Gauge), Just(Kind::Counter), Just(Kind::Info)],
            prop_oneof![
                Just(None),
                Just(Some("celsius")),
                Just(Some("bytes_per_second"))
            ],
            prop_oneof![Just("A help"), Just("Help with \\ and\nnewline")],
        )
            .prop_map(|(kind, unit, help)| Spec {
                name: "corridor_thing",
                help,
                unit,
                kind,
            })
    }

    fn samples_strategy() -> impl Strategy<Value = Vec<(Vec<(&'static str, String)>, f64)>> {
        let value = prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(1e-24),
            Just(-3.5),
            Just(12_500_000_000.0),
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ];
        let label_value = prop_oneof![
            Just(String::new()),
            "[a-z0-9-]{1,12}",
            "[a-z\"\\\\\n é]{0,8}",
        ];
        let labels = prop::collection::vec(
            (
                prop_oneof![Just("corridor"), Just("lane"), Just("state")],
                label_value,
            ),
            1..4,
        );
        prop::collection::vec((labels, value), 0..5)
    }

    proptest! {
        #[test]
        fn the_direct_writer_writes_what_prometheus_client_writes(
            spec in spec_strategy(),
            samples in samples_strategy(),
        ) {
            // HELP escaping differs between the formats only for
            // backslash and newline, which OpenMetrics HELP never holds
            // in our families; compare OpenMetrics on plain help only.
            for format in [Format::OpenMetrics, Format::PrometheusText] {
                if format == Format::OpenMetrics && spec.help.contains(['\\', '\n']) {
                    continue;
                }
                prop_assert_eq!(direct(spec, &samples, format), reference(spec, &samples, format));
            }
        }
    }

    #[test]
    fn golden_lines() {
        let spec = Spec {
            name: "lane_temperature",
            help: "Temperature",
            unit: Some("celsius"),
            kind: Kind::Gauge,
        };
        let mut text = String::new();
        spec.write_descriptor(&mut text, "corridor", Format::OpenMetrics);
        write_sample(
            &mut text,
            &spec.sample_name("corridor"),
            spec.kind,
            &[("corridor", "c-1"), ("lane", "0")],
            Some(("source", "model")),
            45.25,
        );
        assert_eq!(
            text,
            "# HELP corridor_lane_temperature_celsius Temperature\n\
             # TYPE corridor_lane_temperature_celsius gauge\n\
             # UNIT corridor_lane_temperature_celsius celsius\n\
             corridor_lane_temperature_celsius{corridor=\"c-1\",lane=\"0\",source=\"model\"} 45.25\n"
        );
    }
}
