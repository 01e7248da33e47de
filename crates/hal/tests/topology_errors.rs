//! Golden error messages for bad topology files.
//!
//! Each case edits a small valid topology (the example from docs/topology.md) and checks the
//! exact message, so a change in wording is a deliberate, reviewed change.

use corridor_hal::topology::{Topology, TopologyError};

const MINIMAL: &str = include_str!("data/minimal.toml");

/// Replaces `from` (which must occur exactly once) with `to` in the minimal topology.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(MINIMAL.matches(from).count(), 1, "edit anchor {from:?}");
    MINIMAL.replacen(from, to, 1)
}

fn error_of(text: &str) -> TopologyError {
    Topology::from_toml_str(text, "rack.toml").expect_err("topology should be rejected")
}

fn message(text: &str) -> String {
    error_of(text).to_string()
}

#[test]
fn minimal_example_is_valid() {
    let t = Topology::from_toml_str(MINIMAL, "minimal.toml").unwrap();
    assert_eq!(t.hosts().len(), 2);
    assert_eq!(t.links().len(), 1);
}

#[test]
fn unknown_field_names_file_line_and_column() {
    let text = edit("sockets = 2\n", "sockets = 2\ncolour = \"red\"\n");
    let line = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
    assert_eq!(
        message(&text),
        format!(
            "rack.toml:{line}:1: unknown field `colour`, expected one of `id`, `name`, `cpu`, \
             `sockets`, `memory`"
        )
    );
}

#[test]
fn wrong_type_names_file_line_and_column() {
    let text = edit("sockets = 2\n", "sockets = \"two\"\n");
    let line = text.lines().position(|l| l.starts_with("sockets")).unwrap() + 1;
    let err = error_of(&text);
    let TopologyError::Parse { location, .. } = &err else {
        panic!("expected a parse error, got {err}");
    };
    assert_eq!(location.map(|l| (l.line, l.column)), Some((line, 11)));
    assert_eq!(
        err.to_string(),
        format!("rack.toml:{line}:11: invalid type: string \"two\", expected u32")
    );
}

#[test]
fn syntax_error_has_a_location() {
    let text = edit("name = \"node-a\"", "name = \"node-a");
    let msg = message(&text);
    let line = text
        .lines()
        .position(|l| l.starts_with("name = \"node-a"))
        .unwrap()
        + 1;
    assert!(msg.starts_with(&format!("rack.toml:{line}:")), "{msg}");
}

#[test]
fn malformed_ids_are_rejected_where_they_are_written() {
    let text = edit("id = \"host-b\"", "id = \"host b\"");
    let line = text.lines().position(|l| l == "id = \"host b\"").unwrap() + 1;
    assert_eq!(
        message(&text),
        format!(
            "rack.toml:{line}:6: id \"host b\" must start with a letter or digit and contain \
             only letters, digits, '-', '_' and '.'"
        )
    );
    let text = edit("vendor_id = \"0x8086\"", "vendor_id = \"8086\"");
    assert!(
        message(&text)
            .contains("\"8086\" is not a PCI id: expected \"0x\" followed by exactly 4 hex digits"),
        "{}",
        message(&text)
    );
}

#[test]
fn dangling_reference_names_its_path() {
    let text = edit("b = \"op-b-0\"", "b = \"op-h9-0\"");
    assert_eq!(
        message(&text),
        "rack.toml: invalid topology (1 problem):\n  links[0].b: unknown optical port \"op-h9-0\""
    );
}

#[test]
fn duplicate_id_names_both_places() {
    let text = edit("id = \"host-b\"", "id = \"host-a\"");
    let msg = message(&text);
    assert!(
        msg.contains("hosts[1].id: duplicate host id \"host-a\" (first used by hosts[0])"),
        "{msg}"
    );
}

#[test]
fn self_link_is_rejected() {
    let text = edit("b = \"op-b-0\"", "b = \"op-a-0\"");
    assert_eq!(
        message(&text),
        "rack.toml: invalid topology (1 problem):\n  \
         links[0].b: link connects optical port \"op-a-0\" to itself"
    );
}

#[test]
fn off_grid_spacing_is_rejected() {
    // Only the first port's grid changes.
    let text = MINIMAL.replacen("spacing_ghz = 100.0", "spacing_ghz = 75.0", 1);
    assert_eq!(
        message(&text),
        "rack.toml: invalid topology (1 problem):\n  optical_ports[0].grid.spacing_ghz: \
         spacing_ghz must be an ITU-T G.694.1 fixed-grid spacing (100, 50, 25 or 12.5 GHz), \
         got 75"
    );
}

#[test]
fn all_semantic_errors_are_reported_at_once() {
    let text = edit("b = \"op-b-0\"", "b = \"op-h9-0\"")
        .replace("lanes = 8", "lanes = 32")
        .replace("ambient_profile = \"lab\"", "ambient_profile = \"arctic\"")
        .replace("length_mm = 75.0", "length_mm = 0.0");
    let err = error_of(&text);
    let paths: Vec<&str> = err.issues().iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "twin.ambient_profile",
            "optical_ports[0].lanes",
            "optical_ports[1].lanes",
            "links[0].b",
            "links[0].length_mm",
        ]
    );
    assert!(
        err.to_string()
            .starts_with("rack.toml: invalid topology (5 problems):\n  ")
    );
    assert!(err.to_string().contains(
        "optical_ports[0].lanes: lanes must be between 1 and grid.channels (16), got 32"
    ));
}

