//! An object's sample lines that depend only on the stored object, rendered
//! once per object revision and kept between scrapes.
//!
//! A loaded scrape writes 10,000 bundles and 1,000 corridors. Reading,
//! decoding and cloning each of them and writing their lines again at
//! every scrape cost most of such a scrape, though objects rarely change
//! between two scrapes. A scrape now asks the services for the objects'
//! revisions only (a keys-only read, [`corridor_services::projection`]),
//! renders the objects that changed, and copies every other object's lines
//! as they were; the lines that change without the object (modelled and
//! read-back figures) are still written at each scrape.

use std::sync::OnceLock;

use corridor_model::corridor::Corridor;
use corridor_model::ffm::FfmBundle;
use corridor_services::projection::Projection;

use super::PREFIX;
use super::exposition::{Kind, Label, write_sample};
use super::resources::{family_spec, wire};

/// What the metrics exporter keeps between scrapes: each object's rendered
/// lines, by revision. Each is held by one scrape at a time while it reads.
#[derive(Debug, Default)]
pub struct ResourceRows {
    pub(super) bundles: tokio::sync::Mutex<Projection<BundleLines>>,
    pub(super) corridors: tokio::sync::Mutex<Projection<CorridorLines>>,
}

/// The families an object renders ahead, in the order of its parts, with
/// their sample names (prefix, unit and type suffix) and kinds.
#[derive(Debug)]
pub(super) struct FamilySet {
    families: Vec<(&'static str, String, Kind)>,
}

impl FamilySet {
    fn new(names: &[&'static str]) -> FamilySet {
        FamilySet {
            families: names
                .iter()
                .map(|&name| {
                    let spec = family_spec(name);
                    (name, spec.sample_name(PREFIX), spec.kind)
                })
                .collect(),
        }
    }

    /// The families, in part order.
    pub(super) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.families.iter().map(|(name, ..)| *name)
    }

    fn index(&self, family: &str) -> usize {
        self.families
            .iter()
            .position(|(name, ..)| *name == family)
            .unwrap_or_else(|| panic!("{family} is not rendered ahead"))
    }

    /// The families of a bundle's stored state.
    pub(super) fn bundle() -> &'static FamilySet {
        static SET: OnceLock<FamilySet> = OnceLock::new();
        SET.get_or_init(|| {
            FamilySet::new(&[
                "ffm_bundle",
                "ffm_bundle_size",
                "ffm_bundle_floor_bandwidth",
                "ffm_bundle_moved_pages",
            ])
        })
    }

    /// The families of a corridor's stored state.
    pub(super) fn corridor() -> &'static FamilySet {
        static SET: OnceLock<FamilySet> = OnceLock::new();
        SET.get_or_init(|| {
            FamilySet::new(&[
                "corridor",
                "corridor_status",
                "corridor_min_bandwidth",
                "corridor_achievable_bandwidth",
                "lane_state",
            ])
        })
    }
}

/// One object's lines, a part per family of its [`FamilySet`].
#[derive(Debug)]
pub(super) struct ObjectLines {
    /// Where each part ends in `text`.
    ends: Box<[usize]>,
    text: String,
}

impl ObjectLines {
    /// The lines of the set's `index`th family.
    pub(super) fn part(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        &self.text[start..self.ends[index]]
    }
}

/// Where sample lines go: a scrape's families, or one object's lines kept
/// for the next scrapes.
pub(super) trait Samples {
    /// Appends one line of `family` (a finite `value`).
    fn write(
        &mut self,
        family: &'static str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
        value: f64,
    );

    fn push(&mut self, family: &'static str, labels: &[Label<'_>], value: f64) {
        self.push_with(family, labels, None, value);
    }

    fn push_with(
        &mut self,
        family: &'static str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
        value: f64,
    ) {
        // NaN or infinity would be no figure at all: leave the sample out.
        if value.is_finite() {
            self.write(family, labels, extra, value);
        }
    }

    /// One sample per state, 1 for `current`: a state set.
    fn state_set<T: serde::Serialize + std::fmt::Debug + PartialEq>(
        &mut self,
        family: &'static str,
        labels: &[Label<'_>],
        name: &'static str,
        states: &[T],
        current: &T,
    ) {
        for state in states {
            let value = if state == current { 1.0 } else { 0.0 };
            self.push_with(family, labels, Some((name, &wire(state))), value);
        }
    }
}

/// Writes one object's lines family by family, as [`ResourceSnapshot`]
/// does for a scrape.
///
/// [`ResourceSnapshot`]: super::ResourceSnapshot
pub(super) struct LinesRenderer {
    set: &'static FamilySet,
    parts: Vec<String>,
}

impl LinesRenderer {
    pub(super) fn new(set: &'static FamilySet) -> LinesRenderer {
        LinesRenderer {
            set,
            parts: vec![String::new(); set.families.len()],
        }
    }

    pub(super) fn finish(self) -> ObjectLines {
        let mut text = String::with_capacity(self.parts.iter().map(String::len).sum());
        let ends = self
            .parts
            .iter()
            .map(|part| {
                text.push_str(part);
                text.len()
            })
            .collect();
        ObjectLines { ends, text }
    }
}

impl Samples for LinesRenderer {
    fn write(
        &mut self,
        family: &'static str,
        labels: &[Label<'_>],
        extra: Option<Label<'_>>,
        value: f64,
    ) {
        let index = self.set.index(family);
        let (_, sample_name, kind) = &self.set.families[index];
        write_sample(
            &mut self.parts[index],
            sample_name,
            *kind,
            labels,
            extra,
            value,
        );
    }
}

/// A bundle's rendered lines, and the labels its modelled lines carry.
#[derive(Debug)]
pub(super) struct BundleLines {
    pub(super) id: String,
    /// Its latency class as the API writes it (`tier` label).
    pub(super) tier: String,
    pub(super) lines: ObjectLines,
}

/// A corridor's rendered lines, and the corridor as stored (its read-back
/// figures are looked up by it at each scrape).
#[derive(Debug)]
pub(super) struct CorridorLines {
    pub(super) corridor: Corridor,
    pub(super) lines: ObjectLines,
}

impl CorridorLines {
    pub(super) fn new(corridor: &Corridor, lines: ObjectLines) -> CorridorLines {
        CorridorLines {
            corridor: corridor.clone(),
            lines,
        }
    }
}

impl BundleLines {
    pub(super) fn new(bundle: &FfmBundle, tier: String, lines: ObjectLines) -> BundleLines {
        BundleLines {
            id: bundle.id.clone(),
            tier,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_keeps_its_own_lines_in_order() {
        let mut renderer = LinesRenderer::new(FamilySet::bundle());
        renderer.push("ffm_bundle_size", &[("bundle", "b1")], 4096.0);
        renderer.push("ffm_bundle", &[("bundle", "b1")], 1.0);
        renderer.push("ffm_bundle_size", &[("bundle", "b2")], 8192.0);
        renderer.push("ffm_bundle_moved_pages", &[("bundle", "b1")], f64::NAN);
        let lines = renderer.finish();
        assert_eq!(lines.part(0), "corridor_ffm_bundle_info{bundle=\"b1\"} 1\n");
        assert_eq!(
            lines.part(1),
            "corridor_ffm_bundle_size_bytes{bundle=\"b1\"} 4096.0\n\
             corridor_ffm_bundle_size_bytes{bundle=\"b2\"} 8192.0\n"
        );
        assert_eq!(lines.part(2), "");
        assert_eq!(lines.part(3), "", "no figure, no line");
    }
}
