//! The kernel's fscrypt ABI: the structures and ioctl numbers of `linux/fscrypt.h`
//! (uapi, Linux 5.4+ for v2 policies), transcribed by hand so the layout is checked here
//! rather than trusted from a binding generator.

/// `FSCRYPT_POLICY_V2`.
pub const POLICY_V2: u8 = 2;
/// `FSCRYPT_KEY_IDENTIFIER_SIZE`.
pub const KEY_IDENTIFIER_SIZE: usize = 16;
/// `FSCRYPT_MAX_KEY_SIZE`: the largest raw master key the kernel accepts.
pub const MAX_KEY_SIZE: usize = 64;
/// `FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER`: a v2 key, named by the identifier the kernel derives.
pub const KEY_SPEC_TYPE_IDENTIFIER: u32 = 2;
/// `FSCRYPT_MODE_AES_256_XTS`: file contents.
pub const MODE_AES_256_XTS: u8 = 1;
/// `FSCRYPT_MODE_AES_256_CTS`: file names.
pub const MODE_AES_256_CTS: u8 = 4;
/// `FSCRYPT_POLICY_FLAGS_PAD_32`: names padded to 32 bytes, so their lengths leak least.
pub const POLICY_FLAGS_PAD_32: u8 = 0x03;
/// `FSCRYPT_KEY_REMOVAL_STATUS_FLAG_FILES_BUSY`.
pub const REMOVAL_FILES_BUSY: u32 = 0x1;
/// `FSCRYPT_KEY_REMOVAL_STATUS_FLAG_OTHER_USERS`.
pub const REMOVAL_OTHER_USERS: u32 = 0x2;

/// `struct fscrypt_policy_v2` (24 bytes). The first reserved byte is
/// `log2_data_unit_size` in Linux 6.7+ headers; zero means "the filesystem block size" on
/// every kernel, so it stays reserved here.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyV2 {
    pub version: u8,
    pub contents_encryption_mode: u8,
    pub filenames_encryption_mode: u8,
    pub flags: u8,
    pub reserved: [u8; 4],
    pub master_key_identifier: [u8; KEY_IDENTIFIER_SIZE],
}

/// `struct fscrypt_get_policy_ex_arg` with the policy union as its largest member (v2);
/// `policy_size` is the union's size on input and the returned policy's size on output.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GetPolicyExArg {
    pub policy_size: u64,
    pub policy: PolicyV2,
}

/// `struct fscrypt_key_specifier` (40 bytes): the key's name, never the key.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct KeySpecifier {
    pub kind: u32,
    pub reserved: u32,
    /// The union `u`: its `__reserved[32]` member sizes it; a v2 identifier is the first 16.
    pub u: [u8; 32],
}

/// `struct fscrypt_add_key_arg` (80 bytes) followed by its flexible `raw[]` member, sized
/// for the largest key, so one value is the whole ioctl argument.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct AddKeyArg {
    pub key_spec: KeySpecifier,
    pub raw_size: u32,
    /// A keyring key of type `fscrypt-provisioning` instead of `raw`; 0 here.
    pub key_id: u32,
    pub reserved: [u32; 8],
    pub raw: [u8; MAX_KEY_SIZE],
}

/// `struct fscrypt_remove_key_arg` (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveKeyArg {
    pub key_spec: KeySpecifier,
    pub removal_status_flags: u32,
    pub reserved: [u32; 5],
}

/// `_IOC(dir, type, nr, size)` of `asm-generic/ioctl.h` (x86-64, arm64, riscv: 2 direction
/// bits, 14 size bits).
const fn ioc(dir: u32, kind: u8, nr: u8, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((kind as u32) << 8) | nr as u32
}
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `struct fscrypt_policy_v1` is 12 bytes; the set ioctl's number encodes that size even for
/// a v2 policy (the kernel reads the version byte first, then the policy of that version).
const POLICY_V1_SIZE: usize = 12;

/// `FS_IOC_SET_ENCRYPTION_POLICY`: `_IOR('f', 19, struct fscrypt_policy_v1)`.
pub const FS_IOC_SET_ENCRYPTION_POLICY: u32 = ioc(IOC_READ, b'f', 19, POLICY_V1_SIZE);
/// `FS_IOC_GET_ENCRYPTION_POLICY_EX`: `_IOWR('f', 22, __u8[9])` (size + version).
pub const FS_IOC_GET_ENCRYPTION_POLICY_EX: u32 = ioc(IOC_READ | IOC_WRITE, b'f', 22, 9);
/// `FS_IOC_ADD_ENCRYPTION_KEY`: `_IOWR('f', 23, struct fscrypt_add_key_arg)`.
pub const FS_IOC_ADD_ENCRYPTION_KEY: u32 = ioc(IOC_READ | IOC_WRITE, b'f', 23, 80);
/// `FS_IOC_REMOVE_ENCRYPTION_KEY`: `_IOWR('f', 24, struct fscrypt_remove_key_arg)`.
pub const FS_IOC_REMOVE_ENCRYPTION_KEY: u32 = ioc(IOC_READ | IOC_WRITE, b'f', 24, 64);

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn structures_have_the_kernel_layout() {
        assert_eq!(size_of::<PolicyV2>(), 24);
        assert_eq!(offset_of!(PolicyV2, master_key_identifier), 8);
        assert_eq!(size_of::<GetPolicyExArg>(), 32);
        assert_eq!(offset_of!(GetPolicyExArg, policy), 8);
        assert_eq!(size_of::<KeySpecifier>(), 40);
        assert_eq!(offset_of!(KeySpecifier, u), 8);
        // The fixed part the ioctl number encodes, then the flexible `raw[]`.
        assert_eq!(offset_of!(AddKeyArg, raw), 80);
        assert_eq!(offset_of!(AddKeyArg, raw_size), 40);
        assert_eq!(size_of::<AddKeyArg>(), 80 + MAX_KEY_SIZE);
        assert_eq!(size_of::<RemoveKeyArg>(), 64);
        assert_eq!(offset_of!(RemoveKeyArg, removal_status_flags), 40);
    }

    #[test]
    fn ioctl_numbers_match_the_header() {
        // The values `linux/fscrypt.h` expands to on x86-64 (checked with a C compiler).
        assert_eq!(FS_IOC_SET_ENCRYPTION_POLICY, 0x800c_6613);
        assert_eq!(FS_IOC_GET_ENCRYPTION_POLICY_EX, 0xc009_6616);
        assert_eq!(FS_IOC_ADD_ENCRYPTION_KEY, 0xc050_6617);
        assert_eq!(FS_IOC_REMOVE_ENCRYPTION_KEY, 0xc040_6618);
    }
}
