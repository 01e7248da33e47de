//! The FM API twins and discovery: a fabric learned only through FM API over the MCTP/TCP
//! framing, on 127.0.0.1 free ports.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use corridor_hal::Topology;
use corridor_hal::fabric::discover::SwitchFailure;
use corridor_hal::fabric::{
    DeviceKind, Discovery, FabricError, FabricTwin, FmClient, MctpTcpTransport, PortStatus,
    SwitchEndpoint, wire_serial,
};
use corridor_hal::topology::{CxlDeviceKind, PortPeer, PortRole};
use corridor_protocols::fmapi::mctp::{Route, TCP_PACKET_LEN, packetize};
use corridor_protocols::fmapi::{
    BindVppb, BindingStatus, ConnectedDeviceType, FmApiError, LdAllocation, LdWindow,
    PortConfigState, QosFractions, ReturnCode, SetLdAllocations,
};

const TIMEOUT: Duration = Duration::from_secs(2);

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_800_000_000 + seconds)
}

/// What the topology says discovery must find, device by device:
/// (switch, port, kind, vendor, device id, serial, firmware, LDs, MLD memory size).
type Expected = (
    String,
    u8,
    DeviceKind,
    u16,
    u16,
    u64,
    String,
    u16,
    Option<u64>,
);

fn expected_devices(topology: &Topology) -> BTreeSet<Expected> {
    topology
        .cxl_devices()
        .iter()
        .map(|d| {
            let mld = d.kind == CxlDeviceKind::Type3Mld;
            (
                d.switch.as_str().to_owned(),
                d.port,
                if mld {
                    DeviceKind::Type3Mld
                } else {
                    DeviceKind::Type3Sld
                },
                d.vendor_id.0,
                d.device_id.0,
                wire_serial(&d.serial_number),
                d.firmware_version.clone(),
                d.logical_device_count().into(),
                mld.then(|| d.capacity_bytes.get()),
            )
        })
        .collect()
}

fn discovered(devices: &[corridor_hal::fabric::DeviceRecord]) -> BTreeSet<Expected> {
    devices
        .iter()
        .map(|d| {
            (
                d.switch.clone(),
                d.port,
                d.kind,
                d.vendor_id,
                d.device_id,
                d.serial_number,
                d.firmware_version.clone().unwrap_or_default(),
                d.ld_count,
                d.memory_size,
            )
        })
        .collect()
}

#[test]
fn discovery_of_the_default_twin_equals_the_topology() {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let mut discovery = Discovery::new(twin.endpoints(), TIMEOUT);
    let snap = discovery.scan(t(0));

    assert!(snap.failed.is_empty(), "{:?}", snap.failed);
    assert_eq!(snap.switches.len(), topology.cxl_switches().len());
    for (sw, rec) in topology.cxl_switches().iter().zip(&snap.switches) {
        assert_eq!(rec.name, sw.id.as_str());
        assert_eq!(
            (rec.vendor_id, rec.device_id),
            (sw.vendor_id.0, sw.device_id.0)
        );
        assert_eq!(rec.serial_number, wire_serial(&sw.serial_number));
        assert_eq!(
            rec.firmware_version.as_deref(),
            Some(sw.firmware_version.as_str())
        );
        assert_eq!(usize::from(rec.num_physical_ports), sw.ports.len());
        assert_eq!(rec.ports.len(), sw.ports.len());
        for (p, r) in sw.ports.iter().zip(&rec.ports) {
            assert_eq!(r.port, p.port);
            assert_eq!(r.max_width, p.width);
            let (state, cabled) = match (p.role, &p.connected_to) {
                (PortRole::Upstream, peer) => (PortConfigState::Usp, peer.is_some()),
                (PortRole::Downstream, peer) => (PortConfigState::Dsp, peer.is_some()),
                (PortRole::Fabric, peer) => (PortConfigState::FabricPort, peer.is_some()),
            };
            assert_eq!(r.config_state, state, "port {}", p.port);
            let expect = if cabled {
                PortStatus::Active
            } else {
                PortStatus::Offline
            };
            assert_eq!(r.status, expect, "{} port {}", sw.id.as_str(), p.port);
            if let Some(PortPeer::Device(id)) = &p.connected_to {
                let d = topology.cxl_device(id.as_str()).unwrap();
                let kind = match d.kind {
                    CxlDeviceKind::Type3Mld => ConnectedDeviceType::Type3Mld,
                    CxlDeviceKind::Type3Sld => ConnectedDeviceType::Type3Sld,
                };
                assert_eq!(r.connected, kind);
                assert!(r.present);
                assert_eq!(r.width, p.width);
                // PCIe 5.0 signals at 32 GT/s, 6.0 at 64.
                let generation = if p.speed_gts.get() >= 64.0 { 6 } else { 5 };
                assert_eq!(
                    r.generation,
                    generation,
                    "{} port {}",
                    sw.id.as_str(),
                    p.port
                );
            }
        }
        // One VCS per host-facing upstream port, one unbound vPPB per downstream port.
        let hosts = sw
            .ports
            .iter()
            .filter(|p| p.role == PortRole::Upstream)
            .count();
        let dsps = sw.ports.len() - hosts;
        assert_eq!(rec.vcs.len(), hosts);
        for v in &rec.vcs {
            assert_eq!(usize::from(v.num_vppbs), dsps);
            assert!(v.vppbs.iter().all(|b| b.status == BindingStatus::Unbound));
        }
    }

    assert_eq!(discovered(&snap.devices), expected_devices(&topology));
    for d in &snap.devices {
        assert_eq!(d.status, PortStatus::Active);
        assert_eq!(d.last_seen, t(0));
        if d.kind == DeviceKind::Type3Mld {
            // The capacity split evenly over the LDs, an even bandwidth share each, no limit.
            let lds = usize::from(d.ld_count);
            assert_eq!(d.ld_bytes.len(), lds);
            assert_eq!(d.ld_bytes.iter().sum::<u64>(), d.memory_size.unwrap());
            assert_eq!(d.qos_allocated_bw, vec![(256 / lds) as u8; lds]);
            assert_eq!(d.qos_bw_limit, vec![255; lds]);
        } else {
            assert!(d.ld_bytes.is_empty() && d.memory_size.is_none());
        }
    }
}

