//! `corridorctl corridor history`: a corridor's kept samples and changes
//! as one table, oldest first.

use corridor_model::history::CorridorHistory;

/// One row per sample and per object change, in wall-time order (then
/// store revision): what the corridor looked like, and when it changed.
pub fn table(history: &CorridorHistory) -> String {
    // (time, revision, row) so samples and changes interleave in order.
    let mut rows: Vec<(i64, u64, Vec<String>)> = Vec::new();
    for s in &history.samples {
        rows.push((
            s.observed_at.timestamp_micros(),
            s.resource_version.parse().unwrap_or(0),
            vec![
                s.observed_at.to_rfc3339(),
                s.resource_version.clone(),
                "sample".into(),
                "-".into(),
                format!("{}", s.temp_c.0),
                format!("{:.2e}", s.ber),
                format!("{:.2e}", s.pre_fec_ber),
                lower(&s.eye_margin),
                lower(&s.drift),
                format!("{:.3}", s.power_pj_per_bit.0),
                lower(&s.source),
            ],
        ));
    }
    for c in &history.changes {
        rows.push((
            c.observed_at.timestamp_micros(),
            c.resource_version.parse().unwrap_or(0),
            vec![
                c.observed_at.to_rfc3339(),
                c.resource_version.clone(),
                lower(&c.change),
                lower(&c.status),
                "-".into(),
                format!("{:.2e}", c.object.ber),
                "-".into(),
                lower(&c.object.eye_margin),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        ));
    }
    rows.sort_by_key(|(at, revision, _)| (*at, *revision));
    let header = [
        "TIME",
        "REVISION",
        "RECORD",
        "STATUS",
        "TEMP_C",
        "BER",
        "PRE_FEC_BER",
        "EYE",
        "DRIFT",
        "PJ_PER_BIT",
        "SOURCE",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    lines.extend(rows.into_iter().map(|(_, _, row)| row));
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    if history.truncated {
        text.push_str(&format!(
            "(truncated: the window holds more samples; continue with --from {})\n",
            history
                .samples
                .last()
                .map(|s| s.observed_at.to_rfc3339())
                .unwrap_or_default()
        ));
    }
    text
}

/// A unit enum's wire name (`ok`, `ADDED`, …), lower-cased.
fn lower(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text.to_lowercase(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: &str, revision: &str, temp_c: f64) -> serde_json::Value {
        serde_json::json!({
            "observed_at": at, "resource_version": revision, "source": "model",
            "ber": 1e-24, "pre_fec_ber": 2e-9, "ber_is_upper_bound": true, "eye_margin": "ok",
            "temp_c": temp_c, "power_pj_per_bit": 2.5, "drift": "low", "lanes": []
        })
    }

    #[test]
    fn rows_come_in_time_order_with_a_header() {
        let history: CorridorHistory = serde_json::from_value(serde_json::json!({
            "id": "cor-1",
            "from": "2026-12-04T03:00:00Z",
            "to": "2026-12-04T04:00:00Z",
            "sample_interval_s": 10.0,
            "retention_s": 604800.0,
            "truncated": true,
            "samples": [
                sample("2026-12-04T03:12:20Z", "9", 49.5),
                sample("2026-12-04T03:12:10Z", "8", 41.5)
            ],
            "changes": []
        }))
        .unwrap();
        let text = table(&history);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("TIME") && lines[0].contains("TEMP_C"),
            "{text}"
        );
        assert!(
            lines[1].contains("41.5") && lines[1].contains("sample"),
            "{text}"
        );
        assert!(lines[2].contains("49.5"), "{text}");
        assert!(lines[3].starts_with("(truncated"), "{text}");
    }
}
