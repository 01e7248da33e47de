//! binfmt_misc: the registration string written to `<mount>/register` and
//! the entry files the kernel shows under the mount (Linux
//! `fs/binfmt_misc.c`, `Documentation/admin-guide/binfmt-misc.rst`).
//!
//! `:name:type:offset:magic:mask:interpreter:flags` — the first character
//! is the delimiter, whatever it is. Magic and mask may hold `\xHH`
//! escapes (the kernel unescapes hex only). Entry files read back as
//! `enabled`, `interpreter …`, `flags: …`, then `offset`/`magic`/`mask`
//! in hex or `extension .ext`.

use std::fmt::Write as _;

/// The kernel refuses longer registration strings (`MAX_REGISTER_LENGTH`).
pub const MAX_REGISTER_LENGTH: usize = 1920;
/// Magic must lie inside the first bytes the kernel reads of a file
/// (`BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;

/// The `flags` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    /// `P`: keep the original argv[0]; the interpreter gets the full path
    /// as an extra argument (Debian's `…-binfmt-P` wrappers expect it).
    pub preserve_argv0: bool,
    /// `O`: the interpreter gets an open fd of the binary.
    pub open_binary: bool,
    /// `C`: credentials from the binary, not the interpreter (implies `O`).
    pub credentials: bool,
    /// `F`: the interpreter is opened at registration, so it works in
    /// other mount namespaces and chroots.
    pub fix_binary: bool,
}

impl Flags {
    /// Parses flag letters in any order, as the kernel does; `C` sets `O`
    /// too. A trailing newline is ignored.
    pub fn parse(text: &str) -> Result<Flags, BinfmtError> {
        let mut flags = Flags::default();
        for c in text.trim_end_matches('\n').chars() {
            match c {
                'P' => flags.preserve_argv0 = true,
                'O' => flags.open_binary = true,
                'C' => {
                    flags.credentials = true;
                    flags.open_binary = true;
                }
                'F' => flags.fix_binary = true,
                other => return Err(BinfmtError::Flag(other)),
            }
        }
        Ok(flags)
    }

    /// The letters in the kernel's order, `POCF`.
    pub fn letters(&self) -> String {
        let mut out = String::new();
        for (on, letter) in [
            (self.preserve_argv0, 'P'),
            (self.open_binary, 'O'),
            (self.credentials, 'C'),
            (self.fix_binary, 'F'),
        ] {
            if on {
                out.push(letter);
            }
        }
        out
    }
}

/// What selects the files an entry handles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// Type `M`: bytes at `offset`, compared under `mask` if there is one.
    Magic {
        offset: u32,
        magic: Vec<u8>,
        mask: Option<Vec<u8>>,
    },
    /// Type `E`: the file-name extension (without the dot).
    Extension(String),
}

impl Matcher {
    /// Whether the kernel would hand a file named `file_name` whose first
    /// bytes are `head` to this entry: its magic compared under its mask
    /// (every bit when it has none), or its extension.
    pub fn claims(&self, file_name: &str, head: &[u8]) -> bool {
        match self {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                let start = *offset as usize;
                let Some(bytes) = head.get(start..start + magic.len()) else {
                    return false;
                };
                bytes.iter().zip(magic).enumerate().all(|(i, (b, m))| {
                    let bits = mask
                        .as_ref()
                        .map_or(0xff, |mask| mask.get(i).copied().unwrap_or(0xff));
                    b & bits == m & bits
                })
            }
            Matcher::Extension(extension) => file_name
                .rsplit_once('.')
                .is_some_and(|(_, ext)| ext == extension),
        }
    }
}

/// One binfmt_misc registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registration {
    pub name: String,
    pub matcher: Matcher,
    pub interpreter: String,
    pub flags: Flags,
}

/// Why a registration string or entry file is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinfmtError {
    #[error("registration is {len} bytes; the kernel takes 11 to {MAX_REGISTER_LENGTH}")]
    Length { len: usize },
    #[error("registration has {found} fields after the delimiter, expected 7")]
    FieldCount { found: usize },
    #[error("name {0:?} is empty, `.`, `..` or contains `/`")]
    Name(String),
    #[error("type {0:?} is neither M (magic) nor E (extension)")]
    Type(String),
    #[error("offset {0:?} is not a decimal number")]
    Offset(String),
    #[error("magic is empty")]
    EmptyMagic,
    #[error("mask is {mask} bytes but magic is {magic}")]
    MaskLength { magic: usize, mask: usize },
    #[error(
        "offset {offset} + magic {len} bytes reaches past the {BINPRM_BUF_SIZE} bytes the kernel reads"
    )]
    MagicRange { offset: u32, len: usize },
    #[error("an extension entry takes no offset and no mask")]
    ExtensionFields,
    #[error("extension {0:?} is empty or contains `/`")]
    Extension(String),
    #[error("interpreter is empty")]
    EmptyInterpreter,
    #[error("unknown flag {0:?} (P, O, C, F)")]
    Flag(char),
    #[error("{field} contains the delimiter or a newline and cannot be written")]
    Unrenderable { field: &'static str },
    #[error("entry file line {line}: {message}")]
    Entry { line: usize, message: String },
}

