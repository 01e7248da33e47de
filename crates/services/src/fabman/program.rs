//! Programming a host-to-device path into a switch over FM API, and reading it back.
//!
//! Blocking (one TCP exchange per command): the service runs these on the blocking pool,
//! one path at a time. Each step is idempotent, so a path can be programmed again after a
//! restart of corridord or of a switch: a binding already in place is reused.

use std::net::SocketAddr;
use std::time::Duration;

use corridor_hal::fabric::{FabricError, FmClient, MctpTcpTransport};
use corridor_model::fabric::{QosShare, VppbBinding};
use corridor_model::units::Gbps;
use corridor_protocols::fmapi::{
    BindVppb, BindingStatus, LdWindow, QosControl, QosFractions, UnbindVppb, VcsInfoBlock,
};

/// Bit 0 of QoS Control's telemetry control: egress port congestion enable.
const EGRESS_CONGESTION_ENABLE: u8 = 0b01;

/// Why programming failed.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error(transparent)]
    Fabric(#[from] FabricError),
    /// The switch has no virtual CXL switch for the host's upstream port.
    #[error("switch {switch} has no virtual CXL switch on upstream port {usp}")]
    NoVcs { switch: String, usp: u8 },
    /// Every vPPB of the host's VCS is bound.
    #[error("switch {switch}: every vPPB of VCS {vcs} is bound")]
    NoFreeVppb { switch: String, vcs: u8 },
    /// The device (or all its LDs) is bound to other hosts.
    #[error("switch {switch} port {port}: {why}")]
    DeviceTaken {
        switch: String,
        port: u8,
        why: String,
    },
    /// What the device reports after a set differs from what was set.
    #[error("switch {switch} port {port}: read back {what} {got:?}, set {set:?}")]
    ReadBack {
        switch: String,
        port: u8,
        what: &'static str,
        got: Vec<u8>,
        set: Vec<u8>,
    },
}

/// One switch's FM API endpoint.
#[derive(Debug, Clone)]
pub struct SwitchLink {
    pub name: String,
    pub addr: SocketAddr,
    pub timeout: Duration,
}

impl SwitchLink {
    pub(super) fn connect(&self) -> Result<FmClient<MctpTcpTransport>, FabricError> {
        Ok(FmClient::new(MctpTcpTransport::connect(
            self.addr,
            self.timeout,
        )?))
    }
}

/// A host reaching a device through one switch.
#[derive(Debug, Clone, Copy)]
pub struct HostToDevice {
    /// The host's upstream port.
    pub usp: u8,
    /// The device's downstream port.
    pub port: u8,
    /// Whether the device is multi-logical.
    pub mld: bool,
}

/// A binding as found or made: the API record and the LD it gives the host.
#[derive(Debug, Clone)]
pub struct Bound {
    pub binding: VppbBinding,
    /// Whether this call made it (false: it was in place already).
    pub made: bool,
}

fn vcs_of(
    client: &mut FmClient<MctpTcpTransport>,
    link: &SwitchLink,
    usp: u8,
) -> Result<(VcsInfoBlock, Vec<VcsInfoBlock>), ProgramError> {
    let sw = client.identify_switch()?;
    let ids: Vec<u8> = sw.active_vcs().collect();
    let all = if ids.is_empty() {
        Vec::new()
    } else {
        client.vcs_info(&ids)?
    };
    let mine = all
        .iter()
        .find(|b| b.usp_id == usp)
        .cloned()
        .ok_or_else(|| ProgramError::NoVcs {
            switch: link.name.clone(),
            usp,
        })?;
    Ok((mine, all))
}

fn bound_to(status: BindingStatus) -> bool {
    matches!(status, BindingStatus::BoundPort | BindingStatus::BoundLd)
}

/// Binds a vPPB of the host's VCS to the device (a free LD of an MLD, the whole port of
/// an SLD), unless the host already has one bound to it.
pub fn bind(link: &SwitchLink, path: HostToDevice) -> Result<Bound, ProgramError> {
    let mut client = link.connect()?;
    let (mine, all) = vcs_of(&mut client, link, path.usp)?;
    let record = |vppb_id: u8, ld: Option<u8>| VppbBinding {
        switch_id: link.name.clone(),
        vcs_id: mine.vcs_id,
        vppb_id,
        port: path.port.into(),
        ld_id: ld.map(u16::from),
    };
    if let Some((i, v)) = mine
        .vppbs
        .iter()
        .enumerate()
        .find(|(_, v)| bound_to(v.status) && v.port_id == path.port)
    {
        let ld = (v.status == BindingStatus::BoundLd).then_some(v.ld_id);
        return Ok(Bound {
            binding: record(i as u8, ld),
            made: false,
        });
    }
    let taken: Vec<u8> = all
        .iter()
        .flat_map(|b| &b.vppbs)
        .filter(|v| bound_to(v.status) && v.port_id == path.port)
        .map(|v| v.ld_id)
        .collect();
    let ld = if path.mld {
        let count = client.ld_info(path.port)?.ld_count;
        let free = (0..count.min(u16::from(u8::MAX)) as u8).find(|ld| !taken.contains(ld));
        Some(free.ok_or_else(|| ProgramError::DeviceTaken {
            switch: link.name.clone(),
            port: path.port,
            why: format!("all {count} logical devices are bound to other hosts"),
        })?)
    } else {
        if !taken.is_empty() {
            return Err(ProgramError::DeviceTaken {
                switch: link.name.clone(),
                port: path.port,
                why: "a single-logical device serves one host, and another host has it bound"
                    .into(),
            });
        }
        None
    };
    let vppb = mine
        .vppbs
        .iter()
        .position(|v| v.status == BindingStatus::Unbound)
        .ok_or_else(|| ProgramError::NoFreeVppb {
            switch: link.name.clone(),
            vcs: mine.vcs_id,
        })? as u8;
    client.bind(BindVppb {
        vcs_id: mine.vcs_id,
        vppb_id: vppb,
        port_id: path.port,
        ld_id: ld.map_or(BindVppb::WHOLE_PORT, u16::from),
    })?;
    // Read back: the switch must now report the binding.
    let (after, _) = vcs_of(&mut client, link, path.usp)?;
    let reported = after.vppbs.get(usize::from(vppb));
    if !reported.is_some_and(|v| bound_to(v.status) && v.port_id == path.port) {
        return Err(ProgramError::ReadBack {
            switch: link.name.clone(),
            port: path.port,
            what: "vPPB binding (port)",
            got: reported.map(|v| vec![v.port_id]).unwrap_or_default(),
            set: vec![path.port],
        });
    }
    Ok(Bound {
        binding: record(vppb, ld),
        made: true,
    })
}

