//! The JSON that ndctl's `cxl list` prints (cxl-cli; Debian 12 ships ndctl 76.1), decoded
//! into typed objects.
//!
//! There is no published schema and the shape of the output depends on the options
//! (memory-cxl.md §2; ndctl's `Documentation/cxl/cxl-list.txt`):
//!
//! * one object type asked for: a bare array of those objects (`cxl list -M`);
//! * several: an array of objects each holding one array, keyed by type (`"buses"`,
//!   `"memdevs"`, `"anon memdevs"`, `"regions"`, …);
//! * objects that nest under a listed parent are moved into it under a key naming the
//!   parent (`"ports:root0"`, `"endpoints:port1"`, `"decoders:endpoint5"`,
//!   `"regions:decoder0.0"`), and an endpoint carries its memdev as an object under
//!   `"memdev"`;
//! * with `-u` (human) a single result is printed as a bare object, and sizes and serials
//!   become strings (`"256.00 MiB (268.44 MB)"`, `"0x5"`).
//!
//! So the decoder does not trust any one shape: it walks every array and object and
//! recognises each CXL object by the key that names it (`bus`, `port`, `endpoint`,
//! `memdev`, `decoder`, `region`), recording the object it was nested under. Unknown keys
//! are ignored (newer ndctl adds fields); a known key with a value of the wrong type is an
//! error naming the object. A human-readable size is not an exact number and is kept as
//! unknown (`None`) rather than rounded into one. Empty output (nothing but white space)
//! is an empty listing.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use thiserror::Error;

/// Why a `cxl list` output could not be decoded.
#[derive(Debug, Error)]
pub enum CxlListError {
    /// The bytes are not JSON (or nest deeper than the JSON reader allows).
    #[error("cxl list output is not JSON")]
    Json(#[source] serde_json::Error),
    /// The top level is a scalar: `cxl list` prints an array or an object.
    #[error("cxl list output is a JSON {0}, not an array or object")]
    Shape(&'static str),
    /// A recognised object has a field of the wrong type.
    #[error("cxl list {kind} {name:?}")]
    Object {
        /// `memdev`, `region`, …
        kind: &'static str,
        /// Its name as listed.
        name: String,
        /// What was wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

/// Every CXL object of one `cxl list` output, flattened; each list is in natural name order
/// (`mem2` before `mem10`), since ndctl's own order is not kept by the JSON reader.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CxlListing {
    /// CXL roots (`root0`).
    pub buses: Vec<CxlBus>,
    /// Host bridges and switch ports (`port1`).
    pub ports: Vec<CxlPort>,
    /// Endpoint ports of memory devices (`endpoint5`).
    pub endpoints: Vec<CxlEndpoint>,
    /// Memory devices (`mem0`): Type-3 devices.
    pub memdevs: Vec<CxlListMemdev>,
    /// Root, switch and endpoint decoders (`decoder5.0`).
    pub decoders: Vec<CxlDecoder>,
    /// Regions (`region0`).
    pub regions: Vec<CxlListRegion>,
}

impl CxlListing {
    /// The memdev named `name`.
    #[must_use]
    pub fn memdev(&self, name: &str) -> Option<&CxlListMemdev> {
        self.memdevs.iter().find(|m| m.memdev == name)
    }

    /// The region named `name`.
    #[must_use]
    pub fn region(&self, name: &str) -> Option<&CxlListRegion> {
        self.regions.iter().find(|r| r.region == name)
    }

    /// True when nothing was listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buses.is_empty()
            && self.ports.is_empty()
            && self.endpoints.is_empty()
            && self.memdevs.is_empty()
            && self.decoders.is_empty()
            && self.regions.is_empty()
    }
}

/// A CXL root object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlBus {
    /// `root0`.
    pub bus: String,
    /// `ACPI.CXL`, `cxl_test`.
    #[serde(default)]
    pub provider: Option<String>,
}

/// A CXL port (host bridge or upstream switch port).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlPort {
    /// `port1`.
    pub port: String,
    /// The device behind it (`pci0000:d2`, `0000:35:00.0`).
    #[serde(default)]
    pub host: Option<String>,
    /// Depth below the root.
    #[serde(default)]
    pub depth: Option<u32>,
    /// The parent's downstream port it hangs off.
    #[serde(default)]
    pub parent_dport: Option<String>,
    /// What it was listed under (`root0`).
    #[serde(skip)]
    pub parent: Option<String>,
}

