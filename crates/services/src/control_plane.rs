//! The services of one corridord, wired to one store, one hardware
//! inventory and its two clocks (wall time for metadata, plant time for
//! the optical plant's physics).

use std::sync::Arc;

use corridor_hal::fabric::{Discovery, FabricTwin};
use corridor_hal::memory::MemoryProvider;
use corridor_hal::{Clocks, OpticalPlant, Topology, TwinMemory, TwinOptics};
use corridor_model::calibration::AmbientProfile;
use corridor_model::fabric::FabricDevice;
use corridor_store::StateStore;

use corridor_attest::ticket::TicketSigner;
use corridor_hal::attestation::{TwinSpdm, TwinSpdmConfig, TwinSpdmFaults};

use crate::attestation::{AttestationService, TrustAnchors};
use crate::compat::CompatService;
use crate::corridors::CorridorService;
use crate::daemons::{Daemons, RfcDaemon};
use crate::fabman::PathService;
use crate::ffm::{FfmConfig, FfmService};
use crate::heliopass::{HelioService, HelioSettings};
use crate::history::HistoryService;
use crate::inventory::{self, DeviceInventory};
use crate::operations::Operations;
use crate::{Registry, ServiceError};

#[derive(Debug)]
pub struct ControlPlane {
    /// The RFC daemons this process runs. Every service object exists in
    /// every process (the code that reads their state through the store,
    /// e.g. history and metrics, names them), but only a daemon run here
    /// owns its hardware seam and runs its background work; the others
    /// are held over the store alone and their routes answer 503.
    pub daemons: Daemons,
    pub store: Arc<dyn StateStore>,
    pub topology: Arc<Topology>,
    pub clocks: Clocks,
    pub devices: Registry<FabricDevice>,
    /// Keeps `devices` true to what the memory provider lists.
    pub inventory: Arc<DeviceInventory>,
    pub operations: Operations,
    /// corrd: photonic corridors.
    pub corridors: Arc<CorridorService>,
    /// heliopassd: ring calibration and tracking (its loop is started by
    /// whoever serves, as corrd's reconciler).
    pub heliopass: Arc<HelioService>,
    /// memqosd: free-form memory and policies.
    pub ffm: Arc<FfmService>,
    /// attestd: device attestation and tickets.
    pub attestation: Arc<AttestationService>,
    /// Fault injection into the twin's SPDM responders.
    pub spdm_faults: TwinSpdmFaults,
    /// The twin's CXL switches answering FM API (on loopback), while the
    /// plane lives; `None` with a real (Linux) memory provider.
    pub fabric: Option<Arc<FabricTwin>>,
    /// compatd: translation profiles and launched programs.
    pub compat: Arc<CompatService>,
    /// fabmand: CXL fabric paths (its reconciler is started by whoever serves).
    pub paths: Arc<PathService>,
    /// Corridor telemetry and object changes kept by wall time and store
    /// revision (kept once configured; its recorder is started by whoever
    /// serves).
    pub history: Arc<HistoryService>,
}

