//! What attestd trusts: the vendor roots device chains must lead to, each
//! device's pinned key, and its reference measurements.
//!
//! On the twin they are taken from the twin itself at start, as an operator
//! would at enrolment: the twin vendor CA, each genuine device certificate's
//! SPKI, and the measurements of the firmware the topology names. A device
//! that later answers with another key, chain or firmware is refused.

use std::collections::BTreeMap;

use corridor_attest::spdm::DevicePolicy;
use corridor_attest::ticket::PolicyHash;
use corridor_hal::attestation::{TwinSpdm, reference_measurements};
use corridor_pki::pinning::SpkiPin;

/// One device's reference: its pinned key and expected measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReference {
    pub pin: SpkiPin,
    /// Measurement block index → expected digest.
    pub measurements: Vec<(u8, Vec<u8>)>,
}

#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    roots: Vec<Vec<u8>>,
    devices: BTreeMap<String, DeviceReference>,
}

impl TrustAnchors {
    /// The twin's vendor root and every twin device's genuine key and firmware.
    ///
    /// # Errors
    /// A genuine certificate that does not parse (a twin bug).
    pub fn of_twin(twin: &TwinSpdm) -> Result<Self, corridor_pki::pinning::PinError> {
        let mut devices = BTreeMap::new();
        for device in twin.devices() {
            let Some(der) = twin.device_certificate_der(&device.id) else {
                continue;
            };
            devices.insert(
                device.id.clone(),
                DeviceReference {
                    pin: SpkiPin::of_certificate(der)?,
                    measurements: reference_measurements(device, twin.config().measurement_hash),
                },
            );
        }
        Ok(Self {
            roots: vec![twin.vendor_root_der().to_vec()],
            devices,
        })
    }

    /// Whether `device` has a reference (only those can be attested).
    pub fn knows(&self, device: &str) -> bool {
        self.devices.contains_key(device)
    }

    /// The policy the requester checks `device` against, certificates
    /// judged at `now_unix`.
    pub fn policy(&self, device: &str, now_unix: i64) -> Option<DevicePolicy> {
        let reference = self.devices.get(device)?;
        Some(DevicePolicy {
            roots: self.roots.clone(),
            pins: vec![reference.pin],
            reference: reference.measurements.clone(),
            now_unix: Some(now_unix),
        })
    }

    /// SHA-256 over everything trusted (roots, then each device's pin and
    /// measurements in id order): a ticket names the policy it was
    /// appraised under, and any change of anchors changes the hash.
    pub fn hash(&self) -> PolicyHash {
        let mut doc = Vec::new();
        for root in &self.roots {
            doc.extend_from_slice(&(root.len() as u64).to_be_bytes());
            doc.extend_from_slice(root);
        }
        for (id, reference) in &self.devices {
            doc.extend_from_slice(&(id.len() as u64).to_be_bytes());
            doc.extend_from_slice(id.as_bytes());
            doc.extend_from_slice(reference.pin.to_string().as_bytes());
            for (index, digest) in &reference.measurements {
                doc.push(*index);
                doc.extend_from_slice(&(digest.len() as u64).to_be_bytes());
                doc.extend_from_slice(digest);
            }
        }
        PolicyHash::of(&doc)
    }
}
