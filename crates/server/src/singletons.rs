//! The work one replica does for the whole control plane, run while this
//! replica leads ([`corridor_services::leadership`]) and inside its fence:
//! corrd's reconciler and heliopassd's ring tracking, fabmand's path
//! reconciler and attestd's renewals — each only in a process that runs
//! that daemon. On the embedded store the one process always leads,
//! unfenced, and runs all of it under one leadership; on etcd each daemon's
//! work has its own election ([`corridor_services::leadership::leader_key`]),
//! so a corrd process and a fabmand process each lead their own.

use std::sync::Arc;

use corridor_services::ControlPlane;
use corridor_services::daemons::RfcDaemon;
use corridor_services::leadership::Leader;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Real time between corridor reconcile passes.
const CORRIDOR_RECONCILE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The running singleton tasks of the daemons one election covers.
struct Singletons {
    reconciler: Option<corridor_services::corridors::reconcile::ReconcilerHandle>,
    attestation: Option<tokio::task::JoinHandle<()>>,
    tracking: Option<corridor_services::heliopass::tracking::TrackingHandle>,
    paths: Option<tokio::task::JoinHandle<()>>,
}

impl Singletons {
    /// Starts the singleton tasks of `daemons`; called inside the leader's
    /// fence, so each task (spawned through `corridor_store::fencing::spawn`)
    /// carries it.
    fn start(plane: &ControlPlane, attest_on_request: bool, daemons: &[RfcDaemon]) -> Self {
        let corrd = daemons.contains(&RfcDaemon::Corrd);
        Self {
            // corrd's reconciler follows the twin clock.
            reconciler: corrd.then(|| {
                plane
                    .corridors
                    .spawn_reconciler(CORRIDOR_RECONCILE_INTERVAL)
            }),
            // attestd attests every twin device now and renews tickets
            // before they expire; held corridors activate on the
            // reconciler's next pass.
            attestation: (daemons.contains(&RfcDaemon::Attestd) && !attest_on_request)
                .then(|| plane.attestation.spawn_attestation_loop()),
            // heliopassd's ring trackers follow the twin clock for every lit
            // lane of corrd's plant.
            tracking: if corrd {
                plane.heliopass.spawn_tracking()
            } else {
                None
            },
            // fabmand follows the switches: paths over a missing port
            // degrade and are programmed again when it is back.
            paths: daemons
                .contains(&RfcDaemon::Fabmand)
                .then(|| plane.paths.spawn_reconciler()),
        }
    }

    async fn stop(self) {
        if let Some(reconciler) = self.reconciler {
            reconciler.stop().await;
        }
        if let Some(paths) = self.paths {
            paths.abort();
            let _ = paths.await;
        }
        if let Some(tracking) = self.tracking {
            tracking.stop().await;
        }
        if let Some(attestation) = self.attestation {
            attestation.abort();
            let _ = attestation.await;
        }
    }
}

/// Runs the singleton work for as long as `leadership` says this replica
/// leads, stopping it the moment it does not; returns, the work stopped,
/// once `draining` turns true.
pub(crate) async fn supervise(
    plane: Arc<ControlPlane>,
    attest_on_request: bool,
    daemons: Vec<RfcDaemon>,
    mut leadership: watch::Receiver<Option<Leader>>,
    mut draining: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
) {
    loop {
        let leader = tokio::select! {
            leading = leadership.wait_for(Option::is_some) => match leading {
                Ok(leader) => leader.clone().expect("waited for Some"),
                // The election ended (the daemon is going away).
                Err(_) => return,
            },
            _ = draining.wait_for(|draining| *draining) => return,
        };
        let work = match leader.token.clone() {
            Some(token) => {
                corridor_store::fenced(token, async {
                    Singletons::start(&plane, attest_on_request, &daemons)
                })
                .await
            }
            None => Singletons::start(&plane, attest_on_request, &daemons),
        };
        // `corridor_leader` says who drives the optical plant.
        let plant = daemons.contains(&RfcDaemon::Corrd);
        if plant {
            metrics.leader.set(1);
        }
        let stopping = tokio::select! {
            _ = leadership.wait_for(|now| now.as_ref() != Some(&leader)) => false,
            _ = draining.wait_for(|draining| *draining) => true,
        };
        // The gauge says who leads, so it drops with the leadership; work
        // still finishing a pass (a reconcile stuck in store calls of a
        // replica cut off from etcd can take seconds) is fenced meanwhile.
        if plant {
            metrics.leader.set(0);
        }
        work.stop().await;
        if stopping {
            return;
        }
        tracing::warn!(daemons = ?daemons, "leadership lost: the singleton work stopped");
    }
}
