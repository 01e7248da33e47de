//! Filesystem encryption (fscrypt, v2 policies) over the kernel's ioctls: the mechanism
//! behind encrypting persistent memory bundles at rest.
//!
//! The ABI is `linux/fscrypt.h` (uapi; v2 policies since Linux 5.4), transcribed in `abi`
//! with its layout checked by tests. A v2 master key is added to a filesystem
//! ([`add_key`]), which answers with the key's identifier (HKDF-SHA512 of the key, so a
//! wrong key can never be mistaken for the right one); an empty directory gets a policy
//! naming that identifier ([`set_policy`]), and everything created below it afterwards has
//! its contents (AES-256-XTS) and names (AES-256-CTS) encrypted with keys derived per file.
//! [`remove_key`] makes the directory's files unreadable again (ciphertext and encrypted
//! names only) once no file under it is open.
//!
//! What keeps the key is not this module's job: the services seal it with the TPM and hand
//! it in as a [`MasterKey`] only long enough to add it.
//!
//! | module | one job |
//! |---|---|
//! | `abi` | the kernel's structures and ioctl numbers |
//! | `key` | [`MasterKey`] (zeroed on drop, never printed) and [`KeyIdentifier`] |
//! | `linux` | the ioctls: add/remove key, set/get policy, support detection |
//! | `error` | [`FscryptError`] |

mod abi;
mod error;
mod key;
mod linux;

pub use error::{FscryptError, Result};
pub use key::{KeyIdentifier, MasterKey};
pub use linux::{KeyRemoval, Policy, add_key, check_support, policy, remove_key, set_policy};

/// The raw key size this workspace uses: 64 bytes, the kernel's maximum (AES-256-XTS needs a
/// 64-byte derived key; HKDF from a 64-byte master keeps full strength).
pub const KEY_SIZE: usize = abi::MAX_KEY_SIZE;
