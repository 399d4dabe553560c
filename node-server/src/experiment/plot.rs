//! `report --plot`: the experiment's charts in one file for a lab write-up, drawn with
//! plotters from the [`pow_core::stats`] figures.
//!
//! The charts, one line each:
//! - **Win share vs hash share**: one point per node at (hash share, win share) with its 95%
//!   interval; on a fair lottery the intervals straddle the diagonal.
//! - **Race times**: the histogram of observed race times, and the count per bin the
//!   exponential law of the difficulty and total hash rate predicts (red).
//! - **Difficulty over time**: the zero bits each race was mined at, in ledger order (flat
//!   unless retargeting is on).
//! - **Wasted work**: per race, the losers' share of its hashes, with the overall share (and
//!   the share a fair lottery predicts, when given).
//! - **Arrival order** (lab mode): win share by the order in which the nodes started, against
//!   the 1/nodes every rank would get if arrival did not matter.
//!
//! `.svg` is written by plotters' SVG backend; `.png` by its bitmap backend, pure Rust, with
//! the text drawn in an embedded DejaVu Sans so no system font or library is needed.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

use pow_core::stats::{ArrivalOrder, Fairness, RaceTimes, WastedWork};

/// Width of the picture, pixels.
pub const WIDTH: u32 = 1400;
/// Height of one row of two charts, pixels.
pub const ROW_HEIGHT: u32 = 520;
/// Height of the title band, pixels.
pub const TITLE_HEIGHT: u32 = 50;

const FONT: &str = "sans-serif";

/// Node colours (the Tableau 10 palette: distinct, and readable on white), cycled.
const NODE_COLORS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// What to draw. Absent figures get a "no data" panel, so the layout is always the same.
#[derive(Clone, Copy, Debug, Default)]
pub struct Charts<'a> {
    /// The picture's title (e.g. the ledger's path and the race mode).
    pub title: &'a str,
    /// Win share vs hash share (lottery races).
    pub fairness: Option<&'a Fairness>,
    /// Race times against the prediction.
    pub race_times: Option<&'a RaceTimes>,
    /// Each race's difficulty in zero bits, in ledger order.
    pub difficulty_bits: &'a [u32],
    /// The retarget's target race time, seconds, for the difficulty chart's caption.
    pub target_time_secs: Option<f64>,
    /// Wasted work.
    pub wasted: Option<&'a WastedWork>,
    /// The wasted share a fair lottery predicts ([`expected_wasted_share`](pow_core::stats::expected_wasted_share)).
    pub expected_wasted_share: Option<f64>,
    /// Win share by arrival order (lab races).
    pub arrival: Option<&'a ArrivalOrder>,
}

/// Why the charts were not written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The file name says neither SVG nor PNG.
    #[error("{0}: unknown picture format (use a .svg or .png file name)")]
    UnknownFormat(PathBuf),
    /// plotters failed.
    #[error("drawing the charts: {0}")]
    Draw(String),
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn draw_err<E: Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The charts as an SVG document.
pub fn render_svg(charts: &Charts) -> Result<String, PlotError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size(charts)).into_drawing_area();
        draw(&root, charts)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Writes the charts to `path`, as SVG or PNG by its extension.
pub fn write(path: &Path, charts: &Charts) -> Result<(), PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => {
            let svg = render_svg(charts)?;
            std::fs::write(path, svg).map_err(|source| PlotError::Io {
                path: path.to_owned(),
                source,
            })
        }
        Some("png") => {
            register_font();
            let root = BitMapBackend::new(path, size(charts)).into_drawing_area();
            draw(&root, charts)?;
            root.present()
                .map_err(|e| PlotError::Draw(format!("{}: {e}", path.display())))
        }
        _ => Err(PlotError::UnknownFormat(path.to_owned())),
    }
}

/// plotters' text goes through ab_glyph, which knows only registered fonts.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err()
        {
            tracing::error!("the embedded DejaVu Sans did not load; charts will lack text");
        }
    });
}

fn panels(charts: &Charts) -> usize {
    4 + usize::from(charts.fairness.is_some() && charts.arrival.is_some())
}

