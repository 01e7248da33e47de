//! The resource kinds corridorctl knows, their API paths and table columns.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(alias = "device", alias = "dev")]
    Devices,
    #[value(alias = "profile")]
    Profiles,
    #[value(alias = "operation", alias = "ops", alias = "op")]
    Operations,
    #[value(alias = "corridor", alias = "cor")]
    Corridors,
    #[value(alias = "bundle", alias = "bundles")]
    Ffm,
    #[value(alias = "policy")]
    Policies,
    #[value(alias = "path")]
    Paths,
    #[value(alias = "port")]
    Ports,
    /// memqosd's memory devices, their tiers and admitted floors per
    /// policy window (a snapshot: no id lookup, selector or watch).
    #[value(alias = "tier")]
    Tiers,
}

/// A table column: header and the JSON field it shows.
pub struct Column {
    pub header: &'static str,
    pub field: &'static str,
}

const fn col(header: &'static str, field: &'static str) -> Column {
    Column { header, field }
}

impl Kind {
    pub fn list_path(self) -> &'static str {
        match self {
            Kind::Devices => "/v1/fabman/devices",
            Kind::Profiles => "/v1/heliopass/profiles",
            Kind::Operations => "/v1/operations",
            Kind::Corridors => "/v1/corridors",
            Kind::Ffm => "/v1/ffm",
            Kind::Policies => "/v1/policies",
            Kind::Paths => "/v1/fabman/paths",
            Kind::Ports => "/v1/fabman/ports",
            Kind::Tiers => "/v1/ffm/tiers",
        }
    }

    pub fn item_path(self, id: &str) -> anyhow::Result<String> {
        match self {
            Kind::Profiles => {
                anyhow::bail!("profiles are listed, not fetched one by one: use `get profiles`")
            }
            Kind::Ports => {
                anyhow::bail!("ports are listed, not fetched one by one: use `get ports`")
            }
            _ => {}
        }
        Ok(format!(
            "{}/{}",
            self.list_path(),
            corridor_client::encode_segment(id)
        ))
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Devices => {
                const {
                    &[
                        col("ID", "id"),
                        col("TYPE", "type"),
                        col("CAPACITY", "capacity_bytes"),
                        col("GBPS", "bandwidth_gbps"),
                        col("LATENCY_NS", "latency_ns"),
                        col("STATUS", "status"),
                        col("SERIAL", "serial_number"),
                    ]
                }
            }
            Kind::Profiles => {
                const {
                    &[
                        col("NAME", "name"),
                        col("BASE_C", "base_temp_c"),
                        col("SWING_C", "swing_c"),
                        col("PERIOD_S", "period_s"),
                        col("DESCRIPTION", "description"),
                    ]
                }
            }
            Kind::Operations => {
                const {
                    &[
                        col("ID", "id"),
                        col("KIND", "kind"),
                        col("STATE", "state"),
                        col("PROGRESS", "progress_percent"),
                        col("MESSAGE", "message"),
                    ]
                }
            }
            Kind::Corridors => {
                const {
                    &[
                        col("ID", "id"),
                        col("TYPE", "corridor_type"),
                        col("LANES", "lanes"),
                        col("MIN_GBPS", "min_gbps"),
                        col("ACHIEVABLE", "achievable_gbps"),
                        col("BER", "ber"),
                        col("STATUS", "status"),
                    ]
                }
            }
            Kind::Ffm => {
                const {
                    &[
                        col("ID", "id"),
                        col("BYTES", "bytes"),
                        col("CLASS", "latency_class"),
                        col("FLOOR_GBS", "bandwidth_floor_GBs"),
                        col("ACHIEVED_GBS", "achieved_GBs"),
                        col("DOMAIN", "security_domain"),
                    ]
                }
            }
            Kind::Policies => const { &[col("ID", "id"), col("NAME", "name")] },
            Kind::Paths => {
                const {
                    &[
                        col("ID", "id"),
                        col("SOURCE", "source_device"),
                        col("TARGET", "target_device"),
                        col("TYPE", "path_type"),
                        col("GBPS", "bandwidth_gbps"),
                        col("LATENCY_NS", "predicted_latency_ns"),
                        col("STATUS", "status"),
                    ]
                }
            }
            Kind::Ports => {
                const {
                    &[
                        col("SWITCH", "switch_id"),
                        col("PORT", "port"),
                        col("ATTACHED", "attached_to"),
                        col("CAPACITY_GBPS", "capacity_gbps"),
                        col("ADMISSIBLE", "admissible_gbps"),
                        col("GUARANTEED", "guaranteed_gbps"),
                        col("FREE", "free_gbps"),
                        col("LINK", "link"),
                    ]
                }
            }
            // One row per device and policy window (`ffm::tier_rows`).
            Kind::Tiers => {
                const {
                    &[
                        col("DEVICE", "id"),
                        col("TIER", "tier"),
                        col("SOURCE", "source"),
                        col("CAPACITY", "capacity_bytes"),
                        col("GBS", "bandwidth_GBs"),
                        col("WINDOW", "window"),
                        col("ADMITTED_GBS", "admitted_GBs"),
                        col("LEFT_GBS", "available_GBs"),
                    ]
                }
            }
        }
    }
}
