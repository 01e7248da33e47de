//! The digital twin's topology: a TOML description of a rack (hosts and their memory, CXL
//! switches and Type-3 devices, optical ports and links, ambient temperature profiles).
//!
//! Loading is two-phase. [`toml`] parses text into a [`TopologyDocument`], rejecting unknown
//! fields, wrong types and malformed ids with a file:line:column message; then
//! [`validate()`] checks uniqueness, references and physical plausibility and reports *every*
//! problem by path. Only a document that passes both becomes a [`Topology`], so the twin
//! and the services never see a dangling reference.
//!
//! The format is documented for users in `docs/topology.md`. A default rack is embedded in the
//! binary ([`Topology::default_twin`]) so that `corridord` runs with no file at all.

mod error;
mod generate;
mod ids;
mod model;
mod units;
mod validate;

use std::path::Path;
use std::sync::OnceLock;

pub use error::{Issue, Location, TopologyError};
pub use generate::{GENERATED_TOPOLOGY_NAME, generated_twin};
pub use ids::{
    CMIS_TEXT_LEN, CmisText, CmisTextError, CxlDeviceId, CxlSwitchId, HostId, IdError, LinkId,
    MAX_ID_LEN, MemoryDeviceId, OpticalPortId, PciId, PciIdError, ProfileName,
};
pub use model::{
    AmbientProfile, AmbientStep, CxlDevice, CxlDeviceKind, CxlSwitch, FIXED_SPACINGS_GHZ,
    FLEX_CENTRE_GRANULARITY_GHZ, FLEX_SLOT_GRANULARITY_GHZ, GRID_ANCHOR_GHZ, Grid, GridKind, Host,
    LaserParameters, Link, Media, Medium, MemoryDevice, MemoryTier, Modulation, ModuleIdentity,
    OpticalPort, PortPeer, PortRole, RingParameters, StandingCxlPath, SwitchPort, SwitchPortRef,
    TopologyDocument, TwinSettings,
};
pub use units::{
    Bytes, Celsius, Dbm, Decibels, DecibelsPerCentimeter, GigabitsPerSecond, GigabytesPerSecond,
    Gigahertz, GigatransfersPerSecond, Micrometers, Millimeters, MilliwattsPerNanometer,
    Nanometers, NanometersPerKelvin, Nanoseconds, Seconds,
};
pub use validate::{CXL_CAPACITY_GRANULE, MAX_LOGICAL_DEVICES, validate};

/// The embedded default topology (`crates/hal/topologies/default.toml`).
pub const DEFAULT_TOPOLOGY_TOML: &str = include_str!("../../topologies/default.toml");

/// Source name used in error messages about the embedded default.
pub const DEFAULT_TOPOLOGY_NAME: &str = "<embedded>/default.toml";

/// A validated rack topology.
///
/// Always valid: it can only be built through the loader or [`Topology::from_document`].
/// Lookups scan small vectors; a rack has tens of elements, so maps would buy nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    doc: TopologyDocument,
}

impl TopologyDocument {
    /// Every semantic problem in this document (empty if it is valid).
    #[must_use]
    pub fn validate(&self) -> Vec<Issue> {
        validate(self)
    }
}