#[test]
fn an_unplugged_device_shows_offline_and_comes_back_on_hot_plug() {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let faults = twin.faults();
    let mut discovery = Discovery::new(twin.endpoints(), TIMEOUT);
    assert_eq!(discovery.scan(t(0)).devices.len(), 4);

    faults.unplug("sw0", 9).unwrap(); // cxl-dev-002
    faults.set_link("sw1", 8, false).unwrap(); // cxl-dev-003: present, link down
    let snap = discovery.scan(t(10));
    let status = |snap: &corridor_hal::fabric::FabricSnapshot, sw: &str, port: u8| {
        let d = snap
            .devices
            .iter()
            .find(|d| d.switch == sw && d.port == port)
            .unwrap();
        (d.status, d.last_seen)
    };
    assert_eq!(status(&snap, "sw0", 9), (PortStatus::Offline, t(0)));
    assert_eq!(status(&snap, "sw1", 8), (PortStatus::Offline, t(0)));
    assert_eq!(status(&snap, "sw0", 8), (PortStatus::Active, t(10)));
    assert_eq!(status(&snap, "sw1", 9), (PortStatus::Active, t(10)));
    let port = |sw: usize, port: u8| {
        snap.switches[sw]
            .ports
            .iter()
            .find(|p| p.port == port)
            .unwrap()
            .clone()
    };
    let unplugged = port(0, 9);
    assert!(!unplugged.present);
    assert_eq!(unplugged.connected, ConnectedDeviceType::None);
    let link_down = port(1, 8);
    assert!(
        link_down.present,
        "the device is still there, only its link is down"
    );
    assert_eq!(link_down.status, PortStatus::Offline);

    // Hot-plug the same device into the spare port 10 of sw0, and bring sw1's link back.
    let dev = topology.cxl_device("cxl-dev-002").unwrap();
    faults.plug("sw0", 10, dev).unwrap();
    faults.set_link("sw1", 8, true).unwrap();
    let snap = discovery.scan(t(20));
    assert_eq!(status(&snap, "sw0", 10), (PortStatus::Active, t(20)));
    assert_eq!(status(&snap, "sw1", 8), (PortStatus::Active, t(20)));
    assert_eq!(status(&snap, "sw0", 9), (PortStatus::Offline, t(0)));
    let moved = snap
        .devices
        .iter()
        .find(|d| d.switch == "sw0" && d.port == 10)
        .unwrap();
    assert_eq!(moved.serial_number, wire_serial(&dev.serial_number));
    assert!(faults.plug("sw0", 10, dev).is_err(), "port 10 is taken now");
    assert!(faults.unplug("sw0", 9).is_err(), "nothing left on port 9");
    assert!(faults.unplug("sw9", 9).is_err());
}

/// A switch that answers every request with `reply(request packet)` bytes, for one
/// connection, then closes.
fn misbehaving_switch(
    reply: impl Fn(&[u8; TCP_PACKET_LEN]) -> Vec<u8> + Send + 'static,
) -> (SwitchEndpoint, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut packet = [0u8; TCP_PACKET_LEN];
        while s.read_exact(&mut packet).is_ok() {
            if s.write_all(&reply(&packet)).is_err() {
                break;
            }
        }
    });
    (
        SwitchEndpoint {
            name: "bad".into(),
            addr,
        },
        handle,
    )
}

