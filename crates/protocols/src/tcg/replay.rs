//! Replays an event log into the PCR values a TPM that saw the same extends would hold.
//!
//! Rules (TCG PC Client Platform Firmware Profile §3.3.3 and §10.4.5; go-attestation's
//! `docs/event-log-disclosure.md`):
//! * `EV_NO_ACTION` events are informational and never extended;
//! * PCRs 0–16 and 23 start at all zeros, PCRs 17–22 (the dynamic-launch PCRs) at all 0xFF;
//! * an `EV_NO_ACTION` in PCR 0 whose data is `"StartupLocality\0"` followed by one byte sets
//!   PCR 0's starting value to zeros ending in that byte (the locality `TPM2_Startup` ran
//!   at, 3 for an H-CRTM); it must come before PCR 0's first extend;
//! * every other event extends each bank: `new = H(old || digest)`.
//!
//! Which PCRs the log extended is kept, so a verifier can refuse a quoted PCR that no event
//! explains.

use std::collections::{BTreeMap, BTreeSet};

use super::alg::{HashAlg, Hasher};
use super::error::{Result, TcgError};
use super::event_log::{EventLog, MAX_PCR};
use super::event_type::EventType;

/// The data of the StartupLocality `EV_NO_ACTION` event before its locality byte.
pub const STARTUP_LOCALITY_SIGNATURE: &[u8; 16] = b"StartupLocality\0";

/// PCR values per bank after replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayedPcrs {
    banks: BTreeMap<HashAlg, Vec<Vec<u8>>>,
    extended: BTreeSet<u8>,
    startup_locality: Option<u8>,
}

impl ReplayedPcrs {
    /// The value of `pcr` in bank `alg` (the starting value when no event extended it), or
    /// `None` when the log has no such bank or the index is above 23.
    #[must_use]
    pub fn value(&self, alg: HashAlg, pcr: u8) -> Option<&[u8]> {
        self.banks
            .get(&alg)?
            .get(usize::from(pcr))
            .map(Vec::as_slice)
    }

    /// Whether at least one event extended `pcr`.
    #[must_use]
    pub fn was_extended(&self, pcr: u8) -> bool {
        self.extended.contains(&pcr)
    }

    /// The PCRs some event extended, ascending.
    pub fn extended(&self) -> impl Iterator<Item = u8> + '_ {
        self.extended.iter().copied()
    }

    /// The banks replayed.
    pub fn banks(&self) -> impl Iterator<Item = HashAlg> + '_ {
        self.banks.keys().copied()
    }

    /// The locality of the StartupLocality event, if the log has one.
    #[must_use]
    pub fn startup_locality(&self) -> Option<u8> {
        self.startup_locality
    }
}

/// The value a PCR holds after `TPM2_Startup(CLEAR)` at locality 0.
#[must_use]
pub fn initial_value(alg: HashAlg, pcr: u8) -> Vec<u8> {
    let fill = if (17..=22).contains(&pcr) { 0xFF } else { 0x00 };
    vec![fill; alg.digest_len()]
}

/// Replays `log` with `hasher`.
///
/// # Errors
/// [`TcgError::HasherLacks`] when `hasher` cannot compute one of the log's banks;
/// [`TcgError::NotCryptoAgile`] for a malformed or late StartupLocality event.
pub fn replay(log: &EventLog, hasher: &dyn Hasher) -> Result<ReplayedPcrs> {
    let mut banks = BTreeMap::new();
    for &alg in &log.spec_id.algorithms {
        let values = (0..=MAX_PCR)
            .map(|p| initial_value(alg, p))
            .collect::<Vec<_>>();
        banks.insert(alg, values);
    }
    let mut extended = BTreeSet::new();
    let mut startup_locality = None;
    for event in &log.events {
        if event.event_type == EventType::EV_NO_ACTION {
            if event.pcr == 0 && event.data.starts_with(STARTUP_LOCALITY_SIGNATURE) {
                let &[locality] = &event.data[STARTUP_LOCALITY_SIGNATURE.len()..] else {
                    return Err(TcgError::NotCryptoAgile(
                        "StartupLocality event data is not 16 + 1 bytes",
                    ));
                };
                if extended.contains(&0) || startup_locality.is_some() {
                    return Err(TcgError::NotCryptoAgile(
                        "StartupLocality event after PCR 0 was extended or repeated",
                    ));
                }
                startup_locality = Some(locality);
                for value in banks.values_mut() {
                    if let Some(last) = value[0].last_mut() {
                        *last = locality;
                    }
                }
            }
            continue;
        }
        for (alg, values) in &mut banks {
            // The parser guarantees one digest per header bank; a hand-built log may not.
            let Some(digest) = event.digest(*alg) else {
                return Err(TcgError::BankMismatch {
                    event: event.number,
                    found: u32::try_from(event.digests.len()).unwrap_or(u32::MAX),
                    expected: log.spec_id.algorithms.len(),
                });
            };
            let slot = values
                .get_mut(usize::from(event.pcr))
                .ok_or(TcgError::PcrOutOfRange {
                    event: event.number,
                    pcr: u32::from(event.pcr),
                })?;
            *slot = hasher
                .digest(*alg, &[slot, digest])
                .ok_or(TcgError::HasherLacks(*alg))?;
        }
        extended.insert(event.pcr);
    }
    Ok(ReplayedPcrs {
        banks,
        extended,
        startup_locality,
    })
}
