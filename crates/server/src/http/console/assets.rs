//! The console's files, compiled into the binary: plain HTML, CSS and
//! JavaScript modules from `crates/server/console/`, with no build step and
//! nothing fetched from elsewhere at run time.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $name)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file the console serves. A file added to the folder is served
/// only once it is named here.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("console.css", CSS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("overview.js", JS),
    asset!("grid.js", JS),
    asset!("corridor.js", JS),
    asset!("memory.js", JS),
    asset!("clock.js", JS),
    asset!("fabric.js", JS),
    asset!("faults.js", JS),
    asset!("labs.js", JS),
];

/// The file called `name`, if the console has one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_types_match_extensions() {
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(ASSETS[..i].iter().all(|a| a.name != asset.name));
            let expected = match asset.name.rsplit('.').next() {
                Some("html") => HTML,
                Some("js") => JS,
                Some("css") => CSS,
                other => panic!("no type for {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.name);
        }
    }
}