/// An endpoint port: the CXL.mem side of one memory device.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlEndpoint {
    /// `endpoint5`.
    pub endpoint: String,
    /// The memdev it belongs to (`mem0`).
    #[serde(default)]
    pub host: Option<String>,
    /// The parent port's downstream port.
    #[serde(default)]
    pub parent_dport: Option<String>,
    /// Depth below the root.
    #[serde(default)]
    pub depth: Option<u32>,
    /// What it was listed under (`port1`).
    #[serde(skip)]
    pub parent: Option<String>,
}

/// A CXL memory device (a Type-3 device's `memN`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CxlListMemdev {
    /// `mem0`.
    pub memdev: String,
    /// Volatile capacity, bytes (absent when zero; `None` in human form).
    #[serde(default, deserialize_with = "quantity")]
    pub ram_size: Option<u64>,
    /// Persistent capacity, bytes.
    #[serde(default, deserialize_with = "quantity")]
    pub pmem_size: Option<u64>,
    /// QoS class of the volatile partition (Linux 6.8+).
    #[serde(default)]
    pub ram_qos_class: Option<i64>,
    /// QoS class of the persistent partition.
    #[serde(default)]
    pub pmem_qos_class: Option<i64>,
    /// Device serial number (a number, or `0x…` in human form).
    #[serde(default, deserialize_with = "quantity")]
    pub serial: Option<u64>,
    /// NUMA node of the device (its host bridge's proximity domain); ndctl omits a
    /// negative one.
    #[serde(default, deserialize_with = "node")]
    pub numa_node: Option<u32>,
    /// The PCI device (`0000:35:00.0`), or `cxl_mem.N` under cxl_test.
    #[serde(default)]
    pub host: Option<String>,
    /// Firmware revision the device reports.
    #[serde(default)]
    pub firmware_version: Option<String>,
    /// `disabled` when the driver is not bound; absent when enabled.
    #[serde(default)]
    pub state: Option<String>,
    /// Health summary (`-H`).
    #[serde(default)]
    pub health: Option<CxlHealth>,
    /// What it was listed under (`endpoint5`); `None` at the top level.
    #[serde(skip)]
    pub parent: Option<String>,
}

impl CxlListMemdev {
    /// True unless ndctl says the driver is not bound.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.state.as_deref() != Some("disabled")
    }

    /// Volatile plus persistent capacity; `None` when neither is known.
    #[must_use]
    pub fn capacity(&self) -> Option<u64> {
        match (self.ram_size, self.pmem_size) {
            (None, None) => None,
            (r, p) => Some(r.unwrap_or(0).saturating_add(p.unwrap_or(0))),
        }
    }
}

/// The health fields a control plane acts on (Get Health Info, CXL r3.1 §8.2.9.9.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlHealth {
    /// Maintenance needed.
    #[serde(default)]
    pub maintenance_needed: Option<bool>,
    /// Performance degraded.
    #[serde(default)]
    pub performance_degraded: Option<bool>,
    /// Hardware replacement needed.
    #[serde(default)]
    pub hw_replacement_needed: Option<bool>,
    /// Media normal.
    #[serde(default)]
    pub media_normal: Option<bool>,
    /// Percentage of life used.
    #[serde(default)]
    pub life_used_percent: Option<i64>,
    /// Device temperature, °C.
    #[serde(default)]
    pub temperature: Option<i64>,
    /// Dirty shutdown count.
    #[serde(default)]
    pub dirty_shutdowns: Option<u64>,
}