fn size(charts: &Charts) -> (u32, u32) {
    let rows = panels(charts).div_ceil(2) as u32;
    (WIDTH, TITLE_HEIGHT + rows * ROW_HEIGHT)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &Charts,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let body = root.titled(charts.title, (FONT, 28)).map_err(draw_err)?;
    let rows = panels(charts).div_ceil(2);
    let areas = body.split_evenly((rows, 2));
    let mut areas = areas.iter();
    let mut next = || areas.next().expect("enough panels");
    match (charts.fairness, charts.arrival) {
        (Some(f), _) => fairness_panel(next(), f)?,
        (None, Some(a)) => arrival_panel(next(), a)?,
        (None, None) => empty_panel(next(), "Win share vs hash share", "no fairness figures")?,
    }
    match charts.race_times {
        Some(r) => race_time_panel(next(), r)?,
        None => empty_panel(next(), "Race times", "no race times")?,
    }
    difficulty_panel(next(), charts.difficulty_bits, charts.target_time_secs)?;
    match charts.wasted {
        Some(w) => wasted_panel(next(), w, charts.expected_wasted_share)?,
        None => empty_panel(next(), "Wasted work", "no work figures")?,
    }
    if let (Some(_), Some(a)) = (charts.fairness, charts.arrival) {
        arrival_panel(next(), a)?;
    }
    Ok(())
}

/// A p-value to 3 significant digits, or a bound when it is tiny.
fn fmt_p(p: f64) -> String {
    if p < 1e-6 {
        "< 1e-6".to_owned()
    } else if p < 0.001 {
        format!("= {p:.1e}")
    } else {
        format!("= {p:.3}")
    }
}

fn percent(v: &f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn empty_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    why: &str,
) -> Result<(), PlotError> {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(caption.to_owned(), (20, 12), (FONT, 20)))
        .map_err(draw_err)?;
    area.draw(&Text::new(
        why.to_owned(),
        (w as i32 / 2 - 80, h as i32 / 2),
        (FONT, 16).into_font().color(&BLACK.mix(0.5)),
    ))
    .map_err(draw_err)
}

fn fairness_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    f: &Fairness,
) -> Result<(), PlotError> {
    let top = f
        .nodes
        .iter()
        .flat_map(|n| [n.hash_share, n.win_interval.hi])
        .fold(0.0, f64::max);
    let top = (top * 1.15).clamp(0.05, 1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Win share vs hash share ({} races; fit p {})",
                f.races,
                fmt_p(f.test.p_value)
            ),
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..top, 0.0..top)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_desc("hash share")
        .y_desc("win share (95% interval)")
        .x_label_formatter(&percent)
        .y_label_formatter(&percent)
        .draw()
        .map_err(draw_err)?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (top, top)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(draw_err)?
        .label("fair: win share = hash share")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (i, n) in f.nodes.iter().enumerate() {
        let color = NODE_COLORS[i % NODE_COLORS.len()];
        chart
            .draw_series([ErrorBar::new_vertical(
                n.hash_share,
                n.win_interval.lo,
                n.win_share,
                n.win_interval.hi,
                color.stroke_width(2),
                12,
            )])
            .map_err(draw_err)?
            .label(format!(
                "{}: {} of {} wins, hash share {:.1}%",
                n.name,
                n.wins,
                n.races,
                n.hash_share * 100.0
            ))
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        chart
            .draw_series([EmptyElement::at((n.hash_share, n.win_share))
                + Circle::new((0, 0), 4, color.filled())
                + Text::new(n.name.clone(), (10, -18), (FONT, 15))])
            .map_err(draw_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)
}

fn race_time_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &RaceTimes,
) -> Result<(), PlotError> {
    let xmax = r
        .histogram
        .last()
        .map_or(1.0, |b| b.hi)
        .max(f64::MIN_POSITIVE);
    let ymax = r
        .histogram
        .iter()
        .flat_map(|b| [b.observed as f64, b.predicted])
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Race times: mean {} observed, {} predicted (KS p {})",
                secs(r.observed_mean),
                secs(r.predicted_mean),
                fmt_p(r.ks.p_value)
            ),
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..xmax, 0.0..ymax)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_desc("race time (s)")
        .y_desc("races per bin")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(draw_err)?;
    let fill = BLUE.mix(0.35);
    chart
        .draw_series(
            r.histogram
                .iter()
                .map(|b| Rectangle::new([(b.lo, 0.0), (b.hi, b.observed as f64)], fill.filled())),
        )
        .map_err(draw_err)?
        .label(format!("observed ({} races)", r.races))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], fill.filled()));
    // The prediction per bin, as a step outline over the same bins.
    let steps = r
        .histogram
        .iter()
        .flat_map(|b| [(b.lo, b.predicted), (b.hi, b.predicted)]);
    chart
        .draw_series(LineSeries::new(steps, RED.stroke_width(2)))
        .map_err(draw_err)?
        .label("predicted: exponential, mean 2^bits / total hash rate")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)
}

