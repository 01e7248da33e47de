//! Rendering resources as a table, JSON or YAML.

use clap::ValueEnum;
use corridor_client::ResourceEvent;
use serde_json::Value;

use crate::kinds::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

/// Renders a list (or one item, as a list of one) in the chosen format.
pub fn render(kind: Kind, items: &[Value], format: Format) -> anyhow::Result<String> {
    match format {
        Format::Json => {
            let mut text = if items.len() == 1 {
                serde_json::to_string_pretty(&items[0])?
            } else {
                serde_json::to_string_pretty(items)?
            };
            text.push('\n');
            Ok(text)
        }
        Format::Yaml => Ok(if items.len() == 1 {
            serde_norway::to_string(&items[0])?
        } else {
            serde_norway::to_string(items)?
        }),
        Format::Table => Ok(table(kind, items, true)),
    }
}

/// Renders one watch event: a table row prefixed by the event type, or the
/// event as one JSON line / one YAML document.
pub fn render_event(
    kind: Kind,
    event: &ResourceEvent<Value>,
    format: Format,
) -> anyhow::Result<String> {
    let whole = serde_json::json!({
        "type": event.event_type,
        "resource_version": event.resource_version,
        "object": event.object,
    });
    match format {
        Format::Json => Ok(format!("{}\n", serde_json::to_string(&whole)?)),
        Format::Yaml => Ok(format!("---\n{}", serde_norway::to_string(&whole)?)),
        Format::Table => Ok(format!(
            "{:<9}{}",
            event.event_type,
            table(kind, std::slice::from_ref(&event.object), false)
        )),
    }
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

fn table(kind: Kind, items: &[Value], header: bool) -> String {
    let columns = kind.columns();
    let mut rows: Vec<Vec<String>> = Vec::new();
    if header {
        rows.push(columns.iter().map(|c| c.header.to_string()).collect());
    }
    for item in items {
        rows.push(columns.iter().map(|c| cell(item.get(c.field))).collect());
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(value, width)| format!("{value:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    if header && items.is_empty() {
        text.push_str(&format!("(no {})\n", kind.list_path()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_shows_missing_fields_as_dash() {
        let items = vec![
            serde_json::json!({"id": "cxl-pool-0", "type": "Type-3", "capacity_bytes": 1, "status": "active"}),
            serde_json::json!({"id": "x", "type": "Type-3 MLD", "capacity_bytes": 22, "status": "active"}),
        ];
        let text = render(Kind::Devices, &items, Format::Table).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID          TYPE"), "{text}");
        assert!(lines[1].contains("cxl-pool-0  Type-3"), "{text}");
        assert!(lines[1].contains(" - "), "{text}");
    }

    #[test]
    fn single_item_json_is_an_object_not_a_list() {
        let items = vec![serde_json::json!({"id": "a"})];
        let text = render(Kind::Devices, &items, Format::Json).unwrap();
        assert!(text.starts_with('{'));
    }
}
