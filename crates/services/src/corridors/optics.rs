//! The corridor's lanes on the optical ports: CMIS provisioning, re-lock,
//! release, and telemetry read back through the CMIS codec.
//!
//! Every number here comes from the ports' memory maps (on the twin, the
//! physics model behind them) or from the technology's energy model; the
//! service never makes one up.
//!
//! The plant is an [`OpticalPlant`]: the twin or real modules, never named
//! here. Real modules block the calling thread (status polls sleep between
//! reads), so every operation goes through [`on_plant`], which runs it on
//! tokio's blocking pool when the plant [blocks](OpticalPlant::blocks) and
//! inline when it does not (the twin: a hop to another thread would only
//! add latency to every grant).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use corridor_hal::optical::{OpticalPlant, OpticalPort, PortMonitors};
use corridor_model::corridor::{
    Corridor, CorridorAssignment, DriftLevel, EyeMargin, LaneTelemetry,
};
use corridor_model::units::{Celsius, Nanometers};
use corridor_physics::fec::KP4_PRE_FEC_BER_THRESHOLD;
use corridor_protocols::cmis::ProvisionRequest;

use super::error::CorridorError;

/// Application 1 of the twin modules is a whole 8-lane bank; application 2
/// a single lane at any position (the module's advertised descriptors,
/// `corridor_hal::optical::twin::module_profile`). Real modules behind the
/// linux backend must advertise the same two.
const AP_SEL_BANK: u8 = 1;
const AP_SEL_SINGLE: u8 = 2;

/// Forward voltage of a DFB laser diode at operating current, V
/// (assumption: InP DFBs run at 1.2-1.8 V). Laser wall-plug power is the
/// read-back bias current times this.
const LASER_FORWARD_V: f64 = 1.5;

/// Speed of light, m/s (exact, SI).
const C_M_PER_S: f64 = 299_792_458.0;

fn optical(port: &str) -> impl FnOnce(corridor_hal::OpticalError) -> CorridorError + '_ {
    move |source| CorridorError::Optical {
        port: port.to_owned(),
        source,
    }
}

fn port<'a>(plant: &'a dyn OpticalPlant, id: &str) -> Result<&'a dyn OpticalPort, CorridorError> {
    plant.port(id).ok_or_else(|| {
        CorridorError::Topology(format!(
            "no optical port {id} in the {} plant",
            plant.backend()
        ))
    })
}

/// Runs `job` against the plant: on tokio's blocking pool when the plant's
/// operations block on device I/O, inline otherwise.
pub async fn on_plant<T, F>(plant: &Arc<dyn OpticalPlant>, job: F) -> Result<T, CorridorError>
where
    T: Send + 'static,
    F: FnOnce(&dyn OpticalPlant) -> Result<T, CorridorError> + Send + 'static,
{
    if !plant.blocks() {
        return job(plant.as_ref());
    }
    let plant = Arc::clone(plant);
    match tokio::task::spawn_blocking(move || job(plant.as_ref())).await {
        Ok(outcome) => outcome,
        // A panic in the job is a bug: let it surface as it would inline.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(CorridorError::PlantJobCancelled),
    }
}

/// Runs the CMIS provisioning sequence (leave low power, deinit, ApSel,
/// ApplyDPInit, poll until DPActivated) for the corridor's module lanes on
/// both ends, then tunes each lane's laser to its grid channel.
pub async fn provision(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| provision_now(plant, &a)).await
}

fn provision_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<(), CorridorError> {
    for id in &a.ports {
        let p = port(plant, id)?;
        let lanes = &a.module_lanes;
        if lanes.len() == 8 && lanes[0] % 8 == 1 {
            let bank = (lanes[0] - 1) / 8;
            p.provision(&ProvisionRequest::new(AP_SEL_BANK, bank, 1, 8))
                .map_err(optical(id))?;
        } else {
            for &lane in lanes {
                let bank = (lane - 1) / 8;
                let first = (lane - 1) % 8 + 1;
                p.provision(&ProvisionRequest::new(AP_SEL_SINGLE, bank, first, 1))
                    .map_err(optical(id))?;
            }
        }
        tune(p, a, id)?;
    }
    Ok(())
}

/// Brings both ends' receivers up to date after provisioning: the first
/// port was provisioned before the far end lit its lasers, so it computes
/// its receivers again (one port only, not the whole plant).
pub async fn settle(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
    now: DateTime<Utc>,
) -> Result<(), CorridorError> {
    let first = a.ports[..1].to_vec();
    on_plant(plant, move |plant| {
        plant.settle(&first, now).map_err(optical(&first[0]))
    })
    .await
}