/// Unbinds a path's vPPB (when no other path of the host uses it).
pub fn unbind(link: &SwitchLink, binding: &VppbBinding) -> Result<(), ProgramError> {
    let mut client = link.connect()?;
    client.unbind(UnbindVppb {
        vcs_id: binding.vcs_id,
        vppb_id: binding.vppb_id,
        // Managed hot-remove: the host is told before the device goes.
        option: 1,
    })?;
    Ok(())
}

/// The QoS of every LD of an MLD, as the service computed it from the paths on it.
#[derive(Debug, Clone)]
pub struct DeviceQos {
    pub device: String,
    pub port: u8,
    /// Fraction × 256 per LD, from LD 0.
    pub allocated: Vec<u8>,
    pub limit: Vec<u8>,
    /// Egress port congestion control on (some path asks for `ecn`).
    pub congestion_control: bool,
    /// The device's bandwidth, Gb/s (to state the shares in Gb/s).
    pub device_gbps: f64,
}

/// What the device reports after [`set_qos`] for one LD.
#[derive(Debug, Clone)]
pub struct QosReadBack {
    pub share: QosShare,
    pub ld_bytes: u64,
    pub congestion_control: bool,
}

/// Writes the shares and limits of every LD and the congestion control, reads them back,
/// and returns what the device reports for `ld`.
pub fn set_qos(link: &SwitchLink, qos: &DeviceQos, ld: u8) -> Result<QosReadBack, ProgramError> {
    let mut client = link.connect()?;
    let port = qos.port;
    // Shares are capped together at 256/256: lower before raising, so that no
    // intermediate state is refused, by writing the whole vector at once.
    client.set_qos_allocated_bw(
        port,
        QosFractions {
            start_ld: 0,
            fractions: qos.allocated.clone(),
        },
    )?;
    client.set_qos_bw_limit(
        port,
        QosFractions {
            start_ld: 0,
            fractions: qos.limit.clone(),
        },
    )?;
    let control = client.qos_control(port)?;
    let wanted = if qos.congestion_control {
        control.telemetry_control | EGRESS_CONGESTION_ENABLE
    } else {
        control.telemetry_control & !EGRESS_CONGESTION_ENABLE
    };
    if wanted != control.telemetry_control {
        client.set_qos_control(
            port,
            QosControl {
                telemetry_control: wanted,
                ..control
            },
        )?;
    }
    let window = LdWindow {
        start_ld: 0,
        count: u8::MAX,
    };
    let allocated = client.qos_allocated_bw(port, window)?.fractions;
    let limit = client.qos_bw_limit(port, window)?.fractions;
    let control = client.qos_control(port)?;
    let allocations = client.ld_allocations(port)?;
    let mismatch = |what, got: &Vec<u8>, set: &Vec<u8>| ProgramError::ReadBack {
        switch: link.name.clone(),
        port,
        what,
        got: got.clone(),
        set: set.clone(),
    };
    if allocated != qos.allocated {
        return Err(mismatch(
            "QoS allocated bandwidth",
            &allocated,
            &qos.allocated,
        ));
    }
    if limit != qos.limit {
        return Err(mismatch("QoS bandwidth limit", &limit, &qos.limit));
    }
    let on = control.telemetry_control & EGRESS_CONGESTION_ENABLE != 0;
    if on != qos.congestion_control {
        return Err(mismatch(
            "egress congestion control",
            &vec![u8::from(on)],
            &vec![u8::from(qos.congestion_control)],
        ));
    }
    let i = usize::from(ld);
    let granule = granule_bytes(allocations.memory_granularity);
    let ld_bytes = allocations
        .allocations
        .get(i)
        .map_or(0, |a| (a.range1_multiplier + a.range2_multiplier) * granule);
    let fraction_gbps = |f: u8| Gbps(qos.device_gbps * f64::from(f) / 256.0);
    Ok(QosReadBack {
        share: QosShare {
            device: qos.device.clone(),
            ld_id: ld.into(),
            allocated_bw_fraction: allocated[i],
            bw_limit_fraction: limit[i],
            allocated_gbps: fraction_gbps(allocated[i]),
            limit_gbps: fraction_gbps(limit[i]),
        },
        ld_bytes,
        congestion_control: on,
    })
}

/// Bytes per granule for Get LD Allocations' memory granularity code (0: 256 MiB,
/// 1: 512 MiB, 2: 1 GiB).
fn granule_bytes(code: u8) -> u64 {
    (256u64 << 20) << code.min(2)
}
