//! The requester over the spdm-emu socket framing (transport NONE and MCTP), against a
//! twin responder served on 127.0.0.1 by a minimal spdm-emu style server, so the TCP
//! backend is exercised without DMTF's emulator.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use corridor_attest::spdm::{Contraindication, DevicePolicy, Requester, SystemNonces, Verdict};
use corridor_hal::Topology;
use corridor_hal::attestation::{
    EmuTcpTransport, SpdmTransport, TwinSpdm, TwinSpdmConfig, TwinSpdmTransport,
    reference_measurements,
};
use corridor_pki::pinning::SpkiPin;
use corridor_protocols::spdm::emu::{self, EmuHeader, EmuTransport, command};

/// Serves one connection: unwraps each NORMAL frame, lets the twin answer, wraps the
/// answer; SHUTDOWN is echoed and ends the loop. `tamper` may rewrite outgoing frames.
fn serve(
    mut device: TwinSpdmTransport,
    transport: EmuTransport,
    tamper: fn(Vec<u8>) -> Vec<u8>,
) -> (SocketAddr, JoinHandle<u32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut served = 0;
        loop {
            let mut header = [0u8; emu::HEADER_LEN];
            if stream.read_exact(&mut header).is_err() {
                return served;
            }
            let header = EmuHeader::decode(&header).unwrap();
            let mut payload = vec![0u8; header.size as usize];
            stream.read_exact(&mut payload).unwrap();
            if header.command == command::SHUTDOWN {
                let frame = emu::encode_frame(command::SHUTDOWN, transport, &[]).unwrap();
                let _ = stream.write_all(&frame[..emu::HEADER_LEN]);
                return served;
            }
            let request = transport.unwrap(&payload).unwrap();
            let response = device.exchange(request).unwrap();
            let frame = emu::encode_frame(command::NORMAL, transport, &response).unwrap();
            stream.write_all(&tamper(frame)).unwrap();
            served += 1;
        }
    });
    (addr, handle)
}

fn setup() -> (TwinSpdm, String, DevicePolicy) {
    let twin =
        TwinSpdm::from_topology(&Topology::default_twin(), TwinSpdmConfig::default()).unwrap();
    let d = twin.devices().next().unwrap().clone();
    let policy = DevicePolicy {
        roots: vec![twin.vendor_root_der().to_vec()],
        pins: vec![SpkiPin::of_certificate(twin.device_certificate_der(&d.id).unwrap()).unwrap()],
        reference: reference_measurements(&d, twin.config().measurement_hash),
        now_unix: None,
    };
    (twin, d.id, policy)
}

#[test]
fn a_twin_device_attests_over_tcp_with_transport_none_and_mctp() {
    for transport in [EmuTransport::None, EmuTransport::Mctp] {
        let (twin, id, policy) = setup();
        let (addr, server) = serve(twin.open(&id).unwrap(), transport, |f| f);
        let mut t = EmuTcpTransport::connect(addr, transport, Duration::from_secs(5)).unwrap();
        let report = Requester::default().attest(&mut t, &policy, &mut SystemNonces);
        assert_eq!(report.verdict, Verdict::Affirming, "{transport:?}");
        t.shutdown().unwrap();
        assert_eq!(server.join().unwrap(), report.exchanges, "{transport:?}");
    }
}

#[test]
fn a_frame_of_the_wrong_transport_is_garbage_naming_the_request() {
    let (twin, id, policy) = setup();
    let (addr, server) = serve(twin.open(&id).unwrap(), EmuTransport::None, |mut f| {
        f[7] = 1; // the answer claims transport type MCTP
        f
    });
    let mut t = EmuTcpTransport::connect(addr, EmuTransport::None, Duration::from_secs(5)).unwrap();
    let report = Requester::default().attest(&mut t, &policy, &mut SystemNonces);
    match report.verdict {
        Verdict::Contraindicated(Contraindication::Garbage { request, detail }) => {
            assert_eq!(request, "GET_VERSION");
            assert!(detail.contains("transport type"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    drop(t);
    server.join().ok();
}

#[test]
fn a_closed_port_is_unreachable() {
    // Bind and drop to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err =
        EmuTcpTransport::connect(addr, EmuTransport::None, Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(err, corridor_hal::SpdmTransportError::Unreachable { .. }),
        "{err}"
    );
}

#[test]
fn a_peer_that_hangs_up_mid_attestation_is_unreachable() {
    let (_, _, policy) = setup();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _): (TcpStream, _) = listener.accept().unwrap();
        drop(stream);
    });
    let mut t = EmuTcpTransport::connect(addr, EmuTransport::None, Duration::from_secs(5)).unwrap();
    server.join().unwrap();
    let report = Requester::default().attest(&mut t, &policy, &mut SystemNonces);
    assert!(
        matches!(
            report.verdict,
            Verdict::Contraindicated(Contraindication::Unreachable { .. })
        ),
        "{:?}",
        report.verdict
    );
}
