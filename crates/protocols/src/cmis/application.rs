//! What a CMIS Application carries on each media lane: the lane signal behind an application
//! descriptor's media interface ID.
//!
//! A CMIS module advertises its Applications as descriptors (lower page 86+4(n−1); photonics.md
//! §1): a host electrical interface ID, a media interface ID (SFF-8024 codes), and host/media
//! lane counts. The descriptor itself holds no rate: the media interface ID names a PMD whose
//! standard fixes the signalling rate and modulation of each media lane. [`MEDIA_INTERFACES`]
//! is that mapping for the single-mode-fibre codes (media type 0x02) this workspace uses, so a
//! port's advertisements are the single source of what its lanes can carry.
//!
//! Standard codes are from SFF-8024's SMF media interface table (as SONiC's `sff8024.py`
//! prints it) with the lane signal of the IEEE 802.3 clause each names. The twin's corridor
//! lane that no standard names (the 32 Gb/s NRZ DWDM lane of Intel OCI) uses a code from
//! 0xC0 up, which SFF-8024 leaves to custom use; a real module behind the Linux backend that
//! advertises a code missing here carries nothing the planner can use.

use super::map::ApplicationDescriptor;

/// Modulation of a media lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaneModulation {
    /// Two levels, one bit per symbol.
    Nrz,
    /// Four levels, two bits per symbol.
    Pam4,
}

/// One media interface ID and the signal on each of its media lanes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MediaInterface {
    /// SFF-8024 SMF media interface ID (descriptor byte 1).
    pub id: u8,
    /// Name, as SFF-8024 gives it (custom codes: ours).
    pub name: &'static str,
    /// Line rate of one media lane, Gb/s (FEC overhead included).
    pub lane_gbps: f64,
    /// Modulation of one media lane.
    pub modulation: LaneModulation,
}

/// Host interface ID of the twin's custom applications (SFF-8024 leaves 0xC0 up to custom use;
/// the twin does not model the host electrical side).
pub const CUSTOM_HOST_INTERFACE: u8 = 0xC0;

/// The media interface IDs whose lane signal is known.
pub const MEDIA_INTERFACES: &[MediaInterface] = &[
    // 50GBASE-FR (IEEE 802.3cd clause 139): one λ of 26.5625 GBd PAM4 = 53.125 Gb/s.
    MediaInterface {
        id: 11,
        name: "50GBASE-FR",
        lane_gbps: 53.125,
        modulation: LaneModulation::Pam4,
    },
    // 400GBASE-FR8 (IEEE 802.3bs clause 122): eight λ of 26.5625 GBd PAM4 = 8 × 53.125 Gb/s.
    MediaInterface {
        id: 26,
        name: "400GBASE-FR8",
        lane_gbps: 53.125,
        modulation: LaneModulation::Pam4,
    },
    // 400GBASE-DR4 (IEEE 802.3bs clause 124): four lanes of 53.125 GBd PAM4 = 4 × 106.25 Gb/s
    // (the xcvr-emu profile of photonics.md §1).
    MediaInterface {
        id: 28,
        name: "400GBASE-DR4",
        lane_gbps: 106.25,
        modulation: LaneModulation::Pam4,
    },
    // Custom: a 32 GBd NRZ DWDM lane, as Intel OCI's 32 Gb/s per λ (photonics.md §2).
    MediaInterface {
        id: 0xC0,
        name: "corridor DWDM 32G NRZ",
        lane_gbps: 32.0,
        modulation: LaneModulation::Nrz,
    },
];

/// The media interface with ID `id`, if its lane signal is known.
#[must_use]
pub fn media_interface(id: u8) -> Option<&'static MediaInterface> {
    MEDIA_INTERFACES.iter().find(|m| m.id == id)
}

/// What one advertised application carries: its ApSel, its media lane count and the signal on
/// each media lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LaneCapability {
    /// The application's index (ApSel, 1–15).
    pub ap_sel: u8,
    /// Media lanes one data path of the application uses.
    pub media_lanes: u8,
    /// Host lane assignment options (bit i: a data path may start at lane i+1 of a bank).
    pub host_lane_assignment: u8,
    /// The media interface.
    pub media: MediaInterface,
}

impl LaneCapability {
    /// The capability of advertised application `ap_sel`, if its media interface is known.
    #[must_use]
    pub fn of(ap_sel: u8, d: &ApplicationDescriptor) -> Option<Self> {
        Some(Self {
            ap_sel,
            media_lanes: d.media_lane_count,
            host_lane_assignment: d.host_lane_assignment,
            media: *media_interface(d.media_interface_id)?,
        })
    }

