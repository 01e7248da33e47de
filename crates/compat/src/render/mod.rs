//! Pure renderers: a profile becomes what its engine reads — QEMU's argv
//! and environment, a box64rc `[name]` section, a FEX `AppConfig` file.
//!
//! A setting the engine has no equivalent for is not dropped silently: it
//! becomes a note in the rendering, so a profile's author sees what an
//! engine ignores.

pub mod box64;
pub mod fex;
pub mod qemu;

/// A configuration file rendered for an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Where the engine looks for it, relative to its configuration root
    /// (`AppConfig/hello.json`), or the rc file a section belongs in.
    pub path: String,
    pub text: String,
    /// Settings of the profile this engine cannot express.
    pub notes: Vec<String>,
}

pub(crate) fn not_expressible(engine: &str, setting: &str) -> String {
    format!("{engine} has no equivalent of `{setting}`; it is not applied")
}
