//! Errors from loading a topology.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// One semantic problem in a topology, located by its path in the document
/// (`links[3].b`, `hosts[0].memory[1].bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Path of the offending element, in TOML terms (array indices are 0-based).
    pub path: String,
    /// What is wrong, in a sentence fragment.
    pub message: String,
}

impl Issue {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A 1-based line and column (in characters) in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte offset `offset` in `text` (clamped to the end of the text).
    #[must_use]
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a topology could not be loaded.
#[derive(Debug, Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read topology file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, or a value has the wrong type, an unknown field or a
    /// malformed id.
    #[error("{}: {message}", located(source_name, *location))]
    Parse {
        /// File name (or other label) of the text.
        source_name: String,
        /// Where the problem is, when the parser knows.
        location: Option<Location>,
        /// The parser's message.
        message: String,
    },
    /// The document parsed but breaks semantic rules; every problem found is listed.
    #[error("{source_name}: invalid topology ({}):{}", count(issues.len()), list(issues))]
    Invalid {
        /// File name (or other label) of the text.
        source_name: String,
        /// All problems, in document order.
        issues: Vec<Issue>,
    },
}

impl TopologyError {
    /// The semantic issues, if this is an [`TopologyError::Invalid`] error.
    #[must_use]
    pub fn issues(&self) -> &[Issue] {
        match self {
            Self::Invalid { issues, .. } => issues,
            _ => &[],
        }
    }
}

fn located(source_name: &str, location: Option<Location>) -> String {
    match location {
        Some(loc) => format!("{source_name}:{loc}"),
        None => source_name.to_owned(),
    }
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 problem".to_owned()
    } else {
        format!("{n} problems")
    }
}

fn list(issues: &[Issue]) -> String {
    issues.iter().map(|i| format!("\n  {i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_to_line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Location::of_offset(text, 0),
            Location { line: 1, column: 1 }
        );
        assert_eq!(
            Location::of_offset(text, 6),
            Location { line: 2, column: 1 }
        );
        // 'é' is two bytes but one column.
        assert_eq!(
            Location::of_offset(text, 9),
            Location { line: 2, column: 3 }
        );
        assert_eq!(
            Location::of_offset(text, 999),
            Location { line: 3, column: 1 }
        );
    }
}
