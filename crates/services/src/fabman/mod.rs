//! fabmand's paths: CXL fabric paths with QoS, admitted against a per-port bandwidth
//! ledger in one store transaction and programmed into the switches over FM API.
//!
//! - **Admission** ([`ledger`]): route over the free bandwidth of every port
//!   ([`corridor_planner::cxl`]), then write the path and its share on each port key in one
//!   transaction comparing the revisions the route was planned on; a lost race replans.
//! - **Programming** ([`program`]): a host-to-device path binds a vPPB of the host's
//!   virtual CXL switch to the device (a free LD of an MLD, the whole port of an SLD) and,
//!   on an MLD, sets every LD's QoS Allocated BW and BW Limit from the paths on it (and
//!   egress congestion control for `ecn`), then reads them back. Device-to-device (PBR) and
//!   host-to-host (GIM) paths are admitted and routed, but their CXL 3.x routing entries are
//!   modelled: no open implementation of the PBR/GFD commands exists (the path says so).
//! - **Reconciling**: FM API discovery every [`RECONCILE_PERIOD`]; a path crossing a port
//!   or device that is gone turns `degraded`, and is programmed again when it is back.
//!
//! Paths hold no lease: a path is infrastructure an operator creates and deletes.

pub mod error;
pub mod graph;
pub mod ledger;
pub mod program;
pub mod raw;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use corridor_hal::fabric::{Discovery, FabricSnapshot, PortStatus, SwitchEndpoint};
use corridor_hal::{Clock, Topology};
use corridor_model::fabric::{
    FabricHop, FabricPath, FabricPathRequest, FabricPort, LdGrant, PathProgramming, PathStatus,
    PortAttachment, PortLink, QosEnforcement, VppbBinding,
};
use corridor_model::meta::{Condition, ConditionStatus, condition_type};
use corridor_model::units::{Bytes, Gbps, Nanoseconds};
use corridor_model::validate::rule;
use corridor_planner::cxl::{Demand, EndpointKind, Route, RouteError};
use corridor_store::{Revision, StateStore};

pub use error::PathError;
use graph::FabricMap;
use ledger::LedgerView;
use program::{DeviceQos, HostToDevice, SwitchLink};

use crate::{Registry, ServiceError};

crate::meta_resource!(FabricPath, "fabric-paths");

/// How often the reconciler asks the switches what is there.
pub const RECONCILE_PERIOD: Duration = Duration::from_secs(2);

/// Admission attempts before a 503.
const ADMISSION_ATTEMPTS: usize = 8;

/// How long a release keeps retrying while the port keys keep changing under it.
const RELEASE_PATIENCE: Duration = Duration::from_secs(5);

/// How long a fabmand that found a standing path being programmed by another waits for
/// it to come out (programming one path takes a few FM API round trips).
const STANDING_PATIENCE: Duration = Duration::from_secs(10);

/// How often it looks meanwhile.
const STANDING_POLL: Duration = Duration::from_millis(20);

/// What admission did with a path id.
#[derive(Debug)]
enum Admission {
    /// Granted at this revision, status `programming`.
    Granted(FabricPath, Revision),
    /// A path was already stored under the id (only when asked to adopt one).
    Exists(FabricPath),
}

/// The id of the topology's standing path from `host` to `device`: the same in every
/// process, so that fabmands starting together on one store all grant one key and only
/// the first commits. It has the `path-` prefix of every path id but 12 hex digits, not
/// the 20 of a path made by request (`crate::ids`), so the two can never be equal: the
/// first 48 bits of the 64-bit FNV-1a hash of `standing`, host and device (each followed by
/// a NUL), which stays the same across upgrades. The topology allows one standing path per
/// host and device.
pub fn standing_path_id(host: &str, device: &str) -> String {
    let hash = corridor_hal::fabric::fnv1a_64(
        ["standing", host, device]
            .into_iter()
            .flat_map(|part| part.bytes().chain([0])),
    );
    format!("path-{:012x}", hash >> 16)
}

/// What one path is, for programming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    HostToDevice,
    DeviceToDevice,
    HostToHost,
}

#[derive(Debug)]
pub struct PathService {
    paths: Registry<FabricPath>,
    store: Arc<dyn StateStore>,
    map: FabricMap,
    switches: BTreeMap<String, SwitchLink>,
    clock: Arc<dyn Clock>,
    /// One FM API programming at a time per switch: a VCS's bindings and a device's QoS
    /// vectors are read-modify-write, and every device a host path programs hangs off one
    /// switch, so paths on different switches program side by side.
    programming: BTreeMap<String, tokio::sync::Mutex<()>>,
    /// Graph ports that discovery last found down (their device gone or link down).
    down: Mutex<HashSet<usize>>,
    /// Each MLD's LD count as Get LD Info last answered (every QoS write needs it);
    /// forgotten when discovery finds the device's port down, since whatever is plugged
    /// in next may have another count.
    ld_counts: Mutex<BTreeMap<String, u16>>,
    /// When discovery last scanned the switches (`None` before the first scan).
    discovered_at: Mutex<Option<DateTime<Utc>>>,
    discovery: Mutex<Option<Discovery>>,
    /// The paths programmed again at start ([`Self::reprogram_active`]) and the standing
    /// paths this process created or adopted: a standing path another fabmand made active
    /// after this one's start read the store is programmed here too, once.
    programmed_here: Mutex<HashSet<String>>,
}

fn field(pointer: &'static str, rule: &'static str, message: String) -> PathError {
    PathError::Field {
        pointer,
        rule,
        message,
    }
}

