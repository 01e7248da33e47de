//! The report as one self-contained HTML page: inline SVG plots, inline
//! CSS, no script and no external URL (it opens from a file, in the console
//! or offline). Numbers are printed with fixed precision, so the page is as
//! byte-stable as the JSON it is drawn from.

use std::fmt::Write as _;

use super::report::Report;

const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD: f64 = 40.0;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// A line of points (x in run seconds, y in the plot's unit).
struct Series<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
}

pub fn render(report: &Report) -> String {
    let mut page = String::new();
    let name = escape(&report.scenario.name);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>CorridorLabs: {name}</title>\n<style>\n\
         body{{font-family:sans-serif;margin:1.5em;max-width:60em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}\
         .note{{background:#fff8e0;padding:.5em;border:1px solid #e0c060}}\n</style>\n</head>\n<body>\n\
         <h1>CorridorLabs report: {name}</h1>\n<p>{}</p>\n<p class=\"note\">{}</p>\n",
        escape(&report.scenario.description),
        escape(report.modelled),
    );
    let t = &report.totals;
    let _ = write!(
        page,
        "<table>\n<tr><th>seed</th><td>{}</td></tr>\n<tr><th>start</th><td>{}</td></tr>\n\
         <tr><th>ambient profile</th><td>{}</td></tr>\n<tr><th>duration</th><td>{} s in steps of {} s</td></tr>\n\
         <tr><th>corridors blocked / offered</th><td>{} / {}</td></tr>\n\
         <tr><th>bundles blocked / offered</th><td>{} / {}</td></tr>\n\
         <tr><th>bundle samples meeting their floor</th><td>{} / {}</td></tr>\n\
         <tr><th>highest module temperature</th><td>{}</td></tr>\n\
         <tr><th>worst post-FEC BER</th><td>{}</td></tr>\n\
         <tr><th>calibration events</th><td>{}</td></tr>\n</table>\n",
        report.seed,
        escape(&report.start),
        escape(&report.ambient_profile),
        report.scenario.duration_s,
        report.scenario.step_s,
        t.corridors_blocked,
        t.corridors_offered,
        t.bundles_blocked,
        t.bundles_offered,
        t.floor_samples_met,
        t.floor_samples,
        t.max_temp_c.map_or("-".into(), |v| format!("{v:.2} °C")),
        t.worst_ber.map_or("-".into(), |v| format!("{v:.3e}")),
        t.calibration_events,
    );
    let end = report.scenario.duration_s as f64;

    let blocking = vec![
        Series {
            name: "corridors",
            points: report
                .intervals
                .iter()
                .filter_map(|i| i.corridor_blocking.map(|b| (i.t_s as f64, b)))
                .collect(),
        },
        Series {
            name: "bundles",
            points: report
                .intervals
                .iter()
                .filter_map(|i| i.bundle_blocking.map(|b| (i.t_s as f64, b)))
                .collect(),
        },
    ];
    plot(
        &mut page,
        "Blocking probability per interval",
        "blocked / offered",
        end,
        &blocking,
        Some((0.0, 1.0)),
    );

    let temps: Vec<Series> = report
        .corridors
        .iter()
        .map(|c| Series {
            name: &c.id,
            points: c
                .samples
                .iter()
                .filter_map(|s| s.temp_c.map(|v| (s.t_s as f64, v)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    plot(
        &mut page,
        "Module temperature per corridor",
        "°C",
        end,
        &temps,
        None,
    );

    let bers: Vec<Series> = report
        .corridors
        .iter()
        .map(|c| Series {
            name: &c.id,
            points: c
                .samples
                .iter()
                .filter_map(|s| {
                    s.pre_fec_ber
                        .filter(|b| *b > 0.0)
                        .map(|b| (s.t_s as f64, b.log10()))
                })
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    plot(
        &mut page,
        "Pre-FEC BER per corridor",
        "log10 BER",
        end,
        &bers,
        None,
    );

    let floors = vec![
        Series {
            name: "live bundles",
            points: report
                .intervals
                .iter()
                .map(|i| (i.t_s as f64, f64::from(i.bundles_live)))
                .collect(),
        },
        Series {
            name: "floors met",
            points: report
                .intervals
                .iter()
                .map(|i| (i.t_s as f64, f64::from(i.floors_met)))
                .collect(),
        },
        Series {
            name: "corridors lit",
            points: report
                .intervals
                .iter()
                .map(|i| (i.t_s as f64, f64::from(i.corridors_lit)))
                .collect(),
        },
    ];
    plot(
        &mut page,
        "Floors met and corridors lit",
        "count",
        end,
        &floors,
        None,
    );

    page.push_str("<h2>Calibration and repair events</h2>\n");
    if report.calibration_events.is_empty() {
        page.push_str("<p>None.</p>\n");
    } else {
        page.push_str(
            "<table>\n<tr><th>t (s)</th><th>event</th><th>target</th><th>count</th></tr>\n",
        );
        for e in &report.calibration_events {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.t_s,
                e.kind,
                escape(&e.target),
                e.count
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("<h2>Faults</h2>\n");
    if report.faults.is_empty() {
        page.push_str("<p>None.</p>\n");
    } else {
        page.push_str("<table>\n<tr><th>t (s)</th><th>fault</th><th>outcome</th></tr>\n");
        for f in &report.faults {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                f.t_s,
                escape(&f.fault.to_string()),
                escape(f.error.as_deref().unwrap_or("applied"))
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("<h2>Refusals</h2>\n");
    if report.refusals.is_empty() {
        page.push_str("<p>None.</p>\n");
    } else {
        page.push_str("<table>\n<tr><th>t (s)</th><th>request</th><th>status</th><th>reason</th><th>detail</th></tr>\n");
        for r in &report.refusals {
            let _ = writeln!(
                page,
                "<tr><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.t_s,
                r.kind,
                r.status,
                escape(r.reason.as_deref().unwrap_or("")),
                escape(&r.detail)
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// One line plot as inline SVG, with its legend.
fn plot(
    page: &mut String,
    title: &str,
    unit: &str,
    end: f64,
    series: &[Series],
    range: Option<(f64, f64)>,
) {
    let _ = writeln!(page, "<h2>{}</h2>", escape(title));
    let all = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = match range {
        Some(r) => r,
        None => {
            let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
                (lo.min(y), hi.max(y))
            });
            if !lo.is_finite() {
                page.push_str("<p>No data.</p>\n");
                return;
            }
            if hi - lo < 1e-9 {
                (lo - 1.0, hi + 1.0)
            } else {
                (lo, hi)
            }
        }
    };
    let x = |t: f64| PAD + (W - 2.0 * PAD) * if end > 0.0 { t / end } else { 0.0 };
    let y = |v: f64| H - PAD / 2.0 - (H - PAD) * (v - lo) / (hi - lo);
    let _ = write!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">\n\
         <rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fff\" stroke=\"#ccc\"/>\n\
         <text x=\"4\" y=\"12\" font-size=\"10\">{}</text>\n\
         <text x=\"4\" y=\"{:.1}\" font-size=\"10\">{hi:.3}</text>\n\
         <text x=\"4\" y=\"{:.1}\" font-size=\"10\">{lo:.3}</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">0 s</text>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{end:.0} s</text>\n",
        escape(title),
        escape(unit),
        y(hi) + 4.0,
        y(lo),
        x(0.0),
        H - 2.0,
        x(end),
        H - 2.0,
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        for (t, v) in &s.points {
            let _ = write!(points, "{:.1},{:.1} ", x(*t), y(*v));
        }
        let _ = writeln!(
            page,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.trim_end()
        );
    }
    page.push_str("</svg>\n<p>");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            page,
            "<span style=\"color:{}\">■ {}</span> ",
            COLOURS[i % COLOURS.len()],
            escape(s.name)
        );
    }
    page.push_str("</p>\n");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
