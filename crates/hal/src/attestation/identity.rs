//! Which devices of a topology attest over SPDM, and the firmware their measurements are
//! derived from.
//!
//! The twin models three kinds of SPDM responder: CXL switches and CXL memory devices (whose
//! topology entries carry a firmware version) and the CMIS optical modules of the optical
//! ports (whose firmware is the project's module simulator, [`CMIS_TWIN_FIRMWARE`]). A
//! device's "firmware image" is the byte string [`AttestableDevice::firmware_image`] — kind,
//! vendor, model, firmware version — so changing the firmware version in the topology
//! changes the firmware measurement, as a flash would.
//!
//! Measurement blocks (DMTF format), all digests of the negotiated measurement hash:
//!
//! | index | DMTF type | digest of |
//! |---|---|---|
//! | 1 | 0 immutable ROM | `"rom" ‖ kind ‖ vendor ‖ model` |
//! | 2 | 1 mutable firmware | the firmware image |
//! | 3 | 3 firmware configuration | `"config" ‖ kind ‖ serial` |
//!
//! [`reference_measurements`] computes the same values from the topology: they are the
//! reference values a vendor would publish for that firmware, and what the verifier
//! compares against.

use aws_lc_rs::digest;
use corridor_protocols::spdm::measurement::value_type;
use corridor_protocols::spdm::{HashAlgo, MeasurementBlock};

use crate::topology::Topology;

/// The firmware the twin's CMIS modules run (the project's module simulator).
pub const CMIS_TWIN_FIRMWARE: &str = "corridor-cmis-sim 5.2";

/// Kinds of twin SPDM responders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    CxlSwitch,
    CxlDevice,
    OpticalModule,
}

impl DeviceKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::CxlSwitch => "cxl-switch",
            DeviceKind::CxlDevice => "cxl-device",
            DeviceKind::OpticalModule => "optical-module",
        }
    }
}

/// A device that answers SPDM, as the topology describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestableDevice {
    /// The topology id (switch, CXL device or optical port id).
    pub id: String,
    pub kind: DeviceKind,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub firmware_version: String,
}

impl AttestableDevice {
    /// The bytes the twin treats as the device's firmware image.
    #[must_use]
    pub fn firmware_image(&self) -> Vec<u8> {
        join(&[
            b"corridor-twin-firmware",
            self.kind.as_str().as_bytes(),
            self.vendor.as_bytes(),
            self.model.as_bytes(),
            self.firmware_version.as_bytes(),
        ])
    }

    /// The measurement blocks of this device's genuine firmware, digests of `hash`.
    #[must_use]
    pub fn measurement_blocks(&self, hash: HashAlgo) -> Vec<MeasurementBlock> {
        let rom = join(&[
            b"rom",
            self.kind.as_str().as_bytes(),
            self.vendor.as_bytes(),
            self.model.as_bytes(),
        ]);
        let config = join(&[
            b"config",
            self.kind.as_str().as_bytes(),
            self.serial.as_bytes(),
        ]);
        vec![
            block(1, value_type::IMMUTABLE_ROM, hash, &rom),
            block(
                2,
                value_type::MUTABLE_FIRMWARE,
                hash,
                &self.firmware_image(),
            ),
            block(3, value_type::FIRMWARE_CONFIG, hash, &config),
        ]
    }
}

/// The index of the mutable-firmware block (the one a tampered firmware changes).
pub const FIRMWARE_INDEX: u8 = 2;

fn join(parts: &[&[u8]]) -> Vec<u8> {
    // NUL-separated so that ("ab","c") and ("a","bc") differ.
    parts.join(&0u8)
}

fn block(index: u8, value_type: u8, hash: HashAlgo, data: &[u8]) -> MeasurementBlock {
    MeasurementBlock {
        index,
        value_type,
        value: hash_bytes(hash, &[data]),
    }
}

/// The digest of the concatenation of `parts`.
#[must_use]
pub fn hash_bytes(hash: HashAlgo, parts: &[&[u8]]) -> Vec<u8> {
    let alg = match hash {
        HashAlgo::Sha256 => &digest::SHA256,
        HashAlgo::Sha384 => &digest::SHA384,
        HashAlgo::Sha512 => &digest::SHA512,
    };
    let mut ctx = digest::Context::new(alg);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// Every device of `topology` that answers SPDM, in topology order: switches, CXL devices,
/// then optical modules.
#[must_use]
pub fn attestable_devices(topology: &Topology) -> Vec<AttestableDevice> {
    let switches = topology.cxl_switches().iter().map(|s| AttestableDevice {
        id: s.id.to_string(),
        kind: DeviceKind::CxlSwitch,
        vendor: s.vendor_id.to_string(),
        model: s.device_id.to_string(),
        serial: s.serial_number.clone(),
        firmware_version: s.firmware_version.clone(),
    });
    let devices = topology.cxl_devices().iter().map(|d| AttestableDevice {
        id: d.id.to_string(),
        kind: DeviceKind::CxlDevice,
        vendor: d.vendor_id.to_string(),
        model: d.device_id.to_string(),
        serial: d.serial_number.clone(),
        firmware_version: d.firmware_version.clone(),
    });
    let modules = topology.optical_ports().iter().map(|p| AttestableDevice {
        id: p.id.to_string(),
        kind: DeviceKind::OpticalModule,
        vendor: p.module.vendor_name.to_string(),
        model: p.module.part_number.to_string(),
        serial: p.module.serial.to_string(),
        firmware_version: CMIS_TWIN_FIRMWARE.to_string(),
    });
    switches.chain(devices).chain(modules).collect()
}

/// The reference values of `device`: index → expected digest (of `hash`).
#[must_use]
pub fn reference_measurements(device: &AttestableDevice, hash: HashAlgo) -> Vec<(u8, Vec<u8>)> {
    device
        .measurement_blocks(hash)
        .into_iter()
        .map(|b| (b.index, b.value))
        .collect()
}