fn route_back(request: &[u8; TCP_PACKET_LEN]) -> Route {
    Route {
        dest_eid: request[2],
        src_eid: request[1],
        tag: request[3] & 7,
        tag_owner: false,
    }
}

/// A well-framed MCTP message whose CCI body is `cci`.
fn framed(request: &[u8; TCP_PACKET_LEN], cci: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    packetize(route_back(request), 7, cci, &mut out);
    out
}

fn discover_with_bad_switch(
    reply: impl Fn(&[u8; TCP_PACKET_LEN]) -> Vec<u8> + Send + 'static,
) -> SwitchFailure {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let (bad, server) = misbehaving_switch(reply);
    let mut endpoints = twin.endpoints();
    endpoints.insert(1, bad);
    let mut discovery = Discovery::new(endpoints, TIMEOUT);
    let mut snap = discovery.scan(t(0));
    drop(discovery);
    server.join().unwrap();
    // The good switches are discovered in full.
    assert_eq!(snap.switches.len(), 2);
    assert_eq!(discovered(&snap.devices), expected_devices(&topology));
    assert!(snap.devices.iter().all(|d| d.status == PortStatus::Active));
    assert_eq!(snap.failed.len(), 1);
    let failure = snap.failed.pop().unwrap();
    assert_eq!(failure.name, "bad");
    failure
}

