//! Recording and replaying SPDM exchanges: golden transcripts taken from a real responder
//! (DMTF spdm-emu) with fixed nonces replay in CI without it.
//!
//! The recording format is text, one exchange per two lines: `> <hex request>` then
//! `< <hex response>`; `#` starts a comment.

use crate::hex::encode as hex;
use std::fmt::Write as _;

use corridor_hal::attestation::{SpdmTransport, SpdmTransportError};

/// One request and its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request: Vec<u8>,
    pub response: Vec<u8>,
}

/// Wraps a transport and records every exchange.
#[derive(Debug)]
pub struct RecordingTransport<T> {
    pub inner: T,
    pub exchanges: Vec<Exchange>,
}

impl<T: SpdmTransport> RecordingTransport<T> {
    pub fn new(inner: T) -> Self {
        RecordingTransport {
            inner,
            exchanges: Vec::new(),
        }
    }

    /// The recording in the text format.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.exchanges {
            let _ = writeln!(out, "> {}", hex(&e.request));
            let _ = writeln!(out, "< {}", hex(&e.response));
        }
        out
    }
}

impl<T: SpdmTransport> SpdmTransport for RecordingTransport<T> {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SpdmTransportError> {
        let response = self.inner.exchange(request)?;
        self.exchanges.push(Exchange {
            request: request.to_vec(),
            response: response.clone(),
        });
        Ok(response)
    }
}

/// Replays a recording: each request must equal the recorded one, byte for byte.
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    exchanges: Vec<Exchange>,
    next: usize,
}

/// Why a recording cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordingError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
}

impl ReplayTransport {
    #[must_use]
    pub fn new(exchanges: Vec<Exchange>) -> Self {
        ReplayTransport { exchanges, next: 0 }
    }

    /// Parses the text format.
    pub fn from_text(text: &str) -> Result<Self, RecordingError> {
        let mut exchanges = Vec::new();
        let mut pending: Option<Vec<u8>> = None;
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let syntax = |reason: &str| RecordingError::Syntax {
                line: line_no,
                reason: reason.to_string(),
            };
            let (dir, body) = line.split_at(1);
            let bytes = unhex(body.trim()).ok_or_else(|| syntax("not hex"))?;
            match (dir, pending.take()) {
                (">", None) => pending = Some(bytes),
                ("<", Some(request)) => exchanges.push(Exchange {
                    request,
                    response: bytes,
                }),
                _ => return Err(syntax("expected '>' then '<' lines")),
            }
        }
        if pending.is_some() {
            return Err(RecordingError::Syntax {
                line: text.lines().count(),
                reason: "a request without a response".into(),
            });
        }
        Ok(ReplayTransport::new(exchanges))
    }

    /// Whether every recorded exchange was replayed.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.next == self.exchanges.len()
    }
}

impl SpdmTransport for ReplayTransport {
    fn exchange(&mut self, request: &[u8]) -> Result<Vec<u8>, SpdmTransportError> {
        let peer = format!("recording, exchange {}", self.next + 1);
        let Some(e) = self.exchanges.get(self.next) else {
            return Err(SpdmTransportError::Closed { peer });
        };
        if e.request != request {
            return Err(SpdmTransportError::Unreachable {
                device: peer,
                reason: format!(
                    "request {} differs from the recorded {}",
                    hex(request),
                    hex(&e.request)
                ),
            });
        }
        self.next += 1;
        Ok(e.response.clone())
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    // Recorded lines may wrap: whitespace inside the hex is not data.
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    crate::hex::decode(&text)
}
