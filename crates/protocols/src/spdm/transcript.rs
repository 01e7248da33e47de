//! The transcripts a requester and a responder keep, as libspdm keeps them
//! (`libspdm_com_crypto_service.c`; DSP0274 1.2 §10.8 and §10.11):
//!
//! * `A` = GET_VERSION ‖ VERSION ‖ GET_CAPABILITIES ‖ CAPABILITIES ‖ NEGOTIATE_ALGORITHMS ‖
//!   ALGORITHMS (reset by GET_VERSION);
//! * `B` = GET_DIGESTS ‖ DIGESTS ‖ every GET_CERTIFICATE ‖ CERTIFICATE;
//! * `C` = CHALLENGE ‖ CHALLENGE_AUTH without its signature;
//! * `M` = every GET_MEASUREMENTS ‖ MEASUREMENTS since the last signed one, the signed
//!   response without its signature.
//!
//! M1/M2 = A ‖ B ‖ C, signed by CHALLENGE_AUTH, after which B and C are reset.
//! L1/L2 = A ‖ M (1.2 adds A), signed by MEASUREMENTS, after which M is reset.
//! The bytes are kept, not hashed, so either side hashes with whatever it negotiated.

/// Byte transcripts of one SPDM connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    a: Vec<u8>,
    b: Vec<u8>,
    c: Vec<u8>,
    m: Vec<u8>,
}

impl Transcript {
    /// A fresh connection (GET_VERSION resets everything).
    pub fn reset(&mut self) {
        self.a.clear();
        self.b.clear();
        self.c.clear();
        self.m.clear();
    }

    pub fn append_a(&mut self, bytes: &[u8]) {
        self.a.extend_from_slice(bytes);
    }

    pub fn append_b(&mut self, bytes: &[u8]) {
        self.b.extend_from_slice(bytes);
    }

    pub fn append_c(&mut self, bytes: &[u8]) {
        self.c.extend_from_slice(bytes);
    }

    pub fn append_m(&mut self, bytes: &[u8]) {
        self.m.extend_from_slice(bytes);
    }

    /// The parts of M1/M2, in order, for a streaming hash.
    #[must_use]
    pub fn m1_parts(&self) -> [&[u8]; 3] {
        [&self.a, &self.b, &self.c]
    }

    /// The parts of L1/L2, in order.
    #[must_use]
    pub fn l1_parts(&self) -> [&[u8]; 2] {
        [&self.a, &self.m]
    }

    /// After a CHALLENGE_AUTH has been signed (or verified).
    pub fn reset_bc(&mut self) {
        self.b.clear();
        self.c.clear();
    }

    /// After a signed MEASUREMENTS.
    pub fn reset_m(&mut self) {
        self.m.clear();
    }
}
