//! Properties: the parsers never panic on any input, and every valid
//! registration and entry survives render → parse unchanged.

use corridor_compat::binfmt::{Entry, Flags, Matcher, Registration};
use corridor_compat::elf::ElfHeader;
use corridor_compat::tcg_counts::TcgCounts;
use proptest::prelude::*;

fn flags() -> impl Strategy<Value = Flags> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(p, o, c, f)| Flags {
        preserve_argv0: p,
        // C implies O, as the kernel records it.
        open_binary: o || c,
        credentials: c,
        fix_binary: f,
    })
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        (
            0u32..64,
            prop::collection::vec(any::<u8>(), 1..64),
            any::<bool>()
        )
            .prop_flat_map(|(offset, magic, masked)| {
                let len = magic.len();
                prop::collection::vec(any::<u8>(), len..=len).prop_map(move |mask| Matcher::Magic {
                    offset,
                    magic: magic.clone(),
                    mask: masked.then_some(mask),
                })
            }),
        "[A-Za-z0-9_.-]{1,16}".prop_map(Matcher::Extension),
    ]
}

fn registration() -> impl Strategy<Value = Registration> {
    (
        "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,30}",
        matcher(),
        "/[A-Za-z0-9_./-]{1,60}",
        flags(),
    )
        .prop_map(|(name, matcher, interpreter, flags)| Registration {
            name,
            matcher,
            interpreter,
            flags,
        })
}

proptest! {
    #[test]
    fn registration_round_trips(r in registration()) {
        let text = r.render().unwrap();
        prop_assert_eq!(Registration::parse(&text).unwrap(), r.clone());
        let entry = Entry::from(&r);
        prop_assert_eq!(Entry::parse(&entry.render()).unwrap(), entry);
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = ElfHeader::parse(&bytes).map(|h| (h.guest_arch(), h.describe()));
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(r) = Registration::parse(&text) {
            // Whatever parses renders (with `:`) and parses back the same,
            // unless a field holds `:` and cannot be written with it.
            if let Ok(again) = r.render() {
                prop_assert_eq!(Registration::parse(&again).unwrap(), r);
            }
        }
        if let Ok(e) = Entry::parse(&text) {
            prop_assert_eq!(Entry::parse(&e.render()).unwrap(), e);
        }
        if let Some(counts) = TcgCounts::parse(&text) {
            prop_assert_eq!(TcgCounts::parse(&counts.render()), Some(counts));
        }
    }

    #[test]
    fn tcg_counts_round_trip(instructions in any::<u64>(), blocks in any::<u64>()) {
        let counts = TcgCounts { instructions, blocks };
        prop_assert_eq!(TcgCounts::parse(&counts.render()), Some(counts));
    }

    #[test]
    fn registration_strings_with_any_delimiter(r in registration(), delim in "[|#!%]") {
        let text = r.render().unwrap().replace(':', &delim);
        prop_assume!(!r.interpreter.contains(delim.as_str()) && !r.name.contains(delim.as_str()));
        if let Matcher::Extension(ext) = &r.matcher {
            prop_assume!(!ext.contains(delim.as_str()));
        }
        prop_assert_eq!(Registration::parse(&text).unwrap(), r);
    }
}