impl PathService {
    /// A path service for the topology's fabric, programming the switches at `endpoints`
    /// (none: paths cannot be created, see [`PathError::NoFabricManager`]).
    pub fn new(
        store: Arc<dyn StateStore>,
        topology: &Topology,
        endpoints: Vec<SwitchEndpoint>,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let switches = endpoints
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    SwitchLink {
                        name: e.name.clone(),
                        addr: e.addr,
                        timeout,
                    },
                )
            })
            .collect();
        let discovery = (!endpoints.is_empty()).then(|| Discovery::new(endpoints, timeout));
        PathService {
            paths: Registry::new(Arc::clone(&store)),
            store,
            map: FabricMap::from_topology(topology),
            switches,
            clock,
            programming: topology
                .cxl_switches()
                .iter()
                .map(|sw| (sw.id.as_str().to_owned(), tokio::sync::Mutex::new(())))
                .collect(),
            down: Mutex::new(HashSet::new()),
            ld_counts: Mutex::new(BTreeMap::new()),
            discovered_at: Mutex::new(None),
            discovery: Mutex::new(discovery),
            programmed_here: Mutex::new(HashSet::new()),
        }
    }

    /// The paths registry (list, get and watch read it directly).
    pub fn registry(&self) -> &Registry<FabricPath> {
        &self.paths
    }

    /// Every port the fabric routes over with what its paths hold and what is left, from
    /// one read of the ledger, and each link as the last discovery found it.
    pub async fn ports(&self) -> Result<Vec<FabricPort>, ServiceError> {
        let view = LedgerView::read(self.store.as_ref()).await?;
        let down = self.down.lock().expect("down ports").clone();
        let observed_at = *self.discovered_at.lock().expect("discovery time");
        let graph = &self.map.graph;
        let ports = graph
            .ports()
            .iter()
            .enumerate()
            .filter_map(|(i, port)| {
                let (attachment, attached_to) = match (graph.endpoint_at(i), port.peer) {
                    (Some(name), _) if self.map.devices.contains_key(name) => {
                        (PortAttachment::Device, name.to_owned())
                    }
                    (Some(name), _) => (PortAttachment::Host, name.to_owned()),
                    (None, Some(peer)) => (PortAttachment::Switch, self.map.port_name(peer)),
                    (None, None) => return None,
                };
                let key = ledger::key_of_port(&self.map, i);
                let held = view.shares_of(&key);
                let guaranteed = held.map_or(0.0, ledger::PortShares::held_gbps);
                let admissible = self.map.admissible_gbps(i);
                let link = match observed_at {
                    None => PortLink::Unknown,
                    Some(_) if down.contains(&i) => PortLink::Down,
                    Some(_) => PortLink::Up,
                };
                Some(FabricPort {
                    switch_id: graph.switches()[port.switch].clone(),
                    port: u16::from(port.number),
                    attachment,
                    attached_to,
                    capacity_gbps: Gbps(port.capacity_gbps),
                    admissible_gbps: Gbps(admissible),
                    guaranteed_gbps: Gbps(guaranteed),
                    free_gbps: Gbps(admissible - guaranteed),
                    paths: held
                        .map(|h| h.shares.keys().cloned().collect())
                        .unwrap_or_default(),
                    link,
                    observed_at,
                })
            })
            .collect();
        Ok(ports)
    }

    fn shape(&self, request: &FabricPathRequest) -> Result<Shape, PathError> {
        let kind = |pointer: &'static str, name: &str| {
            self.map
                .graph
                .endpoint(name)
                .map(|e| e.kind)
                .ok_or_else(|| {
                    field(
                        pointer,
                        rule::EXISTS,
                        format!("{name:?} is neither a host nor a device of the CXL fabric"),
                    )
                })
        };
        let source = kind("/source_device", &request.source_device)?;
        let target = kind("/target_device", &request.target_device)?;
        use corridor_model::fabric::PathType;
        let shape = match (source, target) {
            (EndpointKind::Host, EndpointKind::Device) => Shape::HostToDevice,
            (EndpointKind::Device, EndpointKind::Device) => Shape::DeviceToDevice,
            (EndpointKind::Host, EndpointKind::Host) => Shape::HostToHost,
            (EndpointKind::Device, EndpointKind::Host) => {
                return Err(field(
                    "/source_device",
                    rule::COMPATIBLE,
                    "a device reaches a host's memory only through GIM between hosts; put the host as source and the device as target".into(),
                ));
            }
        };
        match (request.path_type, shape) {
            (PathType::Hbr, Shape::HostToDevice) | (PathType::Pbr, Shape::HostToDevice) => {}
            (PathType::Pbr, Shape::DeviceToDevice) | (PathType::Gim, Shape::HostToHost) => {}
            (PathType::Hbr, _) => {
                return Err(field(
                    "/path_type",
                    rule::COMPATIBLE,
                    "HBR (hierarchy-based routing) joins a host to a device below it; device-to-device needs PBR, host-to-host GIM".into(),
                ));
            }
            (PathType::Gim, _) => {
                return Err(field(
                    "/path_type",
                    rule::COMPATIBLE,
                    "GIM (global integrated memory) joins two hosts".into(),
                ));
            }
            (PathType::Pbr, _) => {
                return Err(field(
                    "/path_type",
                    rule::COMPATIBLE,
                    "PBR joins a host or device to a device; host-to-host memory is GIM".into(),
                ));
            }
        }
        if request.qos.ecn {
            let target_mld = self
                .map
                .devices
                .get(&request.target_device)
                .is_some_and(|d| d.mld);
            if shape != Shape::HostToDevice || !target_mld {
                return Err(field(
                    "/qos/ecn",
                    rule::COMPATIBLE,
                    format!(
                        "ecn is egress congestion control on the target's FM-owned QoS (an MLD, reached from a host); {} has none",
                        request.target_device
                    ),
                ));
            }
        }
        Ok(shape)
    }

    fn route(&self, request: &FabricPathRequest, view: &LedgerView) -> Result<Route, PathError> {
        use corridor_model::fabric::PathType;
        let down = self.down.lock().expect("down ports").clone();
        let demand = Demand {
            source: &request.source_device,
            target: &request.target_device,
            min_gbps: request.qos.min_bandwidth_gbps.get(),
            max_latency_ns: request.qos.max_latency_ns.get(),
            max_switches: (request.path_type == PathType::Hbr).then_some(1),
        };
        let free = |port: usize| {
            (!down.contains(&port)).then(|| {
                self.map.admissible_gbps(port)
                    - view.held_gbps(&ledger::key_of_port(&self.map, port))
            })
        };
        self.map.graph.route(&demand, free).map_err(|e| match e {
            RouteError::Bandwidth {
                port,
                free_gbps,
                needed_gbps,
            } => PathError::InsufficientCapacity {
                port: self.map.port_name(port),
                free_gbps: free_gbps.max(0.0),
                admissible_gbps: self.map.admissible_gbps(port),
                needed_gbps,
            },
            RouteError::UnknownEndpoint { which, name } => field(
                if which == "source" {
                    "/source_device"
                } else {
                    "/target_device"
                },
                rule::EXISTS,
                format!("{name:?} is not a fabric endpoint"),
            ),
            other => PathError::NoFeasiblePath(other.to_string()),
        })
    }

    fn hops(&self, route: &Route) -> Vec<FabricHop> {
        let ports = self.map.graph.ports();
        route
            .hops
            .iter()
            .map(|h| FabricHop {
                switch_id: self.map.graph.switches()[h.switch].clone(),
                ingress_port: ports[h.ingress].number.into(),
                egress_port: ports[h.egress].number.into(),
            })
            .collect()
    }

    /// Admits, routes and programs a path (`POST /v1/fabman/paths`).
    pub async fn create(&self, request: FabricPathRequest) -> Result<FabricPath, PathError> {
        let shape = self.shape(&request)?;
        if self.switches.is_empty() {
            return Err(PathError::NoFabricManager);
        }
        let id = crate::ids::new_id(self.clock.as_ref(), "path");
        match self.admit(&id, &request, false).await? {
            Admission::Granted(path, revision) => self.program_granted(path, revision, shape).await,
            // Not asked for: a fresh random id is taken by nothing.
            Admission::Exists(path) => Ok(path),
        }
    }

    /// Routes `request` over the free bandwidth and grants it as path `id` in one
    /// transaction, replanning when the ledger changed meanwhile. With `adopt`, a path
    /// already stored under `id` is answered as it is instead: it is looked for after each
    /// read of the ledger, so a grant of `id` that the read already holds is found there
    /// rather than refused for the capacity it took.
    async fn admit(
        &self,
        id: &str,
        request: &FabricPathRequest,
        adopt: bool,
    ) -> Result<Admission, PathError> {
        let now = self.clock.now();
        for attempt in 0..ADMISSION_ATTEMPTS {
            if attempt > 0 {
                contention_backoff(attempt).await;
            }
            let view = LedgerView::read(self.store.as_ref()).await?;
            if adopt {
                match self.paths.get(id).await {
                    Ok(path) => return Ok(Admission::Exists(path)),
                    Err(ServiceError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let route = self.route(request, &view)?;
            let mut path = FabricPath::pending(id.to_owned(), request.clone(), now);
            path.status = PathStatus::Programming;
            path.hops = self.hops(&route);
            path.predicted_latency_ns = Some(Nanoseconds(route.latency_ns));
            path.meta.set_condition(Condition::new(
                condition_type::ADMITTED,
                ConditionStatus::True,
                "BandwidthGranted",
                format!(
                    "{} Gb/s guaranteed on {} ports; predicted latency {} ns (modelled)",
                    request.qos.min_bandwidth_gbps.get(),
                    route.hops.len() * 2,
                    route.latency_ns
                ),
                now,
            ));
            let response = self
                .store
                .txn(ledger::grant_txn(&view, &path))
                .await
                .map_err(ServiceError::store("grant a fabric path"))?;
            if response.succeeded {
                return Ok(Admission::Granted(path, response.revision));
            }
        }
        Err(PathError::Contention {
            attempts: ADMISSION_ATTEMPTS,
        })
    }

    /// Programs a path just granted (at `revision`) and records what the switches read
    /// back; if the fabric does not take it, its grant is released.
    async fn program_granted(
        &self,
        path: FabricPath,
        revision: Revision,
        shape: Shape,
    ) -> Result<FabricPath, PathError> {
        let _guard = self.programming_lock(&path).await;
        match self.program(&path, shape).await {
            Ok(programming) => {
                let now = self.clock.now();
                let updated = self
                    .paths
                    .update(&path.id, Some(revision), |p| {
                        p.programming = Some(programming.clone());
                        p.status = PathStatus::Active;
                        p.meta.updated_at = now;
                        p.meta.set_condition(Condition::new(
                            condition_type::READY,
                            ConditionStatus::True,
                            "Programmed",
                            ready_message(&programming),
                            now,
                        ));
                        Ok(())
                    })
                    .await?;
                Ok(updated)
            }
            Err(e) => {
                // Nothing stays granted for a path the fabric did not take.
                if let Ok((current, kv)) = self.paths.get_kv(&path.id).await {
                    let view = LedgerView::read(self.store.as_ref()).await?;
                    let _ = self
                        .store
                        .txn(ledger::release_txn(&view, &current, kv.mod_revision))
                        .await;
                }
                Err(e)
            }
        }
    }

    /// Programs `path` (admitted, hops set) into the fabric; returns what was read back.
    async fn program(&self, path: &FabricPath, shape: Shape) -> Result<PathProgramming, PathError> {
        let mut programming = PathProgramming {
            bindings: Vec::new(),
            ld_allocation: None,
            qos_shares: Vec::new(),
            congestion_control: false,
            enforcement: QosEnforcement::Admission,
            modelled: Vec::new(),
        };
        match shape {
            Shape::HostToDevice => {
                let device = self
                    .map
                    .devices
                    .get(&path.target_device)
                    .cloned()
                    .expect("a routed device target is in the map");
                let hop = &path.hops[path.hops.len() - 1];
                let link = self.switch(&hop.switch_id)?;
                let first = &path.hops[0];
                let usp = u8::try_from(first.ingress_port).expect("ports are u8 in the graph");
                let spec = HostToDevice {
                    usp,
                    port: device.port,
                    mld: device.mld,
                };
                if path.hops.len() > 1 {
                    programming.modelled.push(format!(
                        "PBR routing entries across {} inter-switch links (no open FM API command set for them)",
                        path.hops.len() - 1
                    ));
                }
                let bound = blocking(move || program::bind(&link, spec)).await?;
                let ld = bound.binding.ld_id;
                programming.bindings.push(bound.binding.clone());
                if let Some(ld) = ld {
                    let qos = self
                        .device_qos(&path.target_device, Some((path, ld)), None)
                        .await?;
                    let link = self.switch(&hop.switch_id)?;
                    let ld8 = u8::try_from(ld).expect("LD ids of an MLD fit in 4 bits");
                    let read = blocking(move || program::set_qos(&link, &qos, ld8)).await?;
                    programming.ld_allocation = Some(LdGrant {
                        device: path.target_device.clone(),
                        ld_id: ld,
                        capacity_bytes: Bytes(read.ld_bytes),
                    });
                    programming.qos_shares.push(read.share);
                    programming.congestion_control = read.congestion_control;
                    programming.enforcement = QosEnforcement::Device;
                }
            }
            Shape::DeviceToDevice => {
                programming.modelled.push(format!(
                    "PBR routing entries {} (edge-port PIDs and switch routing tables: no open FM API command set exists for CXL 3.x PBR)",
                    route_text(path)
                ));
            }
            Shape::HostToHost => {
                programming.modelled.push(format!(
                    "GIM window and PBR routing entries {} (no open FM API command set exists for CXL 3.x GIM/GFD)",
                    route_text(path)
                ));
            }
        }
        Ok(programming)
    }

    fn switch(&self, name: &str) -> Result<SwitchLink, PathError> {
        self.switches
            .get(name)
            .cloned()
            .ok_or(PathError::NoFabricManager)
    }

    /// The QoS vectors of a device from the paths that hold its LDs: each LD with paths
    /// gets the sum of their guarantees as its allocated share and the sum of their asked
    /// bandwidth as its limit; LDs without paths share what is left evenly, unlimited.
    /// `adding` is a path being programmed (its LD not yet recorded), `removing` one being
    /// released.
    async fn device_qos(
        &self,
        device: &str,
        adding: Option<(&FabricPath, u16)>,
        removing: Option<&str>,
    ) -> Result<DeviceQos, PathError> {
        let facts = self
            .map
            .devices
            .get(device)
            .cloned()
            .expect("only known devices are programmed");
        let link = self.switch(&facts.switch)?;
        let port = facts.port;
        let known = self
            .ld_counts
            .lock()
            .expect("LD counts")
            .get(device)
            .copied();
        let lds = match known {
            Some(lds) => lds,
            None => {
                let lds = blocking(move || {
                    let mut client = corridor_hal::fabric::FmClient::new(
                        corridor_hal::fabric::MctpTcpTransport::connect(link.addr, link.timeout)?,
                    );
                    Ok(client.ld_info(port)?.ld_count)
                })
                .await?;
                self.ld_counts
                    .lock()
                    .expect("LD counts")
                    .insert(device.to_owned(), lds);
                lds
            }
        };
        let lds = usize::from(lds.min(16));
        let mut guaranteed = vec![0.0f64; lds];
        let mut asked = vec![0.0f64; lds];
        let mut congestion = false;
        let mut count = |path: &FabricPath, ld: u16| {
            let i = usize::from(ld);
            if i < lds {
                guaranteed[i] += path.qos.min_bandwidth_gbps.get();
                asked[i] += path.bandwidth_gbps.get();
                congestion |= path.qos.ecn;
            }
        };
        for path in self.all_paths().await? {
            // The path being programmed counts once, as `adding` (the store may hold it with
            // its LD already: programmed again at start or after degrading).
            let being_added = adding.is_some_and(|(a, _)| a.id == path.id);
            if Some(path.id.as_str()) == removing || path.target_device != device || being_added {
                continue;
            }
            if let Some(ld) = path
                .programming
                .as_ref()
                .and_then(|p| p.ld_allocation.as_ref())
                .map(|l| l.ld_id)
            {
                count(&path, ld);
            }
        }
        if let Some((path, ld)) = adding {
            count(path, ld);
        }
        let fraction = |gbps: f64| ((gbps / facts.gbps * 256.0).ceil() as u32).min(255) as u8;
        let mut allocated: Vec<u8> = guaranteed.iter().map(|&g| fraction(g)).collect();
        let limit: Vec<u8> = asked
            .iter()
            .map(|&a| if a > 0.0 { fraction(a) } else { 255 })
            .collect();
        let idle: Vec<usize> = (0..lds).filter(|&i| guaranteed[i] == 0.0).collect();
        let used: u32 = allocated.iter().map(|&f| u32::from(f)).sum();
        if !idle.is_empty() {
            let each = (256u32.saturating_sub(used) / idle.len() as u32).min(255) as u8;
            for i in idle {
                allocated[i] = each;
            }
        }
        Ok(DeviceQos {
            device: device.to_owned(),
            port,
            allocated,
            limit,
            congestion_control: congestion,
            device_gbps: facts.gbps,
        })
    }

    async fn all_paths(&self) -> Result<Vec<FabricPath>, ServiceError> {
        Ok(self
            .paths
            .list(&crate::registry::ListOptions::default())
            .await?
            .items)
    }

    /// Releases a path (`DELETE /v1/fabman/paths/{id}`): the object and its shares go in
    /// one transaction, then its binding (if no other path of the host uses it) and the
    /// device's QoS are taken back. Answers the path as released.
    pub async fn delete(
        &self,
        id: &str,
        precondition: Option<Revision>,
    ) -> Result<FabricPath, PathError> {
        let mut released = None;
        // A release frees capacity and asks for none: it keeps trying for as long as the
        // keys keep changing under it (bounded in time), where a grant gives up.
        let deadline = tokio::time::Instant::now() + RELEASE_PATIENCE;
        let mut attempts = 0;
        while tokio::time::Instant::now() < deadline {
            if attempts > 0 {
                contention_backoff(attempts).await;
            }
            attempts += 1;
            let (path, kv) = self.paths.get_kv(id).await?;
            crate::registry::check_precondition::<FabricPath>(id, precondition, &kv)?;
            let Some((path, revision)) = self.hold_for_release(path, kv).await? else {
                continue;
            };
            let view = LedgerView::read(self.store.as_ref()).await?;
            let response = self
                .store
                .txn(ledger::release_txn(&view, &path, revision))
                .await
                .map_err(ServiceError::store("release a fabric path"))?;
            if response.succeeded {
                released = Some((path, response.revision));
                break;
            }
        }
        let Some((mut path, revision)) = released else {
            return Err(PathError::Contention { attempts });
        };
        let _guard = self.programming_lock(&path).await;
        if let Err(e) = self.unprogram(&path).await {
            // The grant is gone; what the switch still holds is reported, and the next
            // path on the device rewrites its QoS vectors whole.
            tracing::warn!(path = %path.id, error = %crate::error::error_chain(&e), "fabric path released, but the switch was not reprogrammed");
        }
        let now = self.clock.now();
        path.status = PathStatus::Released;
        path.meta.updated_at = now;
        path.meta.resource_version = revision.to_string();
        Ok(path)
    }

    /// The lock of the switch `path`'s FM API commands go to (its target device's), held
    /// while they are sent; `None` for paths that send none (device to device, host to host:
    /// their routing is modelled).
    async fn programming_lock(&self, path: &FabricPath) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        let source = self.map.graph.endpoint(&path.source_device)?;
        if source.kind != EndpointKind::Host {
            return None;
        }
        let device = self.map.devices.get(&path.target_device)?;
        Some(self.programming.get(&device.switch)?.lock().await)
    }

    /// `host`'s slice of `device` in memqosd's ledger, if the path gives a host memory.
    fn slice_of(&self, path: &FabricPath) -> Option<String> {
        let source = self.map.graph.endpoint(&path.source_device)?;
        (source.kind == EndpointKind::Host && self.map.devices.contains_key(&path.target_device))
            .then(|| crate::ffm::reach::slice_id(&path.target_device, &path.source_device))
    }

    /// Before a path that gives a host memory is released: marks it `releasing` (so no
    /// memqosd write placing memory through it can commit from then on, see
    /// [`crate::ffm::reach`]), then reads memqosd's grants. Bundles on the host's slice
    /// put the path back and answer [`PathError::InUse`]; none, and the marked path and
    /// its revision are returned for the release to compare. `None`: the path changed
    /// meanwhile; try again.
    async fn hold_for_release(
        &self,
        path: FabricPath,
        kv: corridor_store::KeyValue,
    ) -> Result<Option<(FabricPath, Revision)>, PathError> {
        let Some(slice) = self.slice_of(&path) else {
            return Ok(Some((path, kv.mod_revision)));
        };
        let before = path.status;
        let now = self.clock.now();
        let marked = self
            .paths
            .update(&path.id, Some(kv.mod_revision), |p| {
                p.status = PathStatus::Releasing;
                p.meta.updated_at = now;
                Ok(())
            })
            .await;
        let marked = match marked {
            Ok(marked) => marked,
            Err(ServiceError::StaleVersion { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Ok(revision) = marked.meta.resource_version.parse::<Revision>() else {
            return Ok(None);
        };
        let bundles = crate::ffm::reach::bundles_on(self.store.as_ref(), &slice).await?;
        // A change since the mark fails the release's compare (or the put-back's).
        if bundles.is_empty() {
            return Ok(Some((marked, revision)));
        }
        let restored = self
            .paths
            .update(&path.id, Some(revision), |p| {
                p.status = before;
                p.meta.updated_at = now;
                Ok(())
            })
            .await;
        if let Err(e) = restored {
            tracing::warn!(path = %path.id, error = %crate::error::error_chain(&e), "a path kept from release could not be put back to its status");
        }
        Err(PathError::InUse {
            path: path.id.clone(),
            host: path.source_device.clone(),
            device: path.target_device.clone(),
            bundles,
        })
    }

    /// Programs every active path that sends FM API commands again, as the store has it: a
    /// switch that restarted (the twin's switches start afresh with corridord) has lost its
    /// bindings and QoS vectors, and one that did not reuses what is in place (each step is
    /// idempotent). A path whose programming reads back differently (another LD) is
    /// rewritten; one the fabric refuses is left for the reconciler, with a warning.
    pub async fn reprogram_active(&self) -> Result<usize, PathError> {
        let mut programmed = 0;
        for path in self.all_paths().await? {
            if path.status == PathStatus::Active && self.program_again(&path).await? {
                programmed += 1;
            }
        }
        Ok(programmed)
    }

    /// Programs the active `path` again as the store has it (see [`Self::reprogram_active`]);
    /// `false` if it sends no FM API commands or the fabric refused it (with a warning).
    async fn program_again(&self, path: &FabricPath) -> Result<bool, PathError> {
        let Ok(shape) = self.shape(&path.request()) else {
            return Ok(false);
        };
        let Some(_guard) = self.programming_lock(path).await else {
            return Ok(false);
        };
        match self.program(path, shape).await {
            Ok(programming) => {
                if path.programming.as_ref() != Some(&programming) {
                    let now = self.clock.now();
                    self.paths
                        .update(&path.id, None, |p| {
                            p.programming = Some(programming.clone());
                            p.meta.updated_at = now;
                            Ok(())
                        })
                        .await?;
                }
                self.mark_programmed(&path.id);
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(path = %path.id, error = %crate::error::error_chain(&e), "an active fabric path could not be programmed again at start");
                Ok(false)
            }
        }
    }

    fn mark_programmed(&self, id: &str) {
        self.programmed_here
            .lock()
            .expect("programmed paths")
            .insert(id.to_owned());
    }

    fn programmed_here(&self, id: &str) -> bool {
        self.programmed_here
            .lock()
            .expect("programmed paths")
            .contains(id)
    }

    /// Creates each of the topology's standing paths (`[[cxl_paths]]`) that no path joins
    /// yet (a released or failed one does not count): the paths a twin's hosts need for
    /// their pooled memory, made once and kept across restarts. Answers the standing paths
    /// as they now are (those stood in for by a path made otherwise left out).
    ///
    /// Several fabmands may start at once on one store. Each standing path has an id fixed
    /// by its host and device ([`standing_path_id`]), so they all grant the same key: the
    /// first grant commits, and the others find the path there and adopt it (see
    /// [`Self::standing_path`]) instead of asking the ports for its bandwidth a second time.
    pub async fn ensure_standing(&self, topology: &Topology) -> Result<Vec<FabricPath>, PathError> {
        let existing = self.all_paths().await?;
        let mut ensured = Vec::new();
        for standing in topology.standing_cxl_paths() {
            let (host, device) = (standing.host.as_str(), standing.device.as_str());
            let id = standing_path_id(host, device);
            // A path of the pair made otherwise (by an operator, or by a corridord that
            // gave standing paths random ids) stands in for it.
            let joined = existing.iter().any(|p| {
                p.id != id
                    && p.source_device == host
                    && p.target_device == device
                    && !matches!(p.status, PathStatus::Released | PathStatus::Failed)
            });
            if joined {
                continue;
            }
            if let Some(path) = existing.iter().find(|p| p.id == id)
                && self.programmed_here(&id)
            {
                ensured.push(path.clone());
                continue;
            }
            let latency = topology
                .cxl_device(device)
                .map_or(0, |d| d.latency_ns.get().ceil() as u64);
            let gbps = standing.min_bandwidth_gbps.get();
            let request = FabricPathRequest {
                source_device: host.to_owned(),
                target_device: device.to_owned(),
                path_type: corridor_model::fabric::PathType::Hbr,
                bandwidth_gbps: Gbps(gbps),
                latency_ns: Nanoseconds(latency),
                qos: corridor_model::fabric::FabricQos {
                    priority: corridor_model::corridor::QosPriority::Gold,
                    min_bandwidth_gbps: Gbps(gbps),
                    max_latency_ns: Nanoseconds(latency),
                    pfc: false,
                    ecn: false,
                },
            };
            ensured.push(self.standing_path(&id, request).await?);
        }
        Ok(ensured)
    }

    /// Grants and programs the standing path `id`, or adopts it if another fabmand got
    /// there first. One still being programmed by the other is waited for (up to
    /// [`STANDING_PATIENCE`]), then programmed here too if it came out active: a twin's
    /// switches are this process's own, and programming a real switch again reuses what
    /// is in place. One whose programming failed is released by its creator, and granted
    /// here again.
    async fn standing_path(
        &self,
        id: &str,
        request: FabricPathRequest,
    ) -> Result<FabricPath, PathError> {
        let shape = self.shape(&request)?;
        if self.switches.is_empty() {
            return Err(PathError::NoFabricManager);
        }
        let (host, device) = (&request.source_device, &request.target_device);
        let gbps = request.qos.min_bandwidth_gbps.get();
        let deadline = tokio::time::Instant::now() + STANDING_PATIENCE;
        loop {
            match self.admit(id, &request, true).await? {
                Admission::Granted(path, revision) => {
                    let path = self.program_granted(path, revision, shape).await?;
                    self.mark_programmed(id);
                    tracing::info!(path = %path.id, host, device, gbps, "standing fabric path created");
                    return Ok(path);
                }
                Admission::Exists(path)
                    if path.status == PathStatus::Programming
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(STANDING_POLL).await;
                }
                Admission::Exists(path) => {
                    if path.status == PathStatus::Programming {
                        tracing::warn!(path = %path.id, host, device, "a standing fabric path another fabmand granted is still being programmed; adopted as it is");
                        return Ok(path);
                    }
                    if path.status == PathStatus::Active
                        && !self.programmed_here(id)
                        && self.program_again(&path).await?
                    {
                        tracing::info!(path = %path.id, host, device, gbps, "standing fabric path another fabmand created, programmed here too");
                        return Ok(self.paths.get(id).await?);
                    }
                    tracing::info!(path = %path.id, host, device, status = ?path.status, "standing fabric path found in the store, adopted");
                    return Ok(path);
                }
            }
        }
    }

    async fn unprogram(&self, path: &FabricPath) -> Result<(), PathError> {
        let Some(programming) = &path.programming else {
            return Ok(());
        };
        let others = self.all_paths().await?;
        for binding in &programming.bindings {
            let shared = others.iter().any(|p| {
                p.id != path.id
                    && p.programming
                        .as_ref()
                        .is_some_and(|q| q.bindings.contains(binding))
            });
            if !shared {
                let link = self.switch(&binding.switch_id)?;
                let binding = binding.clone();
                blocking(move || program::unbind(&link, &binding)).await?;
            }
        }
        if let Some(ld) = &programming.ld_allocation {
            let qos = self.device_qos(&ld.device, None, Some(&path.id)).await?;
            let facts = &self.map.devices[&ld.device];
            let link = self.switch(&facts.switch)?;
            let ld8 = u8::try_from(ld.ld_id).expect("LD ids of an MLD fit in 4 bits");
            blocking(move || program::set_qos(&link, &qos, ld8)).await?;
        }
        Ok(())
    }

    /// One reconcile pass: discovers the fabric, marks paths over missing ports or devices
    /// `degraded`, and programs degraded (or never programmed) paths again once their
    /// ports are back.
    pub async fn reconcile_once(self: &Arc<Self>) -> Result<(), PathError> {
        let this = Arc::clone(self);
        let now = self.clock.now();
        let Some(snapshot) = blocking(move || {
            let mut discovery = this.discovery.lock().expect("discovery");
            Ok(discovery.as_mut().map(|d| d.scan(now)))
        })
        .await?
        else {
            return Ok(());
        };
        let down = self.down_ports(&snapshot);
        {
            let mut counts = self.ld_counts.lock().expect("LD counts");
            for &port in &down {
                if let Some(device) = self.map.graph.endpoint_at(port) {
                    counts.remove(device);
                }
            }
        }
        *self.down.lock().expect("down ports") = down.clone();
        *self.discovered_at.lock().expect("discovery time") = Some(now);
        for path in self.all_paths().await? {
            // A DELETE holds it: its status is the DELETE's to set.
            if path.status == PathStatus::Releasing {
                continue;
            }
            let broken: Vec<String> = self
                .path_ports(&path)
                .into_iter()
                .filter(|p| down.contains(p))
                .map(|p| self.map.port_name(p))
                .collect();
            let now = self.clock.now();
            if !broken.is_empty() {
                match self.reroute(&path, &broken).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(path = %path.id, error = %crate::error::error_chain(&e), "fabric path not rerouted")
                    }
                }
                if path.status != PathStatus::Degraded {
                    let message = format!(
                        "port {} is down or its device is gone (FM API discovery)",
                        broken.join(", ")
                    );
                    self.paths
                        .update(&path.id, None, |p| {
                            p.status = PathStatus::Degraded;
                            p.meta.updated_at = now;
                            p.meta.set_condition(Condition::new(
                                condition_type::READY,
                                ConditionStatus::False,
                                "PortDown",
                                message.clone(),
                                now,
                            ));
                            p.meta.set_condition(Condition::new(
                                condition_type::DEGRADED,
                                ConditionStatus::True,
                                "PortDown",
                                message.clone(),
                                now,
                            ));
                            Ok(())
                        })
                        .await?;
                }
                continue;
            }
            if matches!(path.status, PathStatus::Degraded) {
                let Ok(shape) = self.shape(&path.request()) else {
                    continue;
                };
                let _guard = self.programming_lock(&path).await;
                match self.program(&path, shape).await {
                    Ok(programming) => {
                        self.paths
                            .update(&path.id, None, |p| {
                                p.programming = Some(programming.clone());
                                p.status = PathStatus::Active;
                                p.meta.updated_at = now;
                                p.meta.set_condition(Condition::new(
                                    condition_type::READY,
                                    ConditionStatus::True,
                                    "Reprogrammed",
                                    ready_message(&programming),
                                    now,
                                ));
                                p.meta.set_condition(Condition::new(
                                    condition_type::DEGRADED,
                                    ConditionStatus::False,
                                    "PortsBack",
                                    "every port of the route answers again".to_owned(),
                                    now,
                                ));
                                Ok(())
                            })
                            .await?;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.id, error = %crate::error::error_chain(&e), "degraded fabric path not reprogrammed yet")
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves `path`, whose `broken` ports are down, onto another route over ports that are
    /// up, if one meets its guarantee and latency bound: the new hops and the moved shares in
    /// one transaction (comparing the path and every port key it touches), then programmed.
    /// `false`: no other route (the path stays on its ports and degrades until they return).
    async fn reroute(&self, path: &FabricPath, broken: &[String]) -> Result<bool, PathError> {
        if !matches!(path.status, PathStatus::Active | PathStatus::Degraded) {
            return Ok(false);
        }
        let Ok(shape) = self.shape(&path.request()) else {
            return Ok(false);
        };
        let (current, kv) = self.paths.get_kv(&path.id).await?;
        if current.status != path.status {
            return Ok(false);
        }
        let view = LedgerView::read(self.store.as_ref()).await?;
        // The path's own share is free to it on the ports it would keep.
        let own = ledger::keys_of(&current);
        let gbps = current.qos.min_bandwidth_gbps.get();
        let down = self.down.lock().expect("down ports").clone();
        let request = current.request();
        let demand = Demand {
            source: &request.source_device,
            target: &request.target_device,
            min_gbps: gbps,
            max_latency_ns: request.qos.max_latency_ns.get(),
            max_switches: (request.path_type == corridor_model::fabric::PathType::Hbr).then_some(1),
        };
        let free = |port: usize| {
            (!down.contains(&port)).then(|| {
                let key = ledger::key_of_port(&self.map, port);
                let mine = if own.contains(&key) { gbps } else { 0.0 };
                self.map.admissible_gbps(port) - view.held_gbps(&key) + mine
            })
        };
        let Ok(route) = self.map.graph.route(&demand, free) else {
            return Ok(false);
        };
        let hops = self.hops(&route);
        if hops == current.hops {
            return Ok(false);
        }
        let now = self.clock.now();
        let mut moved = current.clone();
        let message = format!(
            "port {} down: moved from {} to {}",
            broken.join(", "),
            route_text(&current),
            {
                let mut shown = current.clone();
                shown.hops = hops.clone();
                route_text(&shown)
            }
        );
        moved.hops = hops;
        moved.predicted_latency_ns = Some(Nanoseconds(route.latency_ns));
        moved.status = PathStatus::Programming;
        moved.meta.updated_at = now;
        moved.meta.set_condition(Condition::new(
            condition_type::ADMITTED,
            ConditionStatus::True,
            "Rerouted",
            message.clone(),
            now,
        ));
        let response = self
            .store
            .txn(ledger::reroute_txn(&view, &current, &moved, &kv))
            .await
            .map_err(ServiceError::store("reroute a fabric path"))?;
        if !response.succeeded {
            // Something moved under it; the next pass looks again.
            return Ok(false);
        }
        let _guard = self.programming_lock(&moved).await;
        let programmed = self.program(&moved, shape).await;
        let now = self.clock.now();
        self.paths
            .update(&moved.id, Some(response.revision), |p| {
                p.meta.updated_at = now;
                match &programmed {
                    Ok(programming) => {
                        p.programming = Some(programming.clone());
                        p.status = PathStatus::Active;
                        p.meta.set_condition(Condition::new(
                            condition_type::READY,
                            ConditionStatus::True,
                            "Rerouted",
                            ready_message(programming),
                            now,
                        ));
                        p.meta.set_condition(Condition::new(
                            condition_type::DEGRADED,
                            ConditionStatus::False,
                            "Rerouted",
                            message.clone(),
                            now,
                        ));
                    }
                    Err(e) => {
                        p.status = PathStatus::Degraded;
                        p.meta.set_condition(Condition::new(
                            condition_type::READY,
                            ConditionStatus::False,
                            "RerouteNotProgrammed",
                            crate::error::error_chain(e),
                            now,
                        ));
                    }
                }
                Ok(())
            })
            .await?;
        tracing::info!(path = %moved.id, %message, "fabric path rerouted");
        Ok(programmed.is_ok())
    }

    /// Reconciles every [`RECONCILE_PERIOD`] until the service is dropped.
    pub fn spawn_reconciler(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        corridor_store::fencing::spawn(async move {
            loop {
                let Some(service) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = service.reconcile_once().await {
                    tracing::warn!(error = %crate::error::error_chain(&e), "fabric path reconcile failed");
                }
                drop(service);
                tokio::time::sleep(RECONCILE_PERIOD).await;
            }
        })
    }

    /// Graph ports that the snapshot shows down: every port of a switch that did not
    /// answer, upstream ports whose link is down, device ports whose device is not active.
    fn down_ports(&self, snapshot: &FabricSnapshot) -> HashSet<usize> {
        let graph = &self.map.graph;
        let mut down = HashSet::new();
        for (i, port) in graph.ports().iter().enumerate() {
            let switch = &graph.switches()[port.switch];
            let Some(record) = snapshot.switches.iter().find(|s| &s.name == switch) else {
                down.insert(i);
                continue;
            };
            let state = record.ports.iter().find(|p| p.port == port.number);
            let link_up = state.is_some_and(|p| p.status == PortStatus::Active);
            let is_device = graph
                .endpoint_at(i)
                .is_some_and(|name| self.map.devices.contains_key(name));
            let device_up = !is_device
                || snapshot.devices.iter().any(|d| {
                    &d.switch == switch && d.port == port.number && d.status == PortStatus::Active
                });
            if !link_up || !device_up {
                down.insert(i);
            }
        }
        down
    }

    fn path_ports(&self, path: &FabricPath) -> Vec<usize> {
        let graph = &self.map.graph;
        path.hops
            .iter()
            .flat_map(|h| {
                let s = graph.switches().iter().position(|n| *n == h.switch_id);
                [h.ingress_port, h.egress_port]
                    .into_iter()
                    .filter_map(move |p| s.and_then(|s| graph.port_index(s, u8::try_from(p).ok()?)))
            })
            .collect()
    }
}

/// Waits a random time, up to 100 µs × 2^attempt (at most 12.8 ms), before admission
/// attempt `attempt` retries a transaction that lost a race: grants and releases racing on
/// the same port keys spread out instead of colliding again in lockstep (without it, 16
/// clients on two ports made releases give up after 8 attempts).
async fn contention_backoff(attempt: usize) {
    let ceiling_us = 100u64 << attempt.min(7);
    let wait = rand::random_range(0..=ceiling_us);
    tokio::time::sleep(Duration::from_micros(wait)).await;
}

/// Runs blocking FM API work on the blocking pool.
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, program::ProgramError> + Send + 'static,
) -> Result<T, PathError> {
    // The FM API commands the job sends belong to the caller's span (the
    // request's, for a trace).
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(job))
        .await
        .map_err(|_| PathError::Cancelled)?
        .map_err(PathError::from)
}

fn route_text(path: &FabricPath) -> String {
    path.hops
        .iter()
        .map(|h| {
            format!(
                "{} port {} -> port {}",
                h.switch_id, h.ingress_port, h.egress_port
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn ready_message(p: &PathProgramming) -> String {
    let mut parts: Vec<String> = p
        .bindings
        .iter()
        .map(|b: &VppbBinding| {
            format!(
                "{} VCS {} vPPB {} bound to port {}{}",
                b.switch_id,
                b.vcs_id,
                b.vppb_id,
                b.port,
                b.ld_id.map(|l| format!(" LD {l}")).unwrap_or_default()
            )
        })
        .collect();
    for q in &p.qos_shares {
        parts.push(format!(
            "{} LD {} QoS share {}/256, limit {}/256",
            q.device, q.ld_id, q.allocated_bw_fraction, q.bw_limit_fraction
        ));
    }
    if parts.is_empty() {
        parts.push("admitted; routing modelled".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::standing_path_id;

    #[test]
    fn standing_path_ids_are_fixed_by_host_and_device_and_look_like_path_ids() {
        let id = standing_path_id("h0", "cxl-dev-001");
        // Pinned: stores keep this id, so every later corridord must derive the same one.
        assert_eq!(id, "path-7dba7b4c23ea");
        assert!(id.starts_with("path-"));
        assert_eq!(id.len(), 17);
        assert!(id[5..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, standing_path_id("h0", "cxl-dev-002"));
        assert_ne!(id, standing_path_id("h1", "cxl-dev-001"));
        // The separator keeps the parts apart.
        assert_ne!(
            standing_path_id("h0c", "xl-dev-001"),
            standing_path_id("h0", "cxl-dev-001")
        );
    }
}
