//! What one history record holds on disk, and its encoding.
//!
//! Telemetry samples are postcard (a compact binary serde format, the one
//! the store's write-ahead log uses) of plain fields: the API types skip
//! absent fields, which a format without field names cannot decode, and
//! their timestamps would be RFC 3339 text. Figures are kept as the
//! `f64`s the telemetry served, so a replayed sample is exactly what was
//! read. An object change keeps the corridor as its API JSON, as the
//! store holds it.

use chrono::{DateTime, Utc};
use corridor_model::corridor::{
    Corridor, CorridorTelemetry, CorridorTelemetrySource, DriftLevel, EyeMargin, LaneTelemetry,
};
use corridor_model::ffm::LatencyClass;
use corridor_model::history::{HistoryChange, HistoryChangeType, HistorySample};
use corridor_model::units::{Celsius, Nanometers, PicojoulesPerBit};
use serde::{Deserialize, Serialize};

use crate::ffm::BundleReading;

/// One record of a corridor's or a memory bundle's history file.
/// Variants are only ever appended: postcard names a variant by its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Sample(StoredSample),
    Change(StoredChange),
    /// A memory bundle's modelled figures (its own file, by bundle id).
    Bundle(StoredBundleSample),
}

impl Record {
    /// Wall time of the record, Unix microseconds.
    pub fn at_us(&self) -> i64 {
        match self {
            Record::Sample(s) => s.at_us,
            Record::Change(c) => c.at_us,
            Record::Bundle(b) => b.at_us,
        }
    }