impl Topology {
    /// Parses and validates TOML text. `source_name` labels error messages (a file name).
    ///
    /// # Errors
    /// [`TopologyError::Parse`] for TOML syntax, type, unknown-field and id-syntax errors,
    /// with line and column; [`TopologyError::Invalid`] listing every semantic problem.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, TopologyError> {
        let doc: TopologyDocument = toml::from_str(text).map_err(|e| TopologyError::Parse {
            source_name: source_name.to_owned(),
            location: e.span().map(|span| Location::of_offset(text, span.start)),
            message: e.message().trim_end().to_owned(),
        })?;
        Self::from_document(doc, source_name)
    }

    /// Reads, parses and validates a topology file.
    ///
    /// # Errors
    /// [`TopologyError::Read`] if the file cannot be read, else as [`Self::from_toml_str`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TopologyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Validates a document built or modified in code.
    ///
    /// # Errors
    /// [`TopologyError::Invalid`] listing every semantic problem.
    pub fn from_document(doc: TopologyDocument, source_name: &str) -> Result<Self, TopologyError> {
        let issues = validate(&doc);
        if issues.is_empty() {
            Ok(Self { doc })
        } else {
            Err(TopologyError::Invalid {
                source_name: source_name.to_owned(),
                issues,
            })
        }
    }

    /// The embedded default rack: 4 hosts, 2 CXL switches, 4 CXL memory pools, 16 optical
    /// ports and 8 links.
    ///
    /// # Panics
    /// Never in a released build: the embedded file is checked by this crate's tests.
    #[must_use]
    pub fn default_twin() -> Self {
        static DEFAULT: OnceLock<Topology> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Self::from_toml_str(DEFAULT_TOPOLOGY_TOML, DEFAULT_TOPOLOGY_NAME)
                    .unwrap_or_else(|e| panic!("embedded default topology is invalid: {e}"))
            })
            .clone()
    }

    /// Writes the topology back as TOML; parsing the result gives an equal topology.
    ///
    /// # Panics
    /// Never: validation guarantees every integer fits TOML's signed 64-bit range, the only
    /// way serialising these types can fail.
    #[must_use]
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(&self.doc)
            .unwrap_or_else(|e| panic!("validated topology failed to serialise: {e}"))
    }

    /// The underlying document.
    #[must_use]
    pub fn document(&self) -> &TopologyDocument {
        &self.doc
    }

    /// Gives up validity to get a mutable document (re-validate with [`Self::from_document`]).
    #[must_use]
    pub fn into_document(self) -> TopologyDocument {
        self.doc
    }

    /// The `[twin]` settings.
    #[must_use]
    pub fn twin(&self) -> &TwinSettings {
        &self.doc.twin
    }

    /// All hosts, in file order.
    #[must_use]
    pub fn hosts(&self) -> &[Host] {
        &self.doc.hosts
    }

    /// The host with this id.
    #[must_use]
    pub fn host(&self, id: &str) -> Option<&Host> {
        self.doc.hosts.iter().find(|h| h.id == id)
    }

    /// Every host memory device with its host.
    pub fn memory_devices(&self) -> impl Iterator<Item = (&Host, &MemoryDevice)> {
        self.doc
            .hosts
            .iter()
            .flat_map(|h| h.memory.iter().map(move |m| (h, m)))
    }

    /// The host memory device with this id, with its host.
    #[must_use]
    pub fn memory_device(&self, id: &str) -> Option<(&Host, &MemoryDevice)> {
        self.memory_devices().find(|(_, m)| m.id == id)
    }

    /// All CXL switches, in file order.
    #[must_use]
    pub fn cxl_switches(&self) -> &[CxlSwitch] {
        &self.doc.cxl_switches
    }

    /// The CXL switch with this id.
    #[must_use]
    pub fn cxl_switch(&self, id: &str) -> Option<&CxlSwitch> {
        self.doc.cxl_switches.iter().find(|s| s.id == id)
    }

    /// All CXL devices, in file order.
    #[must_use]
    pub fn cxl_devices(&self) -> &[CxlDevice] {
        &self.doc.cxl_devices
    }

    /// The standing fabric paths fabmand creates at start (`[[cxl_paths]]`).
    #[must_use]
    pub fn standing_cxl_paths(&self) -> &[StandingCxlPath] {
        &self.doc.cxl_paths
    }

    /// The same topology without standing fabric paths: a fabric that starts empty.
    #[must_use]
    pub fn without_standing_paths(&self) -> Self {
        let mut doc = self.doc.clone();
        doc.cxl_paths.clear();
        Self { doc }
    }

    /// The CXL device with this id.
    #[must_use]
    pub fn cxl_device(&self, id: &str) -> Option<&CxlDevice> {
        self.doc.cxl_devices.iter().find(|d| d.id == id)
    }

    /// CXL devices attached to the switch `switch`.
    pub fn devices_on_switch<'a>(
        &'a self,
        switch: &'a str,
    ) -> impl Iterator<Item = &'a CxlDevice> + 'a {
        self.doc
            .cxl_devices
            .iter()
            .filter(move |d| d.switch == switch)
    }

    /// Hosts with an upstream port on the switch `switch` (those that can reach its devices).
    pub fn hosts_on_switch<'a>(&'a self, switch: &'a str) -> impl Iterator<Item = &'a Host> + 'a {
        self.cxl_switch(switch)
            .into_iter()
            .flat_map(|s| s.ports.iter())
            .filter_map(|p| match &p.connected_to {
                Some(PortPeer::Host(h)) => self.host(h),
                _ => None,
            })
    }

    /// All optical ports, in file order.
    #[must_use]
    pub fn optical_ports(&self) -> &[OpticalPort] {
        &self.doc.optical_ports
    }

    /// The optical port with this id.
    #[must_use]
    pub fn optical_port(&self, id: &str) -> Option<&OpticalPort> {
        self.doc.optical_ports.iter().find(|p| p.id == id)
    }

    /// Optical ports on the host `host`.
    pub fn ports_of_host<'a>(
        &'a self,
        host: &'a str,
    ) -> impl Iterator<Item = &'a OpticalPort> + 'a {
        self.doc
            .optical_ports
            .iter()
            .filter(move |p| p.host == host)
    }

    /// All links, in file order.
    #[must_use]
    pub fn links(&self) -> &[Link] {
        &self.doc.links
    }

    /// The link with this id.
    #[must_use]
    pub fn link(&self, id: &str) -> Option<&Link> {
        self.doc.links.iter().find(|l| l.id == id)
    }

    /// Links with `port` at either end (at most one in a valid topology).
    pub fn links_of<'a>(&'a self, port: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
        self.doc.links.iter().filter(move |l| l.touches(port))
    }

    /// All ambient profiles, in file order.
    #[must_use]
    pub fn ambient_profiles(&self) -> &[AmbientProfile] {
        &self.doc.ambient_profiles
    }

    /// The ambient profile with this name.
    #[must_use]
    pub fn ambient_profile(&self, name: &str) -> Option<&AmbientProfile> {
        self.doc.ambient_profiles.iter().find(|p| p.name == name)
    }

    /// The profile named by `[twin] ambient_profile`.
    ///
    /// # Panics
    /// Never: validation checks that the name resolves.
    #[must_use]
    pub fn active_ambient_profile(&self) -> &AmbientProfile {
        self.ambient_profile(&self.doc.twin.ambient_profile)
            .unwrap_or_else(|| panic!("validated topology lost its active ambient profile"))
    }
}