/// Brings every port up to `now` (the twin's physics; nothing on real
/// modules).
pub async fn advance(
    plant: &Arc<dyn OpticalPlant>,
    now: DateTime<Utc>,
) -> Result<(), CorridorError> {
    on_plant(plant, move |plant| plant.advance(now).map_err(optical("*"))).await
}

/// Re-centres every laser on its channel (a CMIS tune, which re-locks the
/// laser at the current case temperature).
fn tune(p: &dyn OpticalPort, a: &CorridorAssignment, id: &str) -> Result<(), CorridorError> {
    for (&lane, &n) in a.module_lanes.iter().zip(&a.grid_channels) {
        let channel = i16::try_from(n)
            .map_err(|_| CorridorError::Topology(format!("grid channel {n} does not fit CMIS")))?;
        p.tune(lane, channel).map_err(optical(id))?;
    }
    Ok(())
}

/// A re-lock: cycle the data path (DPDeinit, ApplyDPInit re-centres the
/// rings at the current temperature) and re-tune the lasers.
pub async fn relock(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| {
        release_now(plant, &a)?;
        provision_now(plant, &a)
    })
    .await
}

/// Re-tunes the lasers only (the cheapest repair).
pub async fn retune(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| {
        for id in &a.ports {
            tune(port(plant, id)?, &a, id)?;
        }
        Ok(())
    })
    .await
}

/// Takes the lanes down (Tx disable, DPDeinit) on both ends.
pub async fn release(
    plant: &Arc<dyn OpticalPlant>,
    a: &CorridorAssignment,
) -> Result<(), CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| release_now(plant, &a)).await
}

fn release_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<(), CorridorError> {
    for id in &a.ports {
        port(plant, id)?
            .deprovision(&a.module_lanes)
            .map_err(optical(id))?;
    }
    Ok(())
}

/// What the two ends' memory maps say about the corridor's lanes.
#[derive(Debug, Clone)]
pub struct Readback {
    pub lanes: Vec<LaneTelemetry>,
    /// Worst lane, pre-FEC, worse end.
    pub worst_ber: f64,
    /// Hotter module case, °C.
    pub temp_c: f64,
    /// Largest laser frequency error as a share of the channel spacing.
    pub worst_drift_share: f64,
    /// Laser wall-plug power of all lanes, both ends, mW.
    pub laser_mw: f64,
    /// Every lane DPActivated and receiving light at both ends.
    pub all_up: bool,
    /// Each lane end that is not lit, and why ("lane 2 at sled1-p0: data
    /// path Deactivated"); empty when every lane is lit at both ends.
    pub dark: Vec<String>,
}

/// Reads the corridor's lanes back from both ends' memory maps.
pub async fn read(
    plant: &Arc<dyn OpticalPlant>,
    _corridor: &Corridor,
    a: &CorridorAssignment,
) -> Result<Readback, CorridorError> {
    let a = a.clone();
    on_plant(plant, move |plant| read_now(plant, &a)).await
}