/// One decoder's downstream target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlDecoderTarget {
    /// The downstream port (`0000:d2:01.1`, `pci0000:d2`).
    pub target: String,
    /// Its position in the interleave.
    #[serde(default)]
    pub position: Option<u32>,
}

/// A HDM decoder (root, switch or endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlDecoder {
    /// `decoder5.0`.
    pub decoder: String,
    /// Host physical base address.
    #[serde(default, deserialize_with = "quantity")]
    pub resource: Option<u64>,
    /// Size, bytes.
    #[serde(default, deserialize_with = "quantity")]
    pub size: Option<u64>,
    /// Interleave ways.
    #[serde(default)]
    pub interleave_ways: Option<u32>,
    /// Interleave granularity, bytes.
    #[serde(default)]
    pub interleave_granularity: Option<u64>,
    /// The region it decodes for.
    #[serde(default)]
    pub region: Option<String>,
    /// Device physical base (endpoint decoders).
    #[serde(default, deserialize_with = "quantity")]
    pub dpa_resource: Option<u64>,
    /// Device physical size (endpoint decoders).
    #[serde(default, deserialize_with = "quantity")]
    pub dpa_size: Option<u64>,
    /// `ram`, `pmem`, `none`, `mixed` (endpoint decoders).
    #[serde(default)]
    pub mode: Option<String>,
    /// Downstream targets (`-T`).
    #[serde(default)]
    pub targets: Vec<CxlDecoderTarget>,
    /// What it was listed under (`endpoint5`, `port1`, `root0`).
    #[serde(skip)]
    pub parent: Option<String>,
}

/// One memdev's place in a region's interleave.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlMapping {
    /// Position in the interleave set.
    #[serde(default)]
    pub position: Option<u32>,
    /// `mem0`.
    pub memdev: String,
    /// Its endpoint decoder (`decoder5.0`).
    #[serde(default)]
    pub decoder: Option<String>,
}

/// A dax device of a region's dax region (`-X`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlDaxDevice {
    /// `dax4.0`.
    pub chardev: String,
    /// Size, bytes.
    #[serde(default, deserialize_with = "quantity")]
    pub size: Option<u64>,
    /// The NUMA node its memory is onlined as.
    #[serde(default, deserialize_with = "node")]
    pub target_node: Option<u32>,
    /// `system-ram` or `devdax`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A region's dax region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlDaxRegion {
    /// dax region id.
    #[serde(default)]
    pub id: Option<u32>,
    /// Its devices.
    #[serde(default)]
    pub devices: Vec<CxlDaxDevice>,
}

/// A CXL region: an interleave set of memdevs decoded as one range of host memory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CxlListRegion {
    /// `region0`.
    pub region: String,
    /// Host physical base address.
    #[serde(default, deserialize_with = "quantity")]
    pub resource: Option<u64>,
    /// Size, bytes.
    #[serde(default, deserialize_with = "quantity")]
    pub size: Option<u64>,
    /// `ram` or `pmem` (ndctl's key is `type`).
    #[serde(default, rename = "type")]
    pub mode: Option<String>,
    /// Interleave ways.
    #[serde(default)]
    pub interleave_ways: Option<u32>,
    /// Interleave granularity, bytes.
    #[serde(default)]
    pub interleave_granularity: Option<u64>,
    /// `commit` or `reset`.
    #[serde(default)]
    pub decode_state: Option<String>,
    /// Memdevs in the interleave (`-T`).
    #[serde(default)]
    pub mappings: Vec<CxlMapping>,
    /// Its dax region (`-X`).
    #[serde(default)]
    pub daxregion: Option<CxlDaxRegion>,
    /// What it was listed under (its root decoder, `decoder0.0`).
    #[serde(skip)]
    pub parent: Option<String>,
}

impl CxlListRegion {
    /// Memdevs of the region in interleave order, each once.
    #[must_use]
    pub fn memdevs(&self) -> Vec<&str> {
        let mut mappings: Vec<&CxlMapping> = self.mappings.iter().collect();
        mappings.sort_by_key(|m| m.position.unwrap_or(u32::MAX));
        let mut out: Vec<&str> = Vec::new();
        for m in mappings {
            if !out.contains(&m.memdev.as_str()) {
                out.push(&m.memdev);
            }
        }
        out
    }

