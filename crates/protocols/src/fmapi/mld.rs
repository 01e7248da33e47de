//! MLD component commands (set 54h, CXL r3.1 §7.6.7.4) and Get Multi-Headed Info (set 55h,
//! §7.6.7.5.1), laid out as libcxlmi's `api-types.h`. Bandwidth shares and limits are a byte
//! per LD holding the fraction × 256.

use super::error::FmApiError;
use super::wire::{Reader, count_u8};

/// Get LD Info response, 11 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LdInfo {
    /// Memory the MLD holds, bytes.
    pub memory_size: u64,
    /// Number of LDs.
    pub ld_count: u16,
    /// Bit 0: egress port congestion supported; bit 1: temporary throughput reduction.
    pub qos_telemetry_caps: u8,
}

impl LdInfo {
    /// Encoded length.
    pub const LEN: usize = 11;

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.memory_size.to_le_bytes());
        out.extend_from_slice(&self.ld_count.to_le_bytes());
        out.push(self.qos_telemetry_caps);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get LD Info response");
        let v = LdInfo {
            memory_size: r.u64()?,
            ld_count: r.u16()?,
            qos_telemetry_caps: r.u8()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// A window of LDs: `count` LDs from `start_ld` (the request of Get LD Allocations, Get QoS
/// Allocated BW, Get QoS BW Limit and Get Multi-Headed Info: two bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LdWindow {
    /// First LD.
    pub start_ld: u8,
    /// Number of LDs (the "list limit" of Get LD Allocations and Get MHD Info).
    pub count: u8,
}

impl LdWindow {
    /// Appends the Get LD Allocations / Get MHD Info order: start, then limit.
    pub fn encode_start_first(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.start_ld, self.count]);
    }

    /// Appends the QoS order: number of LDs, then start.
    pub fn encode_count_first(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.count, self.start_ld]);
    }

    /// Decodes start, then limit.
    pub fn decode_start_first(p: &[u8], what: &'static str) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, what);
        let [start_ld, count] = r.array()?;
        r.finish()?;
        Ok(LdWindow { start_ld, count })
    }

    /// Decodes number of LDs, then start.
    pub fn decode_count_first(p: &[u8], what: &'static str) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, what);
        let [count, start_ld] = r.array()?;
        r.finish()?;
        Ok(LdWindow { start_ld, count })
    }
}

/// One LD's allocation: two ranges, each a multiple of the memory granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LdAllocation {
    /// Range 1 size, in granules.
    pub range1_multiplier: u64,
    /// Range 2 size, in granules.
    pub range2_multiplier: u64,
}

fn encode_allocations(list: &[LdAllocation], out: &mut Vec<u8>) {
    for a in list {
        out.extend_from_slice(&a.range1_multiplier.to_le_bytes());
        out.extend_from_slice(&a.range2_multiplier.to_le_bytes());
    }
}

fn decode_allocations(r: &mut Reader<'_>, n: usize) -> Result<Vec<LdAllocation>, FmApiError> {
    let mut list = Reader::new(r.entries(n, 16)?, "LD allocation list");
    (0..n)
        .map(|_| {
            Ok(LdAllocation {
                range1_multiplier: list.u64()?,
                range2_multiplier: list.u64()?,
            })
        })
        .collect()
}

/// Memory granularity code of Get LD Allocations: 0 = 256 MiB, 1 = 512 MiB, 2 = 1 GiB.
#[must_use]
pub fn granularity_bytes(code: u8) -> Option<u64> {
    match code {
        0 => Some(256 << 20),
        1 => Some(512 << 20),
        2 => Some(1 << 30),
        _ => None,
    }
}

/// Get LD Allocations response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LdAllocations {
    /// LDs the device has.
    pub number_of_lds: u8,
    /// Granularity code ([`granularity_bytes`]).
    pub memory_granularity: u8,
    /// First LD reported.
    pub start_ld: u8,
    /// One entry per reported LD.
    pub allocations: Vec<LdAllocation>,
}

impl LdAllocations {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            self.number_of_lds,
            self.memory_granularity,
            self.start_ld,
            count_u8("Get LD Allocations response", self.allocations.len())?,
        ]);
        encode_allocations(&self.allocations, out);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get LD Allocations response");
        let [number_of_lds, memory_granularity, start_ld, n] = r.array()?;
        let allocations = decode_allocations(&mut r, n.into())?;
        r.finish()?;
        Ok(LdAllocations {
            number_of_lds,
            memory_granularity,
            start_ld,
            allocations,
        })
    }
}

/// Set LD Allocations request and response (the same layout: the response reports what
/// the device accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetLdAllocations {
    /// First LD.
    pub start_ld: u8,
    /// One entry per LD from `start_ld`.
    pub allocations: Vec<LdAllocation>,
}