#[test]
fn cxl_wiring_errors() {
    // Two devices on one switch port; a port peer that disagrees with the device.
    let text = edit("port = 8\nvendor_id", "port = 0\nvendor_id");
    let msg = message(&text);
    assert!(
        msg.contains(
            "cxl_devices[0].port: port 0 of switch \"sw0\" is an upstream port; devices attach downstream"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "cxl_switches[0].ports[2].connected_to: CXL device \"pool-0\" says it is on switch \"sw0\" port 0, not \"sw0\" port 8"
        ),
        "{msg}"
    );

    let text = edit(
        "connected_to = { host = \"host-b\" }",
        "connected_to = { host = \"host-a\" }",
    );
    assert!(
        message(&text).contains(
            "cxl_switches[0].ports[1].connected_to: host \"host-a\" is already connected to cxl_switches[0].ports[0]"
        ),
        "{}",
        message(&text)
    );
}

#[test]
fn mld_shape_and_capacity_granule() {
    let text = edit("logical_devices = 2\n", "").replace(
        "capacity_bytes = 274877906944",
        "capacity_bytes = 274877906945",
    );
    let msg = message(&text);
    assert!(
        msg.contains(
            "cxl_devices[0].logical_devices: a multi-logical device needs logical_devices (2 to 16)"
        ),
        "{msg}"
    );
    assert!(
        msg.contains(
            "cxl_devices[0].capacity_bytes: capacity_bytes must be a positive multiple of 256 MiB"
        ),
        "{msg}"
    );
}

#[test]
fn ambient_profiles_are_required() {
    let start = MINIMAL.find("[[ambient_profiles]]").unwrap();
    let text = &MINIMAL[..start];
    let msg = message(text);
    assert!(
        msg.contains("ambient_profiles: at least one ambient profile is required"),
        "{msg}"
    );
    assert!(
        msg.contains("twin.ambient_profile: unknown ambient profile \"lab\""),
        "{msg}"
    );
}

#[test]
fn start_time_needs_an_offset() {
    let text = edit(
        "start_time = \"2025-06-01T00:00:00Z\"",
        "start_time = \"2025-06-01T00:00:00\"",
    );
    assert!(
        message(&text).contains("is not an RFC 3339 date-time with offset"),
        "{}",
        message(&text)
    );
    // A native TOML offset date-time is accepted too.
    let text = edit(
        "start_time = \"2025-06-01T00:00:00Z\"",
        "start_time = 2025-06-01T02:00:00+02:00",
    );
    let t = Topology::from_toml_str(&text, "rack.toml").unwrap();
    assert_eq!(
        t.twin().start_time.to_rfc3339(),
        "2025-06-01T00:00:00+00:00"
    );
}

#[test]
fn a_switch_port_or_optical_port_cannot_be_used_twice() {
    let mut doc = Topology::from_toml_str(MINIMAL, "minimal.toml")
        .unwrap()
        .into_document();
    let mut second = doc.cxl_devices[0].clone();
    second.id = "pool-1".parse().unwrap();
    second.serial_number = "SN999".into();
    doc.cxl_devices.push(second);
    let mut link = doc.links[0].clone();
    link.id = "link-ab-2".parse().unwrap();
    doc.links.push(link);
    let err = Topology::from_document(doc, "edited").unwrap_err();
    let issues: Vec<String> = err.issues().iter().map(ToString::to_string).collect();
    assert_eq!(
        issues,
        [
            "cxl_devices[1].port: port 8 of switch \"sw0\" is already used by cxl_devices[0]",
            "links[1].a: optical port \"op-a-0\" is already connected by links[0].a",
            "links[1].b: optical port \"op-b-0\" is already connected by links[0].b",
        ]
    );
}

/// Inter-switch links are cabled both ways between fabric ports of two switches; standing
/// paths join a host to a device on a switch it is cabled to.
#[test]
fn inter_switch_links_and_standing_paths_are_checked() {
    let fabric_port = "  { port = 8, role = \"downstream\", width = 16, speed_gts = 32.0, connected_to = { device = \"pool-0\" } },\n";
    let one_way = edit(
        fabric_port,
        &format!(
            "{fabric_port}  {{ port = 12, role = \"fabric\", width = 16, speed_gts = 32.0, connected_to = {{ switch = {{ id = \"sw0\", port = 13 }} }} }},\n  {{ port = 13, role = \"fabric\", width = 16, speed_gts = 32.0 }},\n"
        ),
    );
    let err = error_of(&one_way);
    let issues: Vec<String> = err.issues().iter().map(ToString::to_string).collect();
    assert_eq!(
        issues,
        [
            "cxl_switches[0].ports[3].connected_to: an inter-switch link joins two different switches"
        ]
    );
    let paths = format!(
        "{MINIMAL}\n[[cxl_paths]]\nhost = \"host-a\"\ndevice = \"pool-0\"\nmin_bandwidth_gbps = 64.0\n\n[[cxl_paths]]\nhost = \"host-a\"\ndevice = \"pool-9\"\nmin_bandwidth_gbps = 0.0\n"
    );
    let err = error_of(&paths);
    let issues: Vec<String> = err.issues().iter().map(ToString::to_string).collect();
    assert_eq!(
        issues,
        [
            "cxl_paths[1].min_bandwidth_gbps: min_bandwidth_gbps must be a positive number, got 0",
            "cxl_paths[1].device: unknown CXL device \"pool-9\"",
        ]
    );
}