fn read_now(plant: &dyn OpticalPlant, a: &CorridorAssignment) -> Result<Readback, CorridorError> {
    let monitors: Vec<(String, PortMonitors)> = a
        .ports
        .iter()
        .map(|id| {
            port(plant, id)?
                .read_lane_monitors(&a.module_lanes)
                .map(|m| (id.clone(), m))
                .map_err(optical(id))
        })
        .collect::<Result<_, _>>()?;
    let spacing_mhz = a.grid_spacing_ghz * 1000.0;
    let mut lanes = Vec::with_capacity(a.module_lanes.len());
    let (mut worst_ber, mut worst_drift, mut laser_mw) = (0.0f64, 0.0f64, 0.0);
    let mut dark = Vec::new();
    let temp_c = monitors
        .iter()
        .map(|(_, m)| m.temperature_c)
        .fold(f64::NEG_INFINITY, f64::max);
    for (i, &lane) in a.module_lanes.iter().enumerate() {
        let mut ber = 0.0f64;
        let mut freq_error = 0.0f64;
        let mut laser_t = f64::NEG_INFINITY;
        for (port, m) in &monitors {
            let Some(l) = m.lane(lane) else {
                dark.push(format!("lane {i} at {port}: module lane {lane} absent"));
                continue;
            };
            // No light or no data path: the receiver sees a coin toss.
            let lane_ber = l.pre_fec_ber.unwrap_or(0.5);
            match l.data_path {
                Some(corridor_protocols::cmis::DataPathState::Activated) => {}
                Some(state) => dark.push(format!("lane {i} at {port}: data path {state:?}")),
                None => dark.push(format!("lane {i} at {port}: data path state unknown")),
            }
            if l.rx_power_uw <= 0.0 {
                dark.push(format!("lane {i} at {port}: no light received"));
            }
            ber = ber.max(lane_ber);
            if let Some(e) = l.laser_freq_error_mhz
                && e.abs() > freq_error.abs()
            {
                freq_error = e;
            }
            laser_t = laser_t.max(l.laser_temperature_c.unwrap_or(m.temperature_c));
            laser_mw += l.bias_ma * LASER_FORWARD_V;
        }
        worst_ber = worst_ber.max(ber);
        worst_drift = worst_drift.max(freq_error.abs() / spacing_mhz);
        let f_hz = (193_100.0 + f64::from(a.grid_channels[i]) * a.grid_spacing_ghz) * 1e9;
        // Δλ = −Δf·λ²/c, in picometres.
        let lambda_m = C_M_PER_S / f_hz;
        let drift_pm = -(freq_error * 1e6) * lambda_m * lambda_m / C_M_PER_S * 1e12;
        lanes.push(LaneTelemetry {
            lane: i as u32,
            lambda_nm: Nanometers(lambda_m * 1e9),
            ber,
            temp_c: Celsius(laser_t),
            drift_pm,
            heater_mw: None,
            bias_v: None,
        });
    }
    Ok(Readback {
        lanes,
        worst_ber,
        temp_c,
        worst_drift_share: worst_drift,
        laser_mw,
        all_up: dark.is_empty(),
        dark,
    })
}

/// Eye quality from the pre-FEC BER against the KP4 correction limit: a
/// decade of headroom is `ok`, under the limit `marginal`, above it `fail`.
pub fn eye_margin(pre_fec_ber: f64, all_up: bool) -> EyeMargin {
    if !all_up || pre_fec_ber > KP4_PRE_FEC_BER_THRESHOLD {
        EyeMargin::Fail
    } else if pre_fec_ber > KP4_PRE_FEC_BER_THRESHOLD / 10.0 {
        EyeMargin::Marginal
    } else {
        EyeMargin::Ok
    }
}

/// Drift from the laser frequency error: under 10 % of the channel spacing
/// is `low`, under 25 % `medium` (the ring filter starts cutting into the
/// signal), else `high`.
pub fn drift_level(share: f64) -> DriftLevel {
    if share < 0.10 {
        DriftLevel::Low
    } else if share < 0.25 {
        DriftLevel::Medium
    } else {
        DriftLevel::High
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corridor_hal::optical::PlantPort;

    /// A plant with no ports that says whether it blocks.
    #[derive(Debug)]
    struct Plant(bool);

    impl OpticalPlant for Plant {
        fn backend(&self) -> &'static str {
            "test"
        }
        fn port(&self, _id: &str) -> Option<&dyn OpticalPort> {
            None
        }
        fn inventory(&self) -> Vec<PlantPort> {
            Vec::new()
        }
        fn advance(&self, _now: DateTime<Utc>) -> corridor_hal::optical::Result<()> {
            Ok(())
        }
        fn settle(&self, _: &[String], _: DateTime<Utc>) -> corridor_hal::optical::Result<()> {
            Ok(())
        }
        fn blocks(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn a_blocking_plant_runs_off_the_runtime_thread_and_the_twin_inline() {
        // A current-thread runtime: its only worker is this test's thread.
        let here = std::thread::current().id();
        let blocking: Arc<dyn OpticalPlant> = Arc::new(Plant(true));
        let inline: Arc<dyn OpticalPlant> = Arc::new(Plant(false));
        let ran_on = |plant| on_plant(plant, |_| Ok(std::thread::current().id()));
        assert_ne!(ran_on(&blocking).await.unwrap(), here);
        assert_eq!(ran_on(&inline).await.unwrap(), here);
        // An operation on a port the plant lacks names the port and the backend.
        assert!(matches!(
            provision(&blocking, &assignment()).await,
            Err(CorridorError::Topology(m)) if m.contains("port a") && m.contains("test plant")
        ));
    }

    fn assignment() -> CorridorAssignment {
        serde_json::from_value(serde_json::json!({
            "ports": ["a", "b"], "module_lanes": [1], "grid_channels": [3],
            "grid_spacing_ghz": 100.0, "lane_rate_gbps": 25.0, "modulation": "NRZ",
            "fec": "KP4", "latency_ns": 1.0, "margin_db": 3.0, "energy_pj_per_bit": 1.0
        }))
        .unwrap()
    }
}
