//! Identifiers and identity strings, validated when they are parsed.
//!
//! Each kind of element has its own id type, so a host id cannot be looked up as a link.
//! Syntax is checked at parse time (the TOML error then points at the value); whether an id
//! *resolves* is a semantic check done by [`super::validate`].

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest id accepted. 63 is the DNS-label limit (RFC 1035), so ids can appear in host names,
/// metric labels and URL paths without escaping.
pub const MAX_ID_LEN: usize = 63;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The string is empty.
    #[error("an id must not be empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`].
    #[error("id {0:?} is longer than {MAX_ID_LEN} characters")]
    TooLong(String),
    /// The string has a character outside `[A-Za-z0-9._-]` or does not start alphanumeric.
    #[error(
        "id {0:?} must start with a letter or digit and contain only letters, digits, '-', '_' and '.'"
    )]
    BadCharacter(String),
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(s.to_owned()));
    }
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(IdError::BadCharacter(s.to_owned()))
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks the syntax and wraps the string.
            ///
            /// # Errors
            /// [`IdError`] when the string is empty, too long or has a forbidden character.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                check_id(&id)?;
                Ok(Self(id))
            }

            /// The id as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(id: String) -> Result<Self, IdError> {
                Self::new(id)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(id: &str) -> Result<Self, IdError> {
                Self::new(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        // Deref to `str` lets lookups take `&str` (ids arriving from the API are strings)
        // while callers holding a typed id pass `&id` unchanged.
        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Id of a host (a server: CPU sockets and local memory).
    HostId
);
id_type!(
    /// Id of a host memory device (one tier's worth of memory on one NUMA node).
    MemoryDeviceId
);
id_type!(
    /// Id of a CXL switch.
    CxlSwitchId
);
id_type!(
    /// Id of a CXL Type-3 memory device (the RFC's `cxl-dev-001`).
    CxlDeviceId
);
id_type!(
    /// Id of an optical port (one photonic transceiver attachment on a host).
    OpticalPortId
);
id_type!(
    /// Id of an optical link between two optical ports.
    LinkId
);
id_type!(
    /// Name of an ambient temperature profile (served by `GET /v1/heliopass/profiles`).
    ProfileName
);

/// A PCI-SIG vendor or device id, written in TOML and JSON as `"0x"` plus four hex digits
/// (the RFC's `"vendor_id": "0x8086"`), held as the 16-bit register value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PciId(pub u16);

/// Why a string is not a PCI id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not a PCI id: expected \"0x\" followed by exactly 4 hex digits, e.g. \"0x8086\"")]
pub struct PciIdError(pub String);

impl FromStr for PciId {
    type Err = PciIdError;
    fn from_str(s: &str) -> Result<Self, PciIdError> {
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .filter(|h| h.len() == 4 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| PciIdError(s.to_owned()))?;
        u16::from_str_radix(hex, 16)
            .map(Self)
            .map_err(|_| PciIdError(s.to_owned()))
    }
}

impl TryFrom<String> for PciId {
    type Error = PciIdError;
    fn try_from(s: String) -> Result<Self, PciIdError> {
        s.parse()
    }
}

impl From<PciId> for String {
    fn from(id: PciId) -> String {
        id.to_string()
    }
}

impl fmt::Display for PciId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04x}", self.0)
    }
}

/// Longest CMIS identity string: vendor name, part number and serial number are each 16 ASCII
/// bytes in CMIS upper page 00h (bytes 129–144, 148–163 and 166–181).
pub const CMIS_TEXT_LEN: usize = 16;

/// Text that fits a CMIS identity field: at most 16 printable ASCII characters, so the twin can
/// write it into its module memory map byte for byte (space-padded, as CMIS requires).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CmisText(String);

/// Why a string cannot be a CMIS identity field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{0:?} does not fit a CMIS identity field: 1 to {CMIS_TEXT_LEN} printable ASCII characters"
)]
pub struct CmisTextError(pub String);

impl CmisText {
    /// Checks length and character set and wraps the string.
    ///
    /// # Errors
    /// [`CmisTextError`] when the text is empty, too long or not printable ASCII.
    pub fn new(text: impl Into<String>) -> Result<Self, CmisTextError> {
        let text = text.into();
        let ok = !text.is_empty()
            && text.len() <= CMIS_TEXT_LEN
            && text.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        if ok {
            Ok(Self(text))
        } else {
            Err(CmisTextError(text))
        }
    }

    /// The text as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 16-byte, space-padded field as it appears in the CMIS memory map.
    #[must_use]
    pub fn to_cmis_bytes(&self) -> [u8; CMIS_TEXT_LEN] {
        let mut out = [b' '; CMIS_TEXT_LEN];
        out[..self.0.len()].copy_from_slice(self.0.as_bytes());
        out
    }
}

impl TryFrom<String> for CmisText {
    type Error = CmisTextError;
    fn try_from(s: String) -> Result<Self, CmisTextError> {
        Self::new(s)
    }
}

impl From<CmisText> for String {
    fn from(t: CmisText) -> String {
        t.0
    }
}

impl fmt::Display for CmisText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_syntax() {
        assert!(HostId::new("h0").is_ok());
        assert!(HostId::new("cxl-dev-001").is_ok());
        assert_eq!(HostId::new(""), Err(IdError::Empty));
        assert!(matches!(HostId::new("-x"), Err(IdError::BadCharacter(_))));
        assert!(matches!(HostId::new("a b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(
            HostId::new("a".repeat(64)),
            Err(IdError::TooLong(_))
        ));
        assert!(HostId::new("a".repeat(63)).is_ok());
    }

    #[test]
    fn pci_id_round_trip() {
        let id: PciId = "0x0B5a".parse().unwrap();
        assert_eq!(id, PciId(0x0b5a));
        assert_eq!(id.to_string(), "0x0b5a");
        assert!("0x123".parse::<PciId>().is_err());
        assert!("8086".parse::<PciId>().is_err());
        assert!("0x12345".parse::<PciId>().is_err());
        assert!("0xzzzz".parse::<PciId>().is_err());
    }

    #[test]
    fn cmis_text() {
        let t = CmisText::new("CORRIDOR").unwrap();
        assert_eq!(&t.to_cmis_bytes(), b"CORRIDOR        ");
        assert!(CmisText::new("x".repeat(17)).is_err());
        assert!(CmisText::new("").is_err());
        assert!(CmisText::new("é").is_err());
    }
}