    /// The NUMA node the region's memory is onlined as (its first dax device's).
    #[must_use]
    pub fn target_node(&self) -> Option<u32> {
        self.daxregion
            .as_ref()?
            .devices
            .iter()
            .find_map(|d| d.target_node)
    }
}

/// Keys under which an object holds plain data, not further CXL objects. Not walked: a
/// region's `mappings` name a `memdev` and would otherwise read as memdevs.
const LEAVES: &[&str] = &[
    "mappings",
    "targets",
    "dports",
    "health",
    "partition_info",
    "alert_config",
    "media_errors",
    "daxregion",
    "firmware",
];

/// Decodes one `cxl list` output.
///
/// # Errors
/// [`CxlListError`] when the bytes are not JSON, the top level is a scalar, or a CXL object
/// has a field of the wrong type.
pub fn parse(bytes: &[u8]) -> Result<CxlListing, CxlListError> {
    let mut listing = CxlListing::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(listing);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(CxlListError::Json)?;
    match &value {
        Value::Array(_) | Value::Object(_) => walk(&mut listing, &value, None)?,
        Value::Null => return Err(CxlListError::Shape("null")),
        Value::Bool(_) => return Err(CxlListError::Shape("boolean")),
        Value::Number(_) => return Err(CxlListError::Shape("number")),
        Value::String(_) => return Err(CxlListError::Shape("string")),
    }
    listing.buses.sort_by_key(|a| natural(&a.bus));
    listing.ports.sort_by_key(|a| natural(&a.port));
    listing.endpoints.sort_by_key(|a| natural(&a.endpoint));
    listing.memdevs.sort_by_key(|a| natural(&a.memdev));
    listing.decoders.sort_by_key(|a| natural(&a.decoder));
    listing.regions.sort_by_key(|a| natural(&a.region));
    Ok(listing)
}

/// A name as text and number runs, so that `decoder5.0 < decoder10.0`.
fn natural(name: &str) -> Vec<(String, u128)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                // Longer than u128 holds: compare as the largest number (ties keep order).
                out.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u128::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    out.push((text, digits.parse().unwrap_or(0)));
    out
}

/// Recursion is bounded by serde_json's own nesting limit (128) on what it parsed.
fn walk(out: &mut CxlListing, value: &Value, parent: Option<&str>) -> Result<(), CxlListError> {
    match value {
        Value::Array(items) => {
            for item in items {
                walk(out, item, parent)?;
            }
            Ok(())
        }
        Value::Object(map) => object(out, value, map, parent),
        // Scalars inside the listing carry no object.
        _ => Ok(()),
    }
}

fn object(
    out: &mut CxlListing,
    value: &Value,
    map: &Map<String, Value>,
    parent: Option<&str>,
) -> Result<(), CxlListError> {
    let named = |key: &str| map.get(key).and_then(Value::as_str);
    // Order matters: a decoder names its region, so `decoder` is tested first; an
    // endpoint's `memdev` is an object, not a name.
    let own_name = if let Some(name) = named("decoder") {
        let mut d: CxlDecoder = typed(value, "decoder", name)?;
        d.parent = parent.map(str::to_owned);
        out.decoders.push(d);
        Some(name)
    } else if let Some(name) = named("region") {
        let mut r: CxlListRegion = typed(value, "region", name)?;
        r.parent = parent.map(str::to_owned);
        out.regions.push(r);
        Some(name)
    } else if let Some(name) = named("endpoint") {
        let mut e: CxlEndpoint = typed(value, "endpoint", name)?;
        e.parent = parent.map(str::to_owned);
        out.endpoints.push(e);
        Some(name)
    } else if let Some(name) = named("memdev") {
        let mut m: CxlListMemdev = typed(value, "memdev", name)?;
        m.parent = parent.map(str::to_owned);
        out.memdevs.push(m);
        Some(name)
    } else if let Some(name) = named("port") {
        let mut p: CxlPort = typed(value, "port", name)?;
        p.parent = parent.map(str::to_owned);
        out.ports.push(p);
        Some(name)
    } else if let Some(name) = named("bus") {
        out.buses.push(typed(value, "bus", name)?);
        Some(name)
    } else {
        // A wrapper such as {"memdevs": [...]}: its children keep the outer parent.
        None
    };
    let child_parent = own_name.or(parent);
    for (key, child) in map {
        if LEAVES.contains(&key.as_str()) || !(child.is_array() || child.is_object()) {
            continue;
        }
        walk(out, child, child_parent)?;
    }
    Ok(())
}