impl SetLdAllocations {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            count_u8("Set LD Allocations", self.allocations.len())?,
            self.start_ld,
            0,
            0,
        ]);
        encode_allocations(&self.allocations, out);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Set LD Allocations");
        let [n, start_ld, _, _] = r.array()?;
        let allocations = decode_allocations(&mut r, n.into())?;
        r.finish()?;
        Ok(SetLdAllocations {
            start_ld,
            allocations,
        })
    }
}

/// QoS control settings: the Get QoS Control response and the Set QoS Control request and
/// response, 7 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QosControl {
    /// Bit 0: egress port congestion enable; bit 1: temporary throughput reduction enable.
    pub telemetry_control: u8,
    /// Egress moderate percentage (1–100).
    pub egress_moderate_percent: u8,
    /// Egress severe percentage (1–100).
    pub egress_severe_percent: u8,
    /// Backpressure sample interval (0–15, ×100 ns).
    pub backpressure_sample_interval: u8,
    /// ReqCmpBasis (0 disables the completion-based throttle).
    pub req_cmp_basis: u16,
    /// Completion collection interval (×16 ns, ...).
    pub completion_collection_interval: u8,
}

impl Default for QosControl {
    /// The spec's recommended defaults (memory-cxl.md §3): moderate 10 %, severe 25 %,
    /// sample interval 8, ReqCmpBasis off, completion interval 64.
    fn default() -> Self {
        QosControl {
            telemetry_control: 0,
            egress_moderate_percent: 10,
            egress_severe_percent: 25,
            backpressure_sample_interval: 8,
            req_cmp_basis: 0,
            completion_collection_interval: 64,
        }
    }
}

impl QosControl {
    /// Encoded length.
    pub const LEN: usize = 7;

    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[
            self.telemetry_control,
            self.egress_moderate_percent,
            self.egress_severe_percent,
            self.backpressure_sample_interval,
        ]);
        out.extend_from_slice(&self.req_cmp_basis.to_le_bytes());
        out.push(self.completion_collection_interval);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "QoS Control");
        let [telemetry_control, moderate, severe, interval] = r.array()?;
        let v = QosControl {
            telemetry_control,
            egress_moderate_percent: moderate,
            egress_severe_percent: severe,
            backpressure_sample_interval: interval,
            req_cmp_basis: r.u16()?,
            completion_collection_interval: r.u8()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// Get QoS Status response, 1 byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QosStatus {
    /// Average backpressure, percent.
    pub backpressure_average_percent: u8,
}

impl QosStatus {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.backpressure_average_percent);
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get QoS Status response");
        let v = QosStatus {
            backpressure_average_percent: r.u8()?,
        };
        r.finish()?;
        Ok(v)
    }
}

/// Per-LD bandwidth fractions (×256): the Get responses and Set requests/responses of QoS
/// Allocated BW and QoS BW Limit share this layout — number of LDs, start LD, one byte per LD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QosFractions {
    /// First LD.
    pub start_ld: u8,
    /// Fraction × 256 per LD from `start_ld`.
    pub fractions: Vec<u8>,
}

impl QosFractions {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.push(count_u8("QoS bandwidth fractions", self.fractions.len())?);
        out.push(self.start_ld);
        out.extend_from_slice(&self.fractions);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "QoS bandwidth fractions");
        let [n, start_ld] = r.array()?;
        let fractions = r.entries(n.into(), 1)?.to_vec();
        r.finish()?;
        Ok(QosFractions {
            start_ld,
            fractions,
        })
    }
}

/// Get Multi-Headed Info response (CXL r3.2 §7.6.7.5.1): 8 bytes and one LD-map byte per
/// reported LD (the head each LD is mapped to).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MhdInfo {
    /// LDs of the device.
    pub num_lds: u8,
    /// Heads (upstream ports) of the device.
    pub num_heads: u8,
    /// First LD of the map.
    pub start_ld: u8,
    /// Head per LD from `start_ld`.
    pub ld_map: Vec<u8>,
}

impl MhdInfo {
    /// Appends the payload.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FmApiError> {
        out.extend_from_slice(&[
            self.num_lds,
            self.num_heads,
            0,
            0,
            self.start_ld,
            count_u8("Get Multi-Headed Info response", self.ld_map.len())?,
            0,
            0,
        ]);
        out.extend_from_slice(&self.ld_map);
        Ok(())
    }

    /// Decodes the payload.
    pub fn decode(p: &[u8]) -> Result<Self, FmApiError> {
        let mut r = Reader::new(p, "Get Multi-Headed Info response");
        let [num_lds, num_heads, _, _, start_ld, n, _, _] = r.array()?;
        let ld_map = r.entries(n.into(), 1)?.to_vec();
        r.finish()?;
        Ok(MhdInfo {
            num_lds,
            num_heads,
            start_ld,
            ld_map,
        })
    }
}