fn secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn difficulty_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    bits: &[u32],
    target: Option<f64>,
) -> Result<(), PlotError> {
    let caption = match target {
        Some(t) => format!("Difficulty over time (retargeting to {} per race)", secs(t)),
        None => "Difficulty over time".to_owned(),
    };
    if bits.is_empty() {
        return empty_panel(area, &caption, "no races");
    }
    let lo = bits.iter().copied().min().unwrap_or(0).saturating_sub(2);
    let hi = bits.iter().copied().max().unwrap_or(0) + 2;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..bits.len() as f64, f64::from(lo)..f64::from(hi))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_desc("race (ledger index)")
        .y_desc("difficulty (zero bits)")
        // One label a bit: whole bits only.
        .y_labels((hi - lo) as usize + 1)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(draw_err)?;
    let steps = bits
        .iter()
        .enumerate()
        .flat_map(|(i, &b)| [(i as f64, f64::from(b)), ((i + 1) as f64, f64::from(b))]);
    chart
        .draw_series(LineSeries::new(steps, BLUE.stroke_width(2)))
        .map_err(draw_err)?;
    Ok(())
}

fn wasted_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    w: &WastedWork,
    expected: Option<f64>,
) -> Result<(), PlotError> {
    let total = w.winner_hashes as f64 + w.loser_hashes as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Wasted work: losers did {:.1}% of {:.3e} hashes",
                w.wasted_share * 100.0,
                total
            ),
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..(w.races.max(1)) as f64, 0.0..1.0)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_desc("race (ledger index)")
        .y_desc("losers' share of the race's hashes")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&percent)
        .draw()
        .map_err(draw_err)?;
    let dot = BLUE.mix(0.5);
    chart
        .draw_series(
            w.per_race_share
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| Circle::new((i as f64 + 0.5, s), 2, dot.filled()))),
        )
        .map_err(draw_err)?
        .label("one race")
        .legend(move |(x, y)| Circle::new((x + 10, y), 3, dot.filled()));
    let end = w.races.max(1) as f64;
    chart
        .draw_series(LineSeries::new(
            [(0.0, w.wasted_share), (end, w.wasted_share)],
            BLACK.stroke_width(2),
        ))
        .map_err(draw_err)?
        .label(format!("all races: {:.1}%", w.wasted_share * 100.0))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    if let Some(e) = expected {
        chart
            .draw_series(LineSeries::new([(0.0, e), (end, e)], RED.stroke_width(2)))
            .map_err(draw_err)?
            .label(format!("fair lottery, losers stopping: {:.1}%", e * 100.0))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)
}

fn ordinal(rank: usize) -> String {
    let n = rank + 1;
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn arrival_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    a: &ArrivalOrder,
) -> Result<(), PlotError> {
    let k = a.nodes;
    let top = a
        .ranks
        .iter()
        .map(|r| r.win_interval.hi)
        .fold(1.0 / k as f64, f64::max);
    let top = (top * 1.15).min(1.0);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "Win share by arrival order ({} races; uniform p {})",
                a.races,
                fmt_p(a.test.p_value)
            ),
            (FONT, 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..(k as f64 - 0.5), 0.0..top)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .disable_x_mesh()
        .x_labels(k)
        .x_desc("order in which the node started the race")
        .y_desc("win share (95% interval)")
        .x_label_formatter(&|v| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 0.0 {
                ordinal(r as usize)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&percent)
        .draw()
        .map_err(draw_err)?;
    let fill = BLUE.mix(0.35);
    chart
        .draw_series(a.ranks.iter().map(|r| {
            let x = r.rank as f64;
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, r.win_share)], fill.filled())
        }))
        .map_err(draw_err)?
        .label("wins by the node that started 1st, 2nd, …")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], fill.filled()));
    chart
        .draw_series(a.ranks.iter().map(|r| {
            ErrorBar::new_vertical(
                r.rank as f64,
                r.win_interval.lo,
                r.win_share,
                r.win_interval.hi,
                BLACK.stroke_width(2),
                12,
            )
        }))
        .map_err(draw_err)?;
    let even = 1.0 / k as f64;
    chart
        .draw_series(LineSeries::new(
            [(-0.5, even), (k as f64 - 0.5, even)],
            RED.stroke_width(2),
        ))
        .map_err(draw_err)?
        .label(format!(
            "arrival does not matter: {:.1}% each",
            even * 100.0
        ))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)
}

#[cfg(test)]
mod tests;
