//! The counts compatd's TCG plugin (`crates/hal/plugins/tcg_counter.c`)
//! writes when a program under QEMU exits:
//!
//! ```text
//! instructions 20623
//! blocks 753
//! ```
//!
//! Two lines, each a key and a decimal `u64`, in that order. The file sits
//! in the program's own working directory, so the parser takes nothing on
//! trust: anything else is `None`, never a guess.

/// Guest instructions executed and translation blocks translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcgCounts {
    pub instructions: u64,
    pub blocks: u64,
}

impl TcgCounts {
    /// Parses the plugin's report; `None` for anything that is not exactly
    /// its two lines.
    pub fn parse(text: &str) -> Option<TcgCounts> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        let instructions = value(lines.next()?, "instructions")?;
        let blocks = value(lines.next()?, "blocks")?;
        if lines.next().is_some() {
            return None;
        }
        Some(TcgCounts {
            instructions,
            blocks,
        })
    }

    /// The report as the plugin writes it.
    pub fn render(&self) -> String {
        format!(
            "instructions {}\nblocks {}\n",
            self.instructions, self.blocks
        )
    }
}

fn value(line: &str, key: &str) -> Option<u64> {
    let digits = line.strip_prefix(key)?.strip_prefix(' ')?;
    // `u64::from_str` accepts a leading '+', which the plugin never writes.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugins_report_parses() {
        // Written by the plugin for hello.riscv64 under qemu-riscv64 7.2.
        let counts = TcgCounts::parse("instructions 20623\nblocks 753\n").unwrap();
        assert_eq!(
            counts,
            TcgCounts {
                instructions: 20623,
                blocks: 753
            }
        );
        assert_eq!(counts.render(), "instructions 20623\nblocks 753\n");
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "instructions 1\n",
            "instructions 1\nblocks 2",
            "blocks 2\ninstructions 1\n",
            "instructions +1\nblocks 2\n",
            "instructions 1\nblocks 2\nextra 3\n",
            "instructions  1\nblocks 2\n",
            "instructions 18446744073709551616\nblocks 2\n",
            "instructions 1\r\nblocks 2\n",
        ] {
            assert_eq!(TcgCounts::parse(text), None, "{text:?}");
        }
    }
}
