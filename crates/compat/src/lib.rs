//! compatd's pure core. compatd translates no instruction itself: it
//! picks an existing translator (QEMU user mode, box64, FEX-Emu) and tells
//! it how to run one program. This crate holds what needs no I/O:
//!
//! - [`elf`]: the ELF header fields that say which machine a program is for;
//! - [`binfmt`]: binfmt_misc registration strings and entry files;
//! - [`render`]: a profile as each engine reads it;
//! - [`matching`]: which profile runs a program when none is named;
//! - [`catalogue`]: the built-in profiles, shipped as data;
//! - [`tcg_counts`]: what compatd's TCG plugin reports when a program exits.

pub mod binfmt;
pub mod catalogue;
pub mod elf;
pub mod matching;
pub mod render;
pub mod tcg_counts;

use corridor_model::compat::GuestArch;

/// The binfmt_misc registration that hands `arch` programs to
/// `interpreter`, named after the profile.
pub fn registration_for(
    profile_name: &str,
    arch: GuestArch,
    interpreter: &str,
    flags: &str,
) -> Result<binfmt::Registration, binfmt::BinfmtError> {
    let (magic, mask) = elf::binfmt_magic(arch);
    let registration = binfmt::Registration {
        name: format!("corridor-{profile_name}"),
        matcher: binfmt::Matcher::Magic {
            offset: 0,
            magic,
            mask: Some(mask),
        },
        interpreter: interpreter.to_owned(),
        flags: binfmt::Flags::parse(flags)?,
    };
    registration.check()?;
    Ok(registration)
}