fn typed<T: serde::de::DeserializeOwned>(
    value: &Value,
    kind: &'static str,
    name: &str,
) -> Result<T, CxlListError> {
    T::deserialize(value).map_err(|source| CxlListError::Object {
        kind,
        name: name.to_owned(),
        source,
    })
}

/// A size, address or serial: a JSON number, or in human form a `0x…` hexadecimal or
/// decimal string (exact), or a size with units (`"256.00 MiB (268.44 MB)"`: rounded by
/// ndctl, so unknown here).
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let value = Option::<Value>::deserialize(d)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an unsigned integer"))),
        Some(Value::String(s)) => {
            let t = s.trim();
            let exact = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => t.parse::<u64>().ok(),
            };
            match exact {
                Some(v) => Ok(Some(v)),
                None if is_human_size(t) => Ok(None),
                None => Err(D::Error::custom(format!("{t:?} is not a quantity"))),
            }
        }
        Some(other) => Err(D::Error::custom(format!("{other} is not a quantity"))),
    }
}

/// `"<digits>[.<digits>] <unit>…"` as ndctl's human mode prints sizes.
fn is_human_size(t: &str) -> bool {
    let Some((number, rest)) = t.split_once(' ') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && rest.split_whitespace().next().is_some_and(|unit| {
            matches!(
                unit,
                "B" | "KiB" | "MiB" | "GiB" | "TiB" | "PiB" | "EiB" | "kB" | "MB" | "GB" | "TB"
            )
        })
}

/// A NUMA node number; negative (no node) is `None`.
fn node<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    match Option::<i64>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("node {n} out of range"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_are_unknown_and_other_strings_are_errors() {
        let m = parse(br#"{"memdev":"mem0","pmem_size":"256.00 MiB (268.44 MB)","serial":"0x5"}"#)
            .unwrap();
        assert_eq!(m.memdevs[0].pmem_size, None);
        assert_eq!(m.memdevs[0].serial, Some(5));
        assert!(parse(br#"[{"memdev":"mem0","ram_size":"lots"}]"#).is_err());
        assert!(parse(br#"[{"memdev":"mem0","ram_size":-1}]"#).is_err());
    }

    #[test]
    fn scalars_and_garbage_are_refused_and_blank_is_empty() {
        assert!(matches!(parse(b"3"), Err(CxlListError::Shape("number"))));
        assert!(matches!(parse(b"[{"), Err(CxlListError::Json(_))));
        assert!(parse(b" \n").unwrap().is_empty());
    }

    #[test]
    fn names_sort_naturally() {
        let l = parse(br#"[{"memdev":"mem10"},{"memdev":"mem2"},{"memdev":"mem1"}]"#).unwrap();
        let names: Vec<&str> = l.memdevs.iter().map(|m| m.memdev.as_str()).collect();
        assert_eq!(names, ["mem1", "mem2", "mem10"]);
        assert!(natural("decoder5.0") < natural("decoder10.0"));
    }

    #[test]
    fn a_negative_node_is_no_node() {
        let m = parse(br#"[{"memdev":"mem0","numa_node":-1}]"#).unwrap();
        assert_eq!(m.memdevs[0].numa_node, None);
    }
}
