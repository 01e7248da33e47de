//! The HELIOPASS vendor ring page (B0h–B3h): golden bytes computed by hand from the layout in
//! `cmis::ring_page`, and a property round trip.

use corridor_protocols::cmis::ring_page::{
    LANE_BLOCK_LEN, LockState, LockStatus, RingLaneRegs, RingPage, RingPageHeader,
};
use proptest::prelude::*;

/// Default header, lane 1 = heater 12.5 mW, PD 100 µA, bias −1.25 V, locked, BER 2.4e-4,
/// offset +150 MHz, error −37 MHz, 26.5 °C; lane 8 = lost, heater at rail.
fn golden() -> [u8; 128] {
    let mut b = [0u8; 128];
    b[0] = 0x01; // revision 1
    b[1] = 0xFF; // 8 lanes present
    b[2] = 0x0B; // heater full scale 0x0BB8 = 3000 × 10 µW = 30 mW
    b[3] = 0xB8;
    b[4] = 16; // DAC bits
    b[5] = 16; // ADC bits
    b[6] = 0x07; // PD full scale 0x07D0 = 2000 × 0.1 µA = 200 µA
    b[7] = 0xD0;
    // lane 1 at byte 136 (index 8)
    // heater 12.5 mW: 12.5 / (30/65535) = 27306.25 → 27306 = 0x6AAA
    b[8] = 0x6A;
    b[9] = 0xAA;
    // PD 100 µA: 100 / (200/65535) = 32767.5 → rounds half away from zero to 32768 = 0x8000
    b[10] = 0x80;
    b[11] = 0x00;
    // bias −1.25 V = −1250 mV = 0xFB1E
    b[12] = 0xFB;
    b[13] = 0x1E;
    b[14] = 0x02; // Locked
    // BER 2.4e-4 in F16 = 240·10^(18−24): e = 18 → 0b10010 << 11 = 0x9000, m = 240 = 0xF0
    b[15] = 0x90;
    b[16] = 0xF0;
    b[17] = 0x00; // +150 MHz = 0x0096
    b[18] = 0x96;
    b[19] = 0xFF; // −37 MHz = 0xFFDB
    b[20] = 0xDB;
    b[21] = 0x1A; // 26.5 °C × 256 = 6784 = 0x1A80
    b[22] = 0x80;
    // lane 8 at byte 136 + 7·15 = 241 (index 113): lock byte at +6 = index 119
    b[8 + 7 * LANE_BLOCK_LEN + 6] = 0x07; // Lost (3) | heater at rail (bit 2)
    b
}

#[test]
fn golden_decodes() {
    let p = RingPage::decode(&golden(), 0xB0).unwrap();
    assert_eq!(p.header, RingPageHeader::DEFAULT);
    let l = p.lanes[0];
    assert!((p.header.heater_mw(l.heater_code) - 12.5).abs() < p.header.heater_lsb_mw());
    assert!((p.header.pd_ua(l.pd_code) - 100.0).abs() < p.header.pd_lsb_ua());
    assert_eq!(l.bias_v(), -1.25);
    assert_eq!(l.lock.state, LockState::Locked);
    assert!((l.pre_fec_ber() - 2.4e-4).abs() < 1e-12);
    assert_eq!(l.laser_offset_mhz, 150);
    assert_eq!(l.laser_error_mhz, -37);
    assert_eq!(l.temperature_c(), 26.5);
    assert_eq!(
        p.lanes[7].lock,
        LockStatus {
            state: LockState::Lost,
            heater_at_rail: true,
            pd_saturated: false
        }
    );
    for k in 1..7 {
        assert_eq!(p.lanes[k], RingLaneRegs::default());
    }
}

#[test]
fn golden_encodes() {
    let h = RingPageHeader::DEFAULT;
    let mut p = RingPage::new(h);
    p.lanes[0] = RingLaneRegs {
        heater_code: h.heater_code(12.5),
        pd_code: h.pd_code(100.0),
        bias_mv: RingLaneRegs::bias_mv_for(-1.25),
        lock: LockStatus {
            state: LockState::Locked,
            ..LockStatus::default()
        },
        pre_fec_ber_f16: corridor_protocols::cmis::f16::encode(2.4e-4).unwrap(),
        laser_offset_mhz: 150,
        laser_error_mhz: -37,
        temperature_256: RingLaneRegs::temperature_256_for(26.5),
    };
    p.lanes[7].lock = LockStatus {
        state: LockState::Lost,
        heater_at_rail: true,
        pd_saturated: false,
    };
    assert_eq!(p.encode(), golden());
}

#[test]
fn bad_pages_are_refused_with_the_byte() {
    let mut b = golden();
    b[0] = 2;
    assert!(format!("{}", RingPage::decode(&b, 0xB0).unwrap_err()).contains("byte 128"));
    let mut b = golden();
    b[4] = 17;
    assert!(format!("{}", RingPage::decode(&b, 0xB1).unwrap_err()).contains("byte 132"));
    let mut b = golden();
    b[14] = 0x12; // reserved bit 4 of lane 1's lock byte (CMIS byte 142)
    assert!(format!("{}", RingPage::decode(&b, 0xB0).unwrap_err()).contains("byte 142"));
    let mut b = golden();
    b[6] = 0;
    b[7] = 0;
    assert!(RingPage::decode(&b, 0xB0).is_err());
}

fn arb_lane() -> impl Strategy<Value = RingLaneRegs> {
    (
        any::<u16>(),
        any::<u16>(),
        any::<i16>(),
        0u8..16,
        any::<u16>(),
        any::<i16>(),
        any::<i16>(),
        any::<i16>(),
    )
        .prop_map(|(h, pd, bias, lock, ber, off, err, t)| RingLaneRegs {
            heater_code: h,
            pd_code: pd,
            bias_mv: bias,
            lock: LockStatus::decode(lock, 0xB0, 142).unwrap(),
            pre_fec_ber_f16: ber,
            laser_offset_mhz: off,
            laser_error_mhz: err,
            temperature_256: t,
        })
}

proptest! {
    #[test]
    fn round_trip(
        present in any::<u8>(), fs in 1u16.., dac in 1u8..=16, adc in 1u8..=16, pdfs in 1u16..,
        lanes in proptest::array::uniform8(arb_lane()),
    ) {
        let p = RingPage {
            header: RingPageHeader {
                lanes_present: present,
                heater_full_scale_10uw: fs,
                heater_dac_bits: dac,
                pd_adc_bits: adc,
                pd_full_scale_100na: pdfs,
            },
            lanes,
        };
        let bytes = p.encode();
        prop_assert_eq!(RingPage::decode(&bytes, 0xB0).unwrap(), p);
        // and bytes → page → bytes is the identity on every page the decoder accepts
        prop_assert_eq!(RingPage::decode(&bytes, 0xB0).unwrap().encode(), bytes);
    }

    #[test]
    fn heater_quantisation_within_half_lsb(mw in 0.0f64..30.0, bits in 8u8..=16) {
        let h = RingPageHeader { heater_dac_bits: bits, ..RingPageHeader::DEFAULT };
        let back = h.heater_mw(h.heater_code(mw));
        prop_assert!((back - mw).abs() <= h.heater_lsb_mw() / 2.0 + 1e-12);
    }
}
