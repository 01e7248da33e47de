//! The built-in profile catalogue: profiles shipped as data
//! (`profiles/builtin.toml`), so that users contribute a profile the way
//! box64's users send an rc section, without touching code.

use corridor_model::Validate;
use corridor_model::compat::ProfileRequest;
use serde::Deserialize;

/// The catalogue shipped with this build.
pub const BUILTIN: &str = include_str!("../profiles/builtin.toml");

/// Why a catalogue file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("the catalogue is not valid TOML for profiles")]
    Toml(#[from] toml::de::Error),
    #[error("profile {index} ({name:?}) is invalid: {}", .problems.join("; "))]
    Invalid {
        index: usize,
        name: String,
        problems: Vec<String>,
    },
    #[error("profile name {0:?} appears twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Vec<ProfileRequest>,
}

/// Parses and validates a catalogue: every profile valid, names unique.
pub fn parse(text: &str) -> Result<Vec<ProfileRequest>, CatalogueError> {
    let file: File = toml::from_str(text)?;
    for (index, profile) in file.profile.iter().enumerate() {
        if let Err(violations) = profile.validate() {
            return Err(CatalogueError::Invalid {
                index,
                name: profile.name.clone(),
                problems: violations
                    .into_iter()
                    .map(|v| format!("{}: {}", v.pointer, v.message))
                    .collect(),
            });
        }
        if file.profile[..index].iter().any(|p| p.name == profile.name) {
            return Err(CatalogueError::Duplicate(profile.name.clone()));
        }
    }
    Ok(file.profile)
}

/// The built-in catalogue.
pub fn builtin() -> Result<Vec<ProfileRequest>, CatalogueError> {
    parse(BUILTIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_is_valid() {
        let profiles = builtin().unwrap();
        assert!(profiles.iter().any(|p| p.name == "riscv64-linux"));
        assert!(profiles.len() >= 4);
    }

    #[test]
    fn invalid_profiles_are_named() {
        let text = r#"
[[profile]]
name = "bad"
[profile.spec]
guest_arch = "riscv64"
engine = "box64"
"#;
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("\"bad\"") && err.contains("/spec/engine"),
            "{err}"
        );
        let dup = "[[profile]]\nname = \"a\"\n[profile.spec]\nguest_arch = \"riscv64\"\nengine = \"qemu\"\n";
        let err = parse(&format!("{dup}{dup}")).unwrap_err();
        assert!(matches!(err, CatalogueError::Duplicate(n) if n == "a"));
    }
}