    /// Whether a data path of this application may start at lane `first` (1–8) of a bank.
    #[must_use]
    pub fn may_start_at(&self, first: u8) -> bool {
        (1..=8).contains(&first) && self.host_lane_assignment & (1 << (first - 1)) != 0
    }

    /// How it reads in messages: `ApSel 1 (400GBASE-FR8, 8 × 53.125 Gb/s PAM4)`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "ApSel {} ({}, {} × {} Gb/s {})",
            self.ap_sel,
            self.media.name,
            self.media_lanes,
            self.media.lane_gbps,
            match self.media.modulation {
                LaneModulation::Nrz => "NRZ",
                LaneModulation::Pam4 => "PAM4",
            }
        )
    }
}

/// The descriptors a module advertises for lanes of `lane_gbps` `modulation`: a whole-bank
/// application (`bank_lanes` media lanes, data path starting at lane 1) and a single-lane one
/// (any first lane), or `None` if no media interface ID of [`MEDIA_INTERFACES`] has that lane
/// signal. Standard codes are preferred (400GBASE-FR8 for 8 × 53.125 Gb/s PAM4, 50GBASE-FR
/// for one such lane) where the lane count matches the PMD.
#[must_use]
pub fn advertisements(
    lane_gbps: f64,
    modulation: LaneModulation,
    bank_lanes: u8,
) -> Option<[ApplicationDescriptor; 2]> {
    let same =
        |m: &&MediaInterface| m.modulation == modulation && (m.lane_gbps - lane_gbps).abs() < 1e-9;
    let pick = |lanes: u8| -> Option<(u8, u8)> {
        // Standard PMD whose lane count is `lanes`, with its host interface (SFF-8024 host
        // IDs: 400GAUI-8 C2M = 17, 50GAUI-1 C2M = 10).
        let standard = match (lanes, modulation) {
            (8, LaneModulation::Pam4) if (lane_gbps - 53.125).abs() < 1e-9 => Some((17, 26)),
            (1, LaneModulation::Pam4) if (lane_gbps - 53.125).abs() < 1e-9 => Some((10, 11)),
            _ => None,
        };
        standard.or_else(|| {
            MEDIA_INTERFACES
                .iter()
                .filter(|m| m.id >= 0xC0)
                .find(same)
                .map(|m| (CUSTOM_HOST_INTERFACE, m.id))
        })
    };
    let descriptor = |lanes: u8, assignment: u8| -> Option<ApplicationDescriptor> {
        let (host, media) = pick(lanes)?;
        Some(ApplicationDescriptor {
            host_interface_id: host,
            media_interface_id: media,
            host_lane_count: lanes,
            media_lane_count: lanes,
            host_lane_assignment: assignment,
        })
    };
    Some([descriptor(bank_lanes, 0x01)?, descriptor(1, 0xFF)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_carry_their_standard_lane() {
        let fr8 = media_interface(26).unwrap();
        assert_eq!(
            (fr8.lane_gbps, fr8.modulation),
            (53.125, LaneModulation::Pam4)
        );
        assert!(media_interface(0x7F).is_none());
    }

    #[test]
    fn advertisements_round_trip_through_capabilities() {
        let [bank, single] = advertisements(53.125, LaneModulation::Pam4, 8).unwrap();
        assert_eq!((bank.host_interface_id, bank.media_interface_id), (17, 26));
        assert_eq!(
            (single.host_interface_id, single.media_interface_id),
            (10, 11)
        );
        let cap = LaneCapability::of(1, &bank).unwrap();
        assert_eq!(cap.media_lanes, 8);
        assert!(cap.may_start_at(1) && !cap.may_start_at(2));
        assert_eq!(
            cap.describe(),
            "ApSel 1 (400GBASE-FR8, 8 × 53.125 Gb/s PAM4)"
        );
        let [bank, single] = advertisements(32.0, LaneModulation::Nrz, 4).unwrap();
        assert_eq!(bank.media_interface_id, 0xC0);
        assert_eq!((bank.media_lane_count, single.media_lane_count), (4, 1));
        assert!(LaneCapability::of(2, &single).unwrap().may_start_at(7));
        assert!(advertisements(40.0, LaneModulation::Nrz, 8).is_none());
    }
}
