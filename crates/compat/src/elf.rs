//! The part of an ELF header that says which machine a program is for.
//!
//! Only the identification bytes and `e_type`/`e_machine` are read: that
//! is what binfmt_misc's magic matches on and what picks a translator.

use corridor_model::compat::GuestArch;

/// Bytes of an ELF header compatd reads (through `e_machine`).
pub const HEADER_PREFIX_LEN: usize = 20;

/// ELF machine numbers (`e_machine`) compatd names.
pub mod machine {
    pub const I386: u16 = 0x03;
    pub const ARM: u16 = 0x28;
    pub const X86_64: u16 = 0x3E;
    pub const AARCH64: u16 = 0xB7;
    pub const RISCV: u16 = 0xF3;
}

/// 32- or 64-bit objects (`EI_CLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfClass {
    Elf32,
    Elf64,
}

/// Byte order of the object's fields (`EI_DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endianness {
    Little,
    Big,
}

/// The identifying fields of an ELF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfHeader {
    pub class: ElfClass,
    pub endianness: Endianness,
    /// `e_type`: 2 executable, 3 shared object (PIE), …
    pub object_type: u16,
    /// `e_machine`.
    pub machine: u16,
}

/// Why bytes are not an ELF header compatd can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    #[error("{len} bytes is too short for an ELF header ({HEADER_PREFIX_LEN} needed)")]
    TooShort { len: usize },
    #[error("not an ELF file: the first bytes are not 7f 45 4c 46")]
    NotElf,
    #[error("unknown ELF class {0} (1 is 32-bit, 2 is 64-bit)")]
    Class(u8),
    #[error("unknown ELF data encoding {0} (1 is little-endian, 2 is big-endian)")]
    Data(u8),
    #[error("ELF identification version {0}, expected 1")]
    Version(u8),
}

impl ElfHeader {
    /// Parses the start of a file. Longer input is fine; only the first
    /// [`HEADER_PREFIX_LEN`] bytes are looked at.
    pub fn parse(bytes: &[u8]) -> Result<ElfHeader, ElfError> {
        if bytes.len() >= 4 && bytes[..4] != [0x7f, b'E', b'L', b'F'] {
            return Err(ElfError::NotElf);
        }
        if bytes.len() < HEADER_PREFIX_LEN {
            return Err(ElfError::TooShort { len: bytes.len() });
        }
        let class = match bytes[4] {
            1 => ElfClass::Elf32,
            2 => ElfClass::Elf64,
            other => return Err(ElfError::Class(other)),
        };
        let endianness = match bytes[5] {
            1 => Endianness::Little,
            2 => Endianness::Big,
            other => return Err(ElfError::Data(other)),
        };
        if bytes[6] != 1 {
            return Err(ElfError::Version(bytes[6]));
        }
        let field = |at: usize| {
            let pair = [bytes[at], bytes[at + 1]];
            match endianness {
                Endianness::Little => u16::from_le_bytes(pair),
                Endianness::Big => u16::from_be_bytes(pair),
            }
        };
        Ok(ElfHeader {
            class,
            endianness,
            object_type: field(16),
            machine: field(18),
        })
    }

    /// The guest architecture, when compatd knows one for this machine,
    /// class and byte order (big-endian arm64 or 32-bit RISC-V are not
    /// served).
    pub fn guest_arch(&self) -> Option<GuestArch> {
        use ElfClass::*;
        if self.endianness != Endianness::Little {
            return None;
        }
        match (self.machine, self.class) {
            (machine::X86_64, Elf64) => Some(GuestArch::X86_64),
            (machine::I386, Elf32) => Some(GuestArch::I386),
            (machine::AARCH64, Elf64) => Some(GuestArch::Aarch64),
            (machine::ARM, Elf32) => Some(GuestArch::Arm),
            (machine::RISCV, Elf64) => Some(GuestArch::Riscv64),
            _ => None,
        }
    }

    /// A short human description: `ELF64 little-endian machine 0xf3`.
    pub fn describe(&self) -> String {
        format!(
            "ELF{} {}-endian machine {:#x}",
            match self.class {
                ElfClass::Elf32 => 32,
                ElfClass::Elf64 => 64,
            },
            match self.endianness {
                Endianness::Little => "little",
                Endianness::Big => "big",
            },
            self.machine
        )
    }
}

/// The binfmt_misc magic and mask that select executables of `arch`
/// (the identification bytes, `e_type` executable or shared object, and
/// `e_machine`), as Debian's `qemu-*.conf` files spell them.
pub fn binfmt_magic(arch: GuestArch) -> (Vec<u8>, Vec<u8>) {
    let (class, machine) = match arch {
        GuestArch::X86_64 => (2, machine::X86_64),
        GuestArch::I386 => (1, machine::I386),
        GuestArch::Aarch64 => (2, machine::AARCH64),
        GuestArch::Arm => (1, machine::ARM),
        GuestArch::Riscv64 => (2, machine::RISCV),
    };
    let mut magic = vec![0x7f, b'E', b'L', b'F', class, 1, 1, 0];
    magic.extend_from_slice(&[0; 8]);
    // e_type 2 (EXEC); the mask's 0xfe low byte also admits 3 (DYN, PIE).
    magic.extend_from_slice(&2u16.to_le_bytes());
    magic.extend_from_slice(&machine.to_le_bytes());
    let mut mask = vec![0xff; 7];
    // EI_OSABI may be anything (SYSV or GNU); the ABI version and padding
    // must be zero.
    mask.push(0x00);
    mask.extend_from_slice(&[0xff; 8]);
    mask.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff]);
    (magic, mask)
}
