//! `corridorctl calibrate` and `corridorctl ambient`: heliopassd.

use std::time::Duration;

use clap::Args;
use corridor_client::Client;
use corridor_model::calibration::{
    CalibrationMode, CalibrationRequest, LaneCalibration, TwinAmbientRequest,
};
use corridor_model::meta::OperationState;

use crate::kinds::Kind;
use crate::output::{Format, render};

/// How often the operation is polled while it runs.
const POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The corridor to calibrate (both ends' rings)
    #[arg(conflicts_with = "port", required_unless_present = "port")]
    corridor: Option<String>,
    /// An optical port instead (its whole ring bank)
    #[arg(long)]
    port: Option<String>,
    /// `full` (heater sweep, crosstalk, assignment, bias) or `track`
    #[arg(long, value_enum, default_value = "full")]
    mode: Mode,
    /// An ambient profile to record as the calibration's reference
    #[arg(long)]
    profile: Option<String>,
    /// Print the started operation and return without following it
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    Full,
    Track,
}

#[derive(Debug, Args)]
pub struct AmbientArgs {
    /// A profile of `get profiles`
    profile: String,
    /// Only this host's ports
    #[arg(long, conflicts_with = "port")]
    host: Option<String>,
    /// Only this port
    #[arg(long)]
    port: Option<String>,
}

/// One line per lane: what the progress detail says about it.
fn lane_line(l: &LaneCalibration) -> String {
    format!(
        "  {:>10} lane {:>2}  {:<9}  heater {:>7.3} mW  bias {:>6.3} V  error {:>7} pm  BER {} → {:.2e}",
        l.port.as_deref().unwrap_or("-"),
        l.lane,
        l.state
            .map_or("-".to_owned(), |s| format!("{s:?}").to_lowercase()),
        l.heater_mw,
        l.bias_v,
        l.lock_error_pm
            .map_or("-".to_owned(), |e| format!("{e:.2}")),
        l.ber_before.map_or("-".to_owned(), |b| format!("{b:.2e}")),
        l.ber,
    )
}

fn lanes_of(detail: Option<&serde_json::Value>) -> Vec<LaneCalibration> {
    detail
        .and_then(|d| d.get("lanes"))
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .unwrap_or_default()
}

pub async fn run(client: &Client, args: CalibrateArgs, format: Format) -> anyhow::Result<()> {
    let request = CalibrationRequest {
        corridor_id: args.corridor,
        port: args.port,
        target_ber: None,
        power_budget_pj_per_bit: None,
        ambient_profile: args.profile,
        mode: Some(match args.mode {
            Mode::Full => CalibrationMode::Full,
            Mode::Track => CalibrationMode::Track,
        }),
    };
    let mut op = client.calibrate(&request).await?;
    if args.no_wait {
        print!(
            "{}",
            render(Kind::Operations, &[serde_json::to_value(&op)?], format)?
        );
        return Ok(());
    }
    eprintln!("operation {}", op.id);
    let mut shown = (u8::MAX, String::new(), 0usize);
    loop {
        let lanes = lanes_of(op.progress_detail.as_ref());
        if (op.progress_percent, op.message.clone(), lanes.len()) != shown {
            eprintln!("[{:>3}%] {}", op.progress_percent, op.message);
            for l in lanes.iter().skip(shown.2) {
                eprintln!("{}", lane_line(l));
            }
            shown = (op.progress_percent, op.message.clone(), lanes.len());
        }
        if op.state.is_terminal() {
            break;
        }
        tokio::time::sleep(POLL).await;
        op = client.operation(&op.id).await?;
    }
    match op.state {
        OperationState::Succeeded => {
            let result = op.result.clone().unwrap_or_default();
            if format == Format::Table {
                for l in lanes_of(Some(&result)) {
                    println!("{}", lane_line(&l));
                }
                if let Some(ber) = result.get("achieved_ber") {
                    println!("achieved BER {ber}");
                }
                if let Some(p) = result.get("power_pj_per_bit") {
                    println!("tuning power {p} pJ/bit");
                }
            } else {
                print!(
                    "{}",
                    render(Kind::Operations, &[serde_json::to_value(&op)?], format)?
                );
            }
            Ok(())
        }
        _ => anyhow::bail!(
            "calibration {}: {}",
            format!("{:?}", op.state).to_lowercase(),
            op.error
                .as_ref()
                .map_or_else(|| op.message.clone(), |p| p.detail.clone())
        ),
    }
}

pub async fn ambient(client: &Client, args: AmbientArgs) -> anyhow::Result<()> {
    let status = client
        .set_twin_ambient(&TwinAmbientRequest {
            host: args.host,
            port: args.port,
            profile: Some(args.profile),
            custom: None,
        })
        .await?;
    println!(
        "{} from {} on {}",
        status.profile.name,
        status.applied_at,
        status.ports.join(", ")
    );
    Ok(())
}
