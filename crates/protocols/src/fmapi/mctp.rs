//! MCTP packetisation of FM API messages (DMTF DSP0236 §8.1) and the TCP stream framing of
//! JackrabbitLabs' CXL switch emulator (`JackrabbitLabs/mctp`: `main.h` `struct mctp_pkt`,
//! `threads.c` socket reader/writer).
//!
//! An MCTP message is a one-byte message type (07h = CXL FM API, 08h = CXL CCI; DSP0239)
//! followed by the message body — here one whole CCI message. It travels in packets of a
//! 4-byte transport header and at most one baseline transmission unit (64 bytes) of body:
//!
//! | byte | bits |
//! |---|---|
//! | 0 | 7:4 reserved, 3:0 header version (1) |
//! | 1 | destination endpoint id |
//! | 2 | source endpoint id |
//! | 3 | 7 SOM, 6 EOM, 5:4 packet sequence (mod 4), 3 tag owner, 2:0 message tag |
//!
//! **Stream framing.** The emulator writes every packet as a fixed 68-byte record (header +
//! a 64-byte body zero-padded on the last packet) on one TCP connection, and reads 68 bytes
//! at a time; the true message length comes from the CCI header inside. This module does
//! the same: [`packetize`] writes 68-byte records and [`trim_cci`] cuts the padding using
//! the CCI payload length, refusing a message that is shorter than its header says or that
//! carries a whole packet more than it needs.
//!
//! On a Linux `AF_MCTP` socket none of this travels in the buffer: the kernel packetises,
//! and the type byte goes in `sockaddr_mctp.smctp_type` (memory-cxl.md §3).

use super::error::FmApiError;
use super::header::{CciHeader, HEADER_LEN, MAX_PAYLOAD};

/// MCTP message type of the CXL FM API (DSP0239).
pub const MESSAGE_TYPE_FM_API: u8 = 0x07;
/// MCTP message type of CXL CCI (component commands).
pub const MESSAGE_TYPE_CXL_CCI: u8 = 0x08;
/// MCTP baseline transmission unit: body bytes per packet.
pub const BTU: usize = 64;
/// Length of the MCTP transport header.
pub const TRANSPORT_HEADER_LEN: usize = 4;
/// Length of one packet record on the TCP stream.
pub const TCP_PACKET_LEN: usize = TRANSPORT_HEADER_LEN + BTU;
/// Largest message body reassembled: the type byte and the largest CCI message.
pub const MAX_MESSAGE_LEN: usize = 1 + HEADER_LEN + MAX_PAYLOAD;

/// The 4-byte MCTP transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransportHeader {
    /// Destination endpoint id.
    pub dest_eid: u8,
    /// Source endpoint id.
    pub src_eid: u8,
    /// Start of message.
    pub som: bool,
    /// End of message.
    pub eom: bool,
    /// Packet sequence number, 0–3.
    pub seq: u8,
    /// Set by the requester (the tag's owner), clear in responses.
    pub tag_owner: bool,
    /// Message tag, 0–7.
    pub tag: u8,
}

impl TransportHeader {
    /// The 4 header bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; TRANSPORT_HEADER_LEN] {
        [
            1,
            self.dest_eid,
            self.src_eid,
            u8::from(self.som) << 7
                | u8::from(self.eom) << 6
                | (self.seq & 3) << 4
                | u8::from(self.tag_owner) << 3
                | (self.tag & 7),
        ]
    }

    /// Decodes 4 header bytes.
    pub fn decode(b: &[u8; TRANSPORT_HEADER_LEN]) -> Result<Self, FmApiError> {
        if b[0] & 0x0f != 1 {
            return Err(FmApiError::MctpVersion(b[0] & 0x0f));
        }
        Ok(TransportHeader {
            dest_eid: b[1],
            src_eid: b[2],
            som: b[3] & 0x80 != 0,
            eom: b[3] & 0x40 != 0,
            seq: (b[3] >> 4) & 3,
            tag_owner: b[3] & 0x08 != 0,
            tag: b[3] & 7,
        })
    }
}

/// Who a message goes to and under which tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination endpoint id.
    pub dest_eid: u8,
    /// Source endpoint id.
    pub src_eid: u8,
    /// Message tag, 0–7.
    pub tag: u8,
    /// Whether the sender owns the tag (requests: yes; responses: no).
    pub tag_owner: bool,
}