    /// Store revision the record belongs to (a bundle sample: the admission
    /// ledger's revision, the state its figures were modelled on).
    pub fn revision(&self) -> u64 {
        match self {
            Record::Sample(s) => s.revision,
            Record::Change(c) => c.revision,
            Record::Bundle(b) => b.ledger_revision,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Every field is a plain value: encoding cannot fail.
        postcard::to_stdvec(self).expect("a history record encodes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSample {
    pub at_us: i64,
    pub revision: u64,
    /// `true`: the twin's model; `false`: real modules' monitors.
    pub modelled: bool,
    pub ber: f64,
    pub pre_fec_ber: f64,
    pub ber_is_upper_bound: bool,
    pub eye_margin: u8,
    pub temp_c: f64,
    pub power_pj_per_bit: f64,
    pub drift: u8,
    pub lanes: Vec<StoredLane>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredLane {
    pub lane: u32,
    pub lambda_nm: f64,
    pub ber: f64,
    pub pre_fec_ber: f64,
    pub ber_is_upper_bound: bool,
    pub temp_c: f64,
    pub drift_pm: f64,
    pub heater_mw: Option<f64>,
    pub bias_v: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChange {
    pub at_us: i64,
    pub revision: u64,
    /// 0 added, 1 modified, 2 deleted.
    pub change: u8,
    /// The corridor's API JSON. As bytes, not a sequence of `u8`s: postcard
    /// writes both as a length and the bytes, but a sequence one element at
    /// a time (about 2 % of corridord's CPU per corridor grant).
    #[serde(with = "serde_bytes")]
    pub object: Vec<u8>,
}

/// A memory bundle's figures as memqosd's model gave them at `at_us`, with
/// where the bundle is (so a freed bundle's shared cause is still known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredBundleSample {
    pub at_us: i64,
    pub ledger_revision: u64,
    /// `true`: memqosd's model (every sample today); `false`: measured.
    pub modelled: bool,
    pub achieved_gbs: f64,
    /// The floor in force.
    pub floor_gbs: f64,
    pub tail_p99_ms: f64,
    pub floor_met: bool,
    pub security_domain: String,
    pub host: String,
    /// Latency class, `0..=3` for T0..T3.
    pub tier: u8,
    /// The devices holding the bundle's bytes.
    pub nodes: Vec<String>,
}

const TIERS: [LatencyClass; 4] = [
    LatencyClass::T0,
    LatencyClass::T1,
    LatencyClass::T2,
    LatencyClass::T3,
];

impl StoredBundleSample {
    pub fn of(reading: &BundleReading) -> Self {
        StoredBundleSample {
            at_us: us(reading.at),
            ledger_revision: reading.ledger_revision,
            modelled: true,
            achieved_gbs: reading.achieved_gbs,
            floor_gbs: reading.floor_gbs,
            tail_p99_ms: reading.tail_p99_ms,
            floor_met: reading.floor_met,
            security_domain: reading.security_domain.clone(),
            host: reading.host.clone(),
            tier: index_of(&TIERS, &reading.latency_class),
            nodes: reading.nodes.clone(),
        }
    }

    pub fn latency_class(&self) -> LatencyClass {
        at_index(&TIERS, self.tier)
    }
}

fn us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn from_us(at_us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at_us).unwrap_or_default()
}

const EYE: [EyeMargin; 3] = [EyeMargin::Ok, EyeMargin::Marginal, EyeMargin::Fail];
const DRIFT: [DriftLevel; 3] = [DriftLevel::Low, DriftLevel::Medium, DriftLevel::High];
const CHANGE: [HistoryChangeType; 3] = [
    HistoryChangeType::Added,
    HistoryChangeType::Modified,
    HistoryChangeType::Deleted,
];

fn index_of<T: PartialEq>(table: &[T], value: &T) -> u8 {
    table.iter().position(|v| v == value).unwrap_or(0) as u8
}

fn at_index<T: Copy>(table: &[T], index: u8) -> T {
    table[usize::from(index).min(table.len() - 1)]
}

impl StoredSample {
    /// The sample of telemetry `t` of the corridor at `revision`, with the
    /// eye margin the reconciler would judge. `None` if `t` has no
    /// `observed_at` (corridord's answers always carry it).
    pub fn of(t: &CorridorTelemetry, revision: u64, eye_margin: EyeMargin) -> Option<Self> {
        Some(StoredSample {
            at_us: us(t.observed_at?),
            revision,
            modelled: t.source != Some(CorridorTelemetrySource::Counter),
            ber: t.ber,
            pre_fec_ber: t.pre_fec_ber.unwrap_or(t.ber),
            ber_is_upper_bound: t.ber_is_upper_bound.unwrap_or(false),
            eye_margin: index_of(&EYE, &eye_margin),
            temp_c: t.temp_c.0,
            power_pj_per_bit: t.power_pj_per_bit.0,
            drift: index_of(&DRIFT, &t.drift),
            lanes: t
                .lanes
                .iter()
                .map(|l| StoredLane {
                    lane: l.lane,
                    lambda_nm: l.lambda_nm.0,
                    ber: l.ber,
                    pre_fec_ber: l.pre_fec_ber,
                    ber_is_upper_bound: l.ber_is_upper_bound,
                    temp_c: l.temp_c.0,
                    drift_pm: l.drift_pm,
                    heater_mw: l.heater_mw,
                    bias_v: l.bias_v,
                })
                .collect(),
        })
    }

    pub fn to_api(&self) -> HistorySample {
        HistorySample {
            observed_at: from_us(self.at_us),
            resource_version: self.revision.to_string(),
            source: if self.modelled {
                CorridorTelemetrySource::Model
            } else {
                CorridorTelemetrySource::Counter
            },
            ber: self.ber,
            pre_fec_ber: self.pre_fec_ber,
            ber_is_upper_bound: self.ber_is_upper_bound,
            eye_margin: at_index(&EYE, self.eye_margin),
            temp_c: Celsius(self.temp_c),
            power_pj_per_bit: PicojoulesPerBit(self.power_pj_per_bit),
            drift: at_index(&DRIFT, self.drift),
            lanes: self
                .lanes
                .iter()
                .map(|l| LaneTelemetry {
                    lane: l.lane,
                    lambda_nm: Nanometers(l.lambda_nm),
                    ber: l.ber,
                    pre_fec_ber: l.pre_fec_ber,
                    ber_is_upper_bound: l.ber_is_upper_bound,
                    temp_c: Celsius(l.temp_c),
                    drift_pm: l.drift_pm,
                    heater_mw: l.heater_mw,
                    bias_v: l.bias_v,
                })
                .collect(),
        }
    }
}

impl StoredChange {
    /// A change to the corridor the store holds as `object` (its JSON),
    /// made at store `revision`, seen at `at`.
    pub fn of(
        object: Vec<u8>,
        change: HistoryChangeType,
        revision: u64,
        at: DateTime<Utc>,
    ) -> Self {
        StoredChange {
            at_us: us(at),
            revision,
            change: index_of(&CHANGE, &change),
            object,
        }
    }

    /// The corridor as recorded, at the revision of the change (the store's
    /// JSON does not carry it); `None` if the JSON does not decode (a
    /// record from an incompatible build, or a corrupt store value).
    pub fn corridor(&self) -> Option<Corridor> {
        let mut corridor: Corridor = serde_json::from_slice(&self.object).ok()?;
        corridor.meta.resource_version = self.revision.to_string();
        Some(corridor)
    }

    pub fn to_api(&self) -> Option<HistoryChange> {
        let object = self.corridor()?;
        Some(HistoryChange {
            observed_at: from_us(self.at_us),
            resource_version: self.revision.to_string(),
            change: at_index(&CHANGE, self.change),
            status: object.status,
            object: Box::new(object),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A change record's bytes, written by hand from postcard's format:
    /// the variant's index, zigzag varints for `at_us`, varints for
    /// `revision`, the change, the object's length, then its bytes.
    #[test]
    fn a_change_record_encodes_as_postcard_golden_bytes() {
        let record = Record::Change(StoredChange {
            at_us: -1,
            revision: 300,
            change: 2,
            object: b"{}".to_vec(),
        });
        let golden = [1, 0x01, 0xac, 0x02, 2, 2, b'{', b'}'];
        assert_eq!(record.encode(), golden);
        assert_eq!(Record::decode(&golden).unwrap(), record);
    }

    /// A one-lane sample with full-width figures (no small values that
    /// postcard's varints would shorten), as the default twin's corridors
    /// report them.
    pub(crate) fn one_lane_sample(at_us: i64, revision: u64, temp_c: f64) -> StoredSample {
        StoredSample {
            at_us,
            revision,
            modelled: true,
            ber: 1.000_000_000_000_000_1e-24,
            pre_fec_ber: 3.456_789_012_345_678e-9,
            ber_is_upper_bound: true,
            eye_margin: 0,
            temp_c,
            power_pj_per_bit: 2.345_678_901_234_567,
            drift: 0,
            lanes: vec![StoredLane {
                lane: 0,
                lambda_nm: 1_550.116_809_881_5,
                ber: 1e-24,
                pre_fec_ber: 3.456_789_012_345_678e-9,
                ber_is_upper_bound: true,
                temp_c,
                drift_pm: 0.123_456_789,
                heater_mw: Some(12.345_678_9),
                bias_v: Some(1.234_567_89),
            }],
        }
    }

    #[test]
    fn a_sample_round_trips_exactly() {
        let sample = Record::Sample(one_lane_sample(1_800_000_000_123_456, 123_456, 41.25));
        let decoded = Record::decode(&sample.encode()).unwrap();
        assert_eq!(decoded, sample);
        let Record::Sample(s) = decoded else {
            unreachable!()
        };
        let api = s.to_api();
        assert_eq!(api.temp_c, Celsius(41.25));
        assert_eq!(api.source, CorridorTelemetrySource::Model);
        assert_eq!(api.resource_version, "123456");
        assert_eq!(api.observed_at.timestamp_micros(), 1_800_000_000_123_456);
    }

    /// Bytes `record` of an id shaped like the ones corridord makes
    /// (`cor-`/`ffm-` and 20 hex digits, `crate::ids`) takes in a bucket file.
    fn on_disk(record: &Record) -> usize {
        let mut frame = Vec::new();
        super::super::log::push_frame(&mut frame, "cor-019af3c2d4e855666921", record).unwrap();
        frame.len()
    }

    /// The size the disk figures in ARCHITECTURE.md and the API document
    /// are computed from: one one-lane sample, framed (4-byte length, the
    /// id). If this changes, recompute them.
    #[test]
    fn a_one_lane_sample_takes_the_documented_bytes() {
        let sample = Record::Sample(one_lane_sample(1_800_000_000_123_456, 123_456, 41.25));
        let framed = on_disk(&sample);
        assert_eq!(
            framed,
            super::super::ONE_LANE_SAMPLE_BYTES,
            "recompute the disk figures"
        );
        let Record::Sample(mut wider) = sample else {
            unreachable!()
        };
        wider.lanes.push(wider.lanes[0].clone());
        let per_lane = on_disk(&Record::Sample(wider)) - framed;
        assert_eq!(
            per_lane,
            super::super::PER_LANE_BYTES,
            "recompute the disk figures"
        );
    }

    /// The bundle sample's size on disk, for the disk figures in
    /// ARCHITECTURE.md: one device, an 8-character domain and host id.
    #[test]
    fn a_bundle_sample_round_trips_and_takes_the_documented_bytes() {
        let sample = Record::Bundle(StoredBundleSample {
            at_us: 1_800_000_000_123_456,
            ledger_revision: 123_456,
            modelled: true,
            achieved_gbs: 12.345_678_901_234_5,
            floor_gbs: 5.0,
            tail_p99_ms: 0.123_456_789_012_3,
            floor_met: true,
            security_domain: "tenantAB".into(),
            host: "h0".into(),
            tier: 1,
            nodes: vec!["h0-dram0".into()],
        });
        let encoded = sample.encode();
        assert_eq!(Record::decode(&encoded).unwrap(), sample);
        assert_eq!(
            on_disk(&sample),
            super::super::BUNDLE_SAMPLE_BYTES,
            "recompute the disk figures"
        );
    }
}
