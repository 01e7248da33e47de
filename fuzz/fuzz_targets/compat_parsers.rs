//! Feeds arbitrary bytes to compatd's parsers: the ELF header reader, the
//! binfmt_misc registration string and entry file parsers, the TCG
//! plugin's count report. Any panic is a
//! bug; whatever parses must render and parse back to the same value.
#![no_main]

use corridor_compat::binfmt::{Entry, Registration};
use corridor_compat::elf::ElfHeader;
use corridor_compat::tcg_counts::TcgCounts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = ElfHeader::parse(data) {
        let _ = (header.guest_arch(), header.describe());
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = Registration::parse(&text)
        && let Ok(again) = r.render()
    {
        assert_eq!(Registration::parse(&again).unwrap(), r);
    }
    if let Ok(e) = Entry::parse(&text) {
        assert_eq!(Entry::parse(&e.render()).unwrap(), e);
    }
    if let Some(counts) = TcgCounts::parse(&text) {
        assert_eq!(TcgCounts::parse(&counts.render()), Some(counts));
    }
});