fn check_name(name: &str) -> Result<(), BinfmtError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(BinfmtError::Name(name.to_owned()));
    }
    Ok(())
}

/// Undoes `\xHH` escapes; any other backslash stays as it is (the kernel
/// unescapes hex only).
pub fn unescape_hex(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1] == b'x'
            && let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 2]), hex_digit(bytes[i + 3]))
        {
            out.push(hi << 4 | lo);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Every byte as `\xHH`, so no delimiter or newline can appear.
pub fn escape_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

impl Registration {
    /// Checks what the kernel would refuse.
    pub fn check(&self) -> Result<(), BinfmtError> {
        check_name(&self.name)?;
        match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                if magic.is_empty() {
                    return Err(BinfmtError::EmptyMagic);
                }
                if let Some(mask) = mask
                    && mask.len() != magic.len()
                {
                    return Err(BinfmtError::MaskLength {
                        magic: magic.len(),
                        mask: mask.len(),
                    });
                }
                if *offset as usize + magic.len() > BINPRM_BUF_SIZE {
                    return Err(BinfmtError::MagicRange {
                        offset: *offset,
                        len: magic.len(),
                    });
                }
            }
            Matcher::Extension(ext) => {
                if ext.is_empty() || ext.contains('/') {
                    return Err(BinfmtError::Extension(ext.clone()));
                }
            }
        }
        if self.interpreter.is_empty() {
            return Err(BinfmtError::EmptyInterpreter);
        }
        Ok(())
    }

    /// Parses a registration string (a trailing newline is allowed).
    pub fn parse(text: &str) -> Result<Registration, BinfmtError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.len() < 11 || text.len() > MAX_REGISTER_LENGTH {
            return Err(BinfmtError::Length { len: text.len() });
        }
        let delimiter = text.chars().next().ok_or(BinfmtError::Length { len: 0 })?;
        let fields: Vec<&str> = text[delimiter.len_utf8()..].split(delimiter).collect();
        // The kernel stops after the flags field; a trailing delimiter is
        // common (`…:OCF` or `…:OCF:`), anything after it is not.
        let fields = match fields.as_slice() {
            [head @ .., last] if fields.len() == 8 && last.is_empty() => head.to_vec(),
            _ => fields,
        };
        let [name, kind, offset, magic, mask, interpreter, flags] = fields[..] else {
            return Err(BinfmtError::FieldCount {
                found: fields.len(),
            });
        };
        check_name(name)?;
        let matcher = match kind {
            "M" => {
                let offset = if offset.is_empty() {
                    0
                } else {
                    offset
                        .parse::<u32>()
                        .ok()
                        .filter(|_| offset.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| BinfmtError::Offset(offset.to_owned()))?
                };
                let magic = unescape_hex(magic);
                let mask = (!mask.is_empty()).then(|| unescape_hex(mask));
                Matcher::Magic {
                    offset,
                    magic,
                    mask,
                }
            }
            "E" => {
                if !offset.is_empty() || !mask.is_empty() {
                    return Err(BinfmtError::ExtensionFields);
                }
                Matcher::Extension(magic.to_owned())
            }
            other => return Err(BinfmtError::Type(other.to_owned())),
        };
        let registration = Registration {
            name: name.to_owned(),
            matcher,
            interpreter: interpreter.to_owned(),
            flags: Flags::parse(flags)?,
        };
        registration.check()?;
        Ok(registration)
    }

    /// The registration string, `:`-delimited, magic and mask fully
    /// hex-escaped.
    pub fn render(&self) -> Result<String, BinfmtError> {
        self.check()?;
        let plain = |field: &'static str, value: &str| {
            if value.contains([':', '\n']) {
                Err(BinfmtError::Unrenderable { field })
            } else {
                Ok(())
            }
        };
        plain("name", &self.name)?;
        plain("interpreter", &self.interpreter)?;
        let (kind, offset, magic, mask) = match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => (
                "M",
                offset.to_string(),
                escape_hex(magic),
                mask.as_deref().map(escape_hex).unwrap_or_default(),
            ),
            Matcher::Extension(ext) => {
                plain("extension", ext)?;
                ("E", String::new(), ext.clone(), String::new())
            }
        };
        let text = format!(
            ":{}:{kind}:{offset}:{magic}:{mask}:{}:{}",
            self.name,
            self.interpreter,
            self.flags.letters()
        );
        if text.len() > MAX_REGISTER_LENGTH {
            return Err(BinfmtError::Length { len: text.len() });
        }
        Ok(text)
    }
}

/// An entry as the kernel shows it in `<mount>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub enabled: bool,
    pub interpreter: String,
    pub flags: Flags,
    pub matcher: Matcher,
}

