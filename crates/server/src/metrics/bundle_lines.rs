//! A memory bundle's sample lines that depend only on the stored bundle,
//! rendered once per bundle revision and kept between scrapes.
//!
//! A loaded scrape writes 10,000 bundles. Reading, decoding and cloning
//! each bundle and writing four of its six lines again at every scrape cost
//! about half of such a scrape, though bundles rarely change between two
//! scrapes. The scrape now asks memqosd for the bundles' revisions only
//! (a keys-only read) and renders the bundles that changed
//! ([`corridor_services::projection`]); the two modelled lines (achieved
//! bandwidth, tail latency) still come from the model at each scrape.

use std::sync::OnceLock;

use corridor_model::ffm::FfmBundle;
use corridor_services::projection::Projection;

use super::PREFIX;
use super::exposition::{Kind, Label, write_sample};
use super::resources::{family_spec, wire};

/// What the metrics exporter keeps between scrapes: each bundle's rendered
/// lines, by revision.
#[derive(Debug, Default)]
pub struct ResourceRows {
    /// Held by one scrape at a time while it reads the bundles.
    pub(super) bundles: tokio::sync::Mutex<Projection<BundleLines>>,
}

/// The sample names of the bundle families rendered ahead (prefix, unit and
/// type suffix), computed once.
#[derive(Debug)]
pub(super) struct BundleFamilies {
    info: (String, Kind),
    size: (String, Kind),
    floor: (String, Kind),
    moved_pages: (String, Kind),
}

impl BundleFamilies {
    pub(super) fn get() -> &'static BundleFamilies {
        static NAMES: OnceLock<BundleFamilies> = OnceLock::new();
        NAMES.get_or_init(|| {
            let name = |family| {
                let spec = family_spec(family);
                (spec.sample_name(PREFIX), spec.kind)
            };
            BundleFamilies {
                info: name("ffm_bundle"),
                size: name("ffm_bundle_size"),
                floor: name("ffm_bundle_floor_bandwidth"),
                moved_pages: name("ffm_bundle_moved_pages"),
            }
        })
    }
}

/// One bundle's lines of the families that depend only on the stored
/// bundle, and the labels its modelled lines carry.
#[derive(Debug)]
pub(super) struct BundleLines {
    pub(super) id: String,
    /// Its latency class as the API writes it (`tier` label).
    pub(super) tier: String,
    /// Where each family's line ends in `text`: info, size, floor, moved pages.
    ends: [usize; 4],
    text: String,
}

impl BundleLines {
    pub(super) fn render(names: &BundleFamilies, b: &FfmBundle) -> BundleLines {
        let tier = wire(&b.latency_class);
        let labels: [Label<'_>; 2] = [("bundle", b.id.as_str()), ("tier", &tier)];
        let mut text = String::with_capacity(512);
        let mut ends = [0; 4];
        write_sample(
            &mut text,
            &names.info.0,
            names.info.1,
            &[
                ("bundle", &b.id),
                ("tier", &tier),
                ("security_domain", &b.security_domain),
                ("host", &b.host),
                ("persistence", &wire(&b.persistence)),
            ],
            None,
            1.0,
        );
        ends[0] = text.len();
        let figures = [
            (&names.size, b.bytes.get() as f64),
            (&names.floor, b.bandwidth_floor_gbs.get() * 1e9),
            (&names.moved_pages, b.moved_pages as f64),
        ];
        for (end, ((name, kind), value)) in ends[1..].iter_mut().zip(figures) {
            // NaN or infinity would be no figure at all: no line.
            if value.is_finite() {
                write_sample(&mut text, name, *kind, &labels, None, value);
            }
            *end = text.len();
        }
        BundleLines {
            id: b.id.clone(),
            tier,
            ends,
            text,
        }
    }

    fn part(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |i| self.ends[i]);
        &self.text[start..self.ends[index]]
    }

    /// The `ffm_bundle_info` line.
    pub(super) fn info(&self) -> &str {
        self.part(0)
    }

    pub(super) fn size(&self) -> &str {
        self.part(1)
    }

    pub(super) fn floor(&self) -> &str {
        self.part(2)
    }

    pub(super) fn moved_pages(&self) -> &str {
        self.part(3)
    }
}