#[test]
fn malformed_frames_fail_that_switch_only_with_a_typed_error() {
    // A CCI header promising 200 payload bytes that never come.
    let f = discover_with_bad_switch(|req| {
        let mut cci = vec![
            1,
            req[5 + 1],
            0,
            req[5 + 3],
            req[5 + 4],
            200,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        cci.extend_from_slice(&[0; 4]);
        framed(req, &cci)
    });
    assert!(
        matches!(
            f.error,
            FabricError::Malformed {
                source: FmApiError::Truncated { .. },
                ..
            }
        ),
        "{:?}",
        f.error
    );

    // An MCTP header of version 15.
    let f = discover_with_bad_switch(|req| {
        let mut p = framed(req, &[1; 12]);
        p[0] = 0x0f;
        p
    });
    assert!(matches!(
        f.error,
        FabricError::Malformed {
            source: FmApiError::MctpVersion(15),
            ..
        }
    ));

    // Oversized: an Identify response with a payload one byte longer than Identify's 18.
    let f = discover_with_bad_switch(|req| {
        let mut cci = vec![1, req[6], 0, req[8], req[9], 19, 0, 0, 0, 0, 0, 0];
        cci.extend_from_slice(&[0; 19]);
        framed(req, &cci)
    });
    assert!(matches!(
        f.error,
        FabricError::Malformed {
            source: FmApiError::Oversized { .. },
            ..
        }
    ));

    // A response for another command than the one asked.
    let f = discover_with_bad_switch(|req| {
        let cci = [1, req[6], 0, 0x00, 0x54, 0, 0, 0, 0, 0, 0, 0];
        framed(req, &cci)
    });
    assert!(matches!(f.error, FabricError::Mismatch { .. }));

    // Packets that never end a message: the reader stops at the size limit.
    let f = discover_with_bad_switch(|req| {
        let mut p = framed(req, &[0u8; 12]);
        p[3] &= !0x40; // clear EOM
        let mut tail = p.clone();
        tail[3] &= !0x80; // continuation packets
        let mut out = p;
        for i in 1..20_000usize {
            tail[3] = (tail[3] & !0x30) | (((i % 4) as u8) << 4);
            out.extend_from_slice(&tail);
        }
        out
    });
    assert!(matches!(
        f.error,
        FabricError::Malformed {
            source: FmApiError::Oversized { .. },
            ..
        }
    ));
}

#[test]
fn programming_bindings_allocations_and_qos_reads_back() {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let sw0 = twin.switches()[0].addr();
    let mut fm = FmClient::new(MctpTcpTransport::connect(sw0, TIMEOUT).unwrap());

    // Host h1's VCS (1) gets LD 2 of the MLD on port 8 and the SLD on port 9.
    fm.bind(BindVppb {
        vcs_id: 1,
        vppb_id: 0,
        port_id: 8,
        ld_id: 2,
    })
    .unwrap();
    fm.bind(BindVppb {
        vcs_id: 1,
        vppb_id: 1,
        port_id: 9,
        ld_id: BindVppb::WHOLE_PORT,
    })
    .unwrap();
    // The same LD cannot serve a second host.
    let again = fm.bind(BindVppb {
        vcs_id: 0,
        vppb_id: 0,
        port_id: 8,
        ld_id: 2,
    });
    assert!(matches!(
        again,
        Err(FabricError::Refused { return_code, .. }) if return_code == ReturnCode::INVALID_INPUT.0
    ));
    let vcs = fm.vcs_info(&[1]).unwrap();
    assert_eq!(
        (
            vcs[0].vppbs[0].status,
            vcs[0].vppbs[0].port_id,
            vcs[0].vppbs[0].ld_id
        ),
        (BindingStatus::BoundLd, 8, 2)
    );
    assert_eq!(vcs[0].vppbs[1].status, BindingStatus::BoundPort);
    assert_eq!(fm.identify_switch().unwrap().bound_vppbs, 2);

    // LD allocations: give LD 0 128 GiB (512 granules) and LD 1 nothing; the total stays
    // within 256 GiB. More than the device holds is refused.
    let set = SetLdAllocations {
        start_ld: 0,
        allocations: vec![
            LdAllocation {
                range1_multiplier: 512,
                range2_multiplier: 0,
            },
            LdAllocation {
                range1_multiplier: 0,
                range2_multiplier: 0,
            },
        ],
    };
    assert_eq!(fm.set_ld_allocations(8, set.clone()).unwrap(), set);
    let read = fm.ld_allocations(8).unwrap();
    assert_eq!(read.allocations[0].range1_multiplier, 512);
    assert_eq!(read.allocations[1].range1_multiplier, 0);
    assert_eq!(read.allocations[2].range1_multiplier, 256);
    let too_much = SetLdAllocations {
        start_ld: 1,
        allocations: vec![LdAllocation {
            range1_multiplier: 1024,
            range2_multiplier: 0,
        }],
    };
    let err = fm.set_ld_allocations(8, too_much).unwrap_err();
    assert!(err.to_string().contains("via port 8"), "{err}");

    // QoS shares: ×256 fractions that together exceed 1 are refused; within, read back.
    let share = QosFractions {
        start_ld: 0,
        fractions: vec![128, 64, 32, 32],
    };
    fm.set_qos_allocated_bw(8, share.clone()).unwrap();
    let all = LdWindow {
        start_ld: 0,
        count: 4,
    };
    assert_eq!(fm.qos_allocated_bw(8, all).unwrap(), share);
    assert!(
        fm.set_qos_allocated_bw(
            8,
            QosFractions {
                start_ld: 0,
                fractions: vec![200, 100],
            }
        )
        .is_err()
    );
    fm.set_qos_bw_limit(
        8,
        QosFractions {
            start_ld: 3,
            fractions: vec![51],
        },
    )
    .unwrap();
    assert_eq!(
        fm.qos_bw_limit(8, all).unwrap().fractions,
        [255, 255, 255, 51]
    );
    assert_eq!(fm.qos_control(8).unwrap().egress_severe_percent, 25);

    // An SLD has no FM-owned LD: set 54h is Unsupported there.
    assert!(matches!(
        fm.ld_info(9),
        Err(FabricError::Refused { return_code, .. }) if return_code == ReturnCode::UNSUPPORTED.0
    ));
}

#[test]
fn a_switch_twin_stops_listening_when_dropped() {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let addr = twin.switches()[0].addr();
    let client = MctpTcpTransport::connect(addr, TIMEOUT).unwrap();
    drop(twin);
    assert!(TcpStream::connect_timeout(&addr, TIMEOUT).is_err());
    // The open connection was shut down too.
    let mut fm = FmClient::new(client);
    assert!(matches!(fm.identify(), Err(FabricError::Io { .. })));
}

#[test]
fn a_device_that_refuses_goes_offline_and_its_switch_stays_discovered() {
    let topology = Topology::default_twin();
    let twin = FabricTwin::start(&topology).unwrap();
    let mut discovery = Discovery::new(twin.endpoints(), TIMEOUT);
    discovery.scan(t(0));
    twin.faults().set_device_failing("sw0", 8, true).unwrap();
    let snap = discovery.scan(t(5));
    assert!(snap.failed.is_empty());
    assert_eq!(snap.switches.len(), 2);
    let errors = &snap.switches[0].device_errors;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 8);
    assert!(errors[0].1.contains("via port 8"), "{}", errors[0].1);
    for d in &snap.devices {
        if (d.switch.as_str(), d.port) == ("sw0", 8) {
            assert_eq!((d.status, d.last_seen), (PortStatus::Offline, t(0)));
            assert!(d.error.is_some());
        } else {
            assert_eq!((d.status, d.last_seen), (PortStatus::Active, t(5)));
        }
    }
}