/// How long one FM API connect or answer may take before the switch is
/// counted as not answering.
pub const FM_API_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl ControlPlane {
    /// Wires the services and publishes the inventory into the store;
    /// memqosd keeps its files in a private temporary directory.
    pub async fn start(
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        clocks: impl Into<Clocks>,
    ) -> Result<ControlPlane, ServiceError> {
        Self::start_with(store, topology, clocks, FfmConfig::ephemeral()).await
    }

    /// As [`ControlPlane::start`], with memqosd's directories and provider;
    /// corrd drives the twin's optical ports.
    pub async fn start_with(
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        clocks: impl Into<Clocks>,
        ffm: FfmConfig,
    ) -> Result<ControlPlane, ServiceError> {
        let optics = TwinOptics::new(&topology).map_err(|e| ServiceError::Startup {
            service: "corrd",
            message: format!(
                "the twin's optical ports: {}",
                crate::error::error_chain(&e)
            ),
        })?;
        Self::start_with_optics(store, topology, clocks, ffm, Arc::new(optics)).await
    }

    /// As [`ControlPlane::start_with`], with corrd on the given optical
    /// plant (the twin or real modules; its ports are the topology's) and
    /// attestd signing with fresh keys (tickets verify only while this
    /// process lives; corridord passes its persistent keys instead).
    pub async fn start_with_optics(
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        clocks: impl Into<Clocks>,
        ffm: FfmConfig,
        optics: Arc<dyn OpticalPlant>,
    ) -> Result<ControlPlane, ServiceError> {
        let signer = TicketSigner::generate().map_err(|e| ServiceError::Startup {
            service: "attestd",
            message: format!("ticket keys: {}", crate::error::error_chain(&e)),
        })?;
        Self::start_full(store, topology, clocks, ffm, optics, signer).await
    }

    /// Every service, with attestd signing tickets with `signer`.
    pub async fn start_full(
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        clocks: impl Into<Clocks>,
        ffm: FfmConfig,
        optics: Arc<dyn OpticalPlant>,
        signer: TicketSigner,
    ) -> Result<ControlPlane, ServiceError> {
        Self::start_daemons(store, topology, clocks, ffm, optics, signer, Daemons::all()).await
    }

    /// The services of `daemons`, as [`ControlPlane::start_full`]: a daemon
    /// not in the set opens none of its hardware and starts none of its
    /// work. `optics` is driven only if corrd runs here (pass the twin's
    /// ports otherwise: corrd's planner reads their capabilities, and no
    /// module is ever lit through them).
    pub async fn start_daemons(
        store: Arc<dyn StateStore>,
        topology: Arc<Topology>,
        clocks: impl Into<Clocks>,
        ffm: FfmConfig,
        optics: Arc<dyn OpticalPlant>,
        signer: TicketSigner,
        daemons: Daemons,
    ) -> Result<ControlPlane, ServiceError> {
        let clocks = clocks.into();
        // The twin's SPDM responders answer for every simulated device;
        // what is trusted about them is taken from them at start, as an
        // operator enrols devices.
        let spdm = TwinSpdm::from_topology(&topology, TwinSpdmConfig::default()).map_err(|e| {
            ServiceError::Startup {
                service: "attestd",
                message: format!(
                    "the twin's SPDM responders: {}",
                    crate::error::error_chain(&e)
                ),
            }
        })?;
        let anchors = TrustAnchors::of_twin(&spdm).map_err(|e| ServiceError::Startup {
            service: "attestd",
            message: format!("the twin's device keys: {e}"),
        })?;
        let spdm = Arc::new(spdm);
        let attestation = Arc::new(AttestationService::new(
            Arc::clone(&store),
            Arc::clone(&clocks.wall),
            spdm.clone(),
            anchors,
            signer,
        )?);
        // The issuer's keys are attestd's to publish; the others read them.
        if daemons.runs(RfcDaemon::Attestd) {
            attestation.publish_issuer().await?;
        }
        let mut ffm = ffm;
        // On the twin the topology's switches carry pooled memory, and
        // memqosd follows the paths fabmand writes to the store, whichever
        // process fabmand runs in.
        let twin_memory = ffm.provider.is_none();
        // One memory provider for memqosd's placements and the device
        // inventory, so both see the same devices.
        let provider: Arc<dyn MemoryProvider> = match &ffm.provider {
            Some(provider) => Arc::clone(provider),
            None => Arc::new(TwinMemory::new(&topology)),
        };
        // On the twin, the switches are FM API twins and the inventory
        // learns the fabric from them as it would from real switches; with
        // a provided (Linux) memory provider there is no switch to ask.
        // The switch twins are the fabric transport: fabmand's seam.
        let fabric = if twin_memory && daemons.runs(RfcDaemon::Fabmand) {
            Some(Arc::new(FabricTwin::start(&topology).map_err(|e| {
                ServiceError::Startup {
                    service: "fabmand",
                    message: format!("the twin's CXL switches: {e}"),
                }
            })?))
        } else {
            None
        };
        ffm.provider = Some(Arc::clone(&provider));
        let devices = Registry::new(Arc::clone(&store));
        // The device inventory is fabmand's (`/v1/fabman/devices`): it
        // discovers through the switches and publishes into the store.
        let inventory = if daemons.runs(RfcDaemon::Fabmand) {
            DeviceInventory::start(
                devices.clone(),
                Arc::clone(&topology),
                provider,
                fabric
                    .as_ref()
                    .map(|twin| Discovery::new(twin.endpoints(), FM_API_TIMEOUT)),
                Arc::clone(&clocks.wall),
                Some(Arc::clone(&attestation)),
            )
            .await?
        } else {
            DeviceInventory::idle(
                devices.clone(),
                Arc::clone(&topology),
                provider,
                Arc::clone(&clocks.wall),
            )
        };
        let operations =
            Operations::new(Registry::new(Arc::clone(&store)), Arc::clone(&clocks.wall));
        let optics_for_helio = Arc::clone(&optics);
        let corridors = if daemons.runs(RfcDaemon::Corrd) {
            CorridorService::start(
                Arc::clone(&store),
                &topology,
                optics,
                clocks.clone(),
                operations.clone(),
            )
            .await
        } else {
            CorridorService::start_without_plant(
                Arc::clone(&store),
                &topology,
                optics,
                clocks.clone(),
                operations.clone(),
            )
            .await
        }
        .map(Arc::new)
        .map_err(ServiceError::from)?;
        let heliopass = Arc::new(HelioService::new(
            Arc::clone(&optics_for_helio),
            Arc::clone(&topology),
            clocks.clone(),
            operations.clone(),
            Arc::clone(&corridors),
            HelioSettings::default(),
        ));
        let tuning: Arc<dyn crate::corridors::tuning::LaneTuning> = heliopass.clone();
        corridors.attach_tuning(&tuning);
        let paths = Arc::new(PathService::new(
            Arc::clone(&store),
            &topology,
            fabric
                .as_ref()
                .map(|twin| twin.endpoints())
                .unwrap_or_default(),
            FM_API_TIMEOUT,
            Arc::clone(&clocks.wall),
        ));
        // Where fabmand programs the switches, a host's pooled memory is what its paths
        // give it: the standing paths first, so memqosd opens their slices before it
        // restores the bundles on them.
        if fabric.is_some() {
            // The twin's switches start empty: what the store says is programmed, is.
            paths
                .reprogram_active()
                .await
                .map_err(|e| ServiceError::Startup {
                    service: "fabmand",
                    message: format!(
                        "programming the active fabric paths again: {}",
                        crate::error::error_chain(&e)
                    ),
                })?;
            paths
                .ensure_standing(&topology)
                .await
                .map_err(|e| ServiceError::Startup {
                    service: "fabmand",
                    message: format!(
                        "the topology's standing fabric paths: {}",
                        crate::error::error_chain(&e)
                    ),
                })?;
        }
        ffm.follow_fabric_paths = twin_memory;
        ffm.runs_memqosd = daemons.runs(RfcDaemon::Memqosd);
        let ffm = FfmService::start(
            Arc::clone(&store),
            Arc::clone(&clocks.wall),
            operations.clone(),
            &topology,
            ffm,
        )
        .await
        .map_err(|e| match e {
            crate::ffm::FfmError::Service(s) => s,
            other => ServiceError::Startup {
                service: "memqosd",
                message: crate::error::error_chain(&other),
            },
        })?;
        let compat = Arc::new(if daemons.runs(RfcDaemon::Compatd) {
            CompatService::start(Arc::clone(&store)).await?
        } else {
            CompatService::unseeded(Arc::clone(&store))
        });
        corridors.attach_trust(attestation.clone());
        ffm.attach_trust(attestation.clone());
        let history = Arc::new(HistoryService::new(
            Arc::clone(&corridors),
            Arc::clone(&ffm),
            Arc::clone(&store),
            Arc::clone(&topology),
            Arc::clone(&clocks.wall),
        ));
        Ok(ControlPlane {
            daemons,
            history,
            ffm,
            store,
            topology,
            clocks,
            devices,
            inventory,
            operations,
            corridors,
            heliopass,
            attestation,
            spdm_faults: spdm.faults(),
            fabric,
            compat,
            paths,
        })
    }

    /// The twin's ambient profiles, in the API's shape.
    pub fn ambient_profiles(&self) -> Vec<AmbientProfile> {
        inventory::ambient_profiles(&self.topology)
    }
}