/// Appends `message_type` + `body` as 68-byte packet records to `out`.
pub fn packetize(route: Route, message_type: u8, body: &[u8], out: &mut Vec<u8>) {
    let total = 1 + body.len();
    let packets = total.div_ceil(BTU);
    out.reserve(packets * TCP_PACKET_LEN);
    for i in 0..packets {
        let header = TransportHeader {
            dest_eid: route.dest_eid,
            src_eid: route.src_eid,
            som: i == 0,
            eom: i + 1 == packets,
            seq: (i % 4) as u8,
            tag_owner: route.tag_owner,
            tag: route.tag,
        };
        out.extend_from_slice(&header.to_bytes());
        let start = out.len();
        // Body offset `i * BTU` counts the type byte as offset 0.
        let lo = i * BTU;
        let hi = (lo + BTU).min(total);
        if lo == 0 {
            out.push(message_type);
            out.extend_from_slice(&body[..hi - 1]);
        } else {
            out.extend_from_slice(&body[lo - 1..hi - 1]);
        }
        out.resize(start + BTU, 0);
    }
}

/// One reassembled MCTP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MctpMessage {
    /// Source endpoint id.
    pub src_eid: u8,
    /// Destination endpoint id.
    pub dest_eid: u8,
    /// Message tag.
    pub tag: u8,
    /// Tag owner bit.
    pub tag_owner: bool,
    /// The message type byte.
    pub message_type: u8,
    /// The body after the type byte, with the last packet's zero padding.
    pub padded_body: Vec<u8>,
}

/// Collects 68-byte packet records into messages.
#[derive(Debug, Default)]
pub struct Reassembler {
    body: Vec<u8>,
    in_progress: Option<TransportHeader>,
    next_seq: u8,
}

impl Reassembler {
    /// An empty reassembler.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet record. Returns the message when this packet ends one. A start of
    /// message discards any unfinished one (as the emulator's packet reader does); a packet
    /// out of sequence, with another tag, or that would grow the message beyond
    /// [`MAX_MESSAGE_LEN`] is an error and drops the unfinished message.
    pub fn push(
        &mut self,
        packet: &[u8; TCP_PACKET_LEN],
    ) -> Result<Option<MctpMessage>, FmApiError> {
        let header = TransportHeader::decode(&[packet[0], packet[1], packet[2], packet[3]])?;
        if header.som {
            self.body.clear();
            self.in_progress = Some(header);
            self.next_seq = header.seq;
        }
        let Some(first) = self.in_progress else {
            return Err(FmApiError::MctpSequence(
                "packet without a start of message",
            ));
        };
        if header.seq != self.next_seq {
            self.in_progress = None;
            return Err(FmApiError::MctpSequence("packet sequence gap"));
        }
        if header.tag != first.tag || header.tag_owner != first.tag_owner {
            self.in_progress = None;
            return Err(FmApiError::MctpSequence("tag changed within a message"));
        }
        if self.body.len() + BTU > MAX_MESSAGE_LEN + BTU {
            self.in_progress = None;
            return Err(FmApiError::Oversized {
                what: "MCTP message",
                len: self.body.len() + BTU,
                max: MAX_MESSAGE_LEN,
            });
        }
        self.body.extend_from_slice(&packet[TRANSPORT_HEADER_LEN..]);
        self.next_seq = (self.next_seq + 1) & 3;
        if !header.eom {
            return Ok(None);
        }
        self.in_progress = None;
        let body = std::mem::take(&mut self.body);
        Ok(Some(MctpMessage {
            src_eid: first.src_eid,
            dest_eid: first.dest_eid,
            tag: first.tag,
            tag_owner: first.tag_owner,
            message_type: body[0],
            padded_body: body[1..].to_vec(),
        }))
    }
}

/// Cuts the zero padding after one CCI message, using the payload length in its header.
pub fn trim_cci(padded: &[u8]) -> Result<&[u8], FmApiError> {
    let header = CciHeader::decode(padded)?;
    let total = HEADER_LEN + header.payload_len as usize;
    if padded.len() < total {
        return Err(FmApiError::Truncated {
            what: "CCI message in MCTP packets",
            len: padded.len(),
            need: total,
        });
    }
    // Padding only ever completes the last packet: a whole spare packet is not ours.
    if padded.len() - total >= BTU {
        return Err(FmApiError::Oversized {
            what: "CCI message in MCTP packets",
            len: padded.len(),
            max: total + BTU - 1,
        });
    }
    Ok(&padded[..total])
}