impl Entry {
    /// Parses an entry file.
    pub fn parse(text: &str) -> Result<Entry, BinfmtError> {
        let err = |line: usize, message: String| BinfmtError::Entry { line, message };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let (n, status) = lines.next().ok_or_else(|| err(1, "empty".into()))?;
        let enabled = match status {
            "enabled" => true,
            "disabled" => false,
            other => return Err(err(n, format!("{other:?} is not enabled/disabled"))),
        };
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(2, "no interpreter line".into()))?;
        let interpreter = line
            .strip_prefix("interpreter ")
            .ok_or_else(|| err(n, format!("{line:?} is not `interpreter <path>`")))?
            .to_owned();
        let (n, line) = lines.next().ok_or_else(|| err(3, "no flags line".into()))?;
        let flags = line
            .strip_prefix("flags:")
            .ok_or_else(|| err(n, format!("{line:?} is not `flags: <letters>`")))?;
        let flags = Flags::parse(flags.trim_start()).map_err(|e| err(n, e.to_string()))?;
        let (n, line) = lines
            .next()
            .ok_or_else(|| err(4, "no offset or extension line".into()))?;
        let matcher = if let Some(ext) = line.strip_prefix("extension .") {
            Matcher::Extension(ext.to_owned())
        } else {
            let offset = line
                .strip_prefix("offset ")
                .and_then(|o| o.parse::<u32>().ok())
                .ok_or_else(|| err(n, format!("{line:?} is not `offset <n>`")))?;
            let (n, line) = lines.next().ok_or_else(|| err(5, "no magic line".into()))?;
            let magic = line
                .strip_prefix("magic ")
                .and_then(unhex)
                .ok_or_else(|| err(n, format!("{line:?} is not `magic <hex>`")))?;
            let mask = match lines.next() {
                None => None,
                Some((n, line)) => Some(
                    line.strip_prefix("mask ")
                        .and_then(unhex)
                        .ok_or_else(|| err(n, format!("{line:?} is not `mask <hex>`")))?,
                ),
            };
            Matcher::Magic {
                offset,
                magic,
                mask,
            }
        };
        if let Some((n, line)) = lines.next() {
            return Err(err(n, format!("unexpected {line:?}")));
        }
        Ok(Entry {
            enabled,
            interpreter,
            flags,
            matcher,
        })
    }

    /// The entry file as the kernel writes it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{}\ninterpreter {}\nflags: {}\n",
            if self.enabled { "enabled" } else { "disabled" },
            self.interpreter,
            self.flags.letters()
        );
        match &self.matcher {
            Matcher::Extension(ext) => {
                let _ = writeln!(out, "extension .{ext}");
            }
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                let _ = writeln!(out, "offset {offset}\nmagic {}", hex(magic));
                if let Some(mask) = mask {
                    let _ = writeln!(out, "mask {}", hex(mask));
                }
            }
        }
        out
    }

    /// Whether a file whose first bytes are `head` and whose name is
    /// `file_name` is handled by this entry (the kernel's check).
    pub fn matches(&self, head: &[u8], file_name: &str) -> bool {
        self.enabled && self.matcher.claims(file_name, head)
    }
}

impl From<&Registration> for Entry {
    fn from(r: &Registration) -> Entry {
        Entry {
            enabled: true,
            interpreter: r.interpreter.clone(),
            flags: r.flags,
            matcher: r.matcher.clone(),
        }
    }
}

/// `<mount>/status`: whether binfmt_misc as a whole is enabled.
pub fn parse_status(text: &str) -> Option<bool> {
    match text.trim_end() {
        "enabled" => Some(true),
        "disabled" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::binfmt_magic;
    use corridor_model::compat::GuestArch;

    /// Debian's qemu-user-static entry for riscv64, as the kernel shows it.
    const DEBIAN_RISCV64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n";

    #[test]
    fn an_entry_claims_the_architecture_it_was_registered_for() {
        let entry = Entry::parse(DEBIAN_RISCV64).unwrap();
        let (riscv, _) = binfmt_magic(GuestArch::Riscv64);
        let (arm, _) = binfmt_magic(GuestArch::Aarch64);
        assert!(entry.matcher.claims("hello", &riscv));
        assert!(!entry.matcher.claims("hello", &arm));
        // A PIE (e_type 3) passes the mask's 0xfe low byte too.
        let mut pie = riscv.clone();
        pie[16] = 3;
        assert!(entry.matcher.claims("hello", &pie));
        // Too short a file is never claimed.
        assert!(!entry.matcher.claims("hello", &riscv[..10]));
    }

    #[test]
    fn extension_entries_match_the_file_name() {
        let m = Matcher::Extension("exe".into());
        assert!(m.claims("game.exe", b""));
        assert!(!m.claims("game.exe.txt", b""));
        assert!(!m.claims("exe", b""));
    }
}
