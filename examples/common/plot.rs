//! Line charts as SVG files (plotters' SVG backend: no fonts or system
//! libraries; text is left to the viewer).

use std::path::Path;

use plotters::prelude::*;

use super::Result;

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (e.g. "at initialisation" beside "trained").
    pub dashed: bool,
    /// Index into the palette, so related lines share a colour.
    pub colour: usize,
}

/// The y axis.
#[derive(Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    /// Log₁₀, for curves spanning many decades; points with y ≤ 0 are left out.
    Log,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Writes `series` as a line chart to `path` (an .svg file).
pub fn line_chart(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[Series], scale: Scale) -> Result<()> {
    // A log axis is drawn as a linear axis over log₁₀ y, labelled 1e-k: plotters'
    // own log axis leaves ranges of tens of decades unlabelled.
    let y_of = |y: f64| if scale == Scale::Log { y.log10() } else { y };
    let kept: Vec<Series> = series
        .iter()
        .map(|s| Series {
            name: s.name.clone(),
            points: s
                .points
                .iter()
                .map(|&(x, y)| (x, y_of(y)))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
            dashed: s.dashed,
            colour: s.colour,
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    if kept.is_empty() {
        return Err(format!("{}: nothing to plot", path.display()).into());
    }
    let all = || kept.iter().flat_map(|s| s.points.iter().copied());
    let (x_lo, x_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    let (y_lo, y_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| (lo.min(y), hi.max(y)));
    let x_range = x_lo..if x_hi > x_lo { x_hi } else { x_lo + 1.0 };
    let pad = ((y_hi - y_lo) * 0.05).max(1e-6);

    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x_range, (y_lo - pad)..(y_hi + pad))?;
    let y_label = |y: &f64| match scale {
        Scale::Linear => number(*y),
        Scale::Log if y.fract() == 0.0 => format!("1e{y:.0}"),
        Scale::Log => number(10f64.powf(*y)),
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| number(*x))
        .y_label_formatter(&y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for s in &kept {
        let colour = PALETTE[s.colour % PALETTE.len()];
        let style = colour.stroke_width(2);
        let drawn = match s.dashed {
            true => chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))?,
            false => chart.draw_series(LineSeries::new(s.points.iter().copied(), style))?,
        };
        // A dashed line's legend is two dashes.
        let gap = if s.dashed { 6 } else { 0 };
        drawn.label(s.name.as_str()).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (9 + 3 - gap / 2, 0)], style)
                + PathElement::new(vec![(12 + gap / 2, 0), (24, 0)], style)
        });
    }
    // Decaying curves (log scale) leave the lower left empty; loss curves the upper right.
    let legend = if scale == Scale::Log { SeriesLabelPosition::LowerLeft } else { SeriesLabelPosition::UpperRight };
    chart.configure_series_labels().position(legend).background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// A tick label: integers without a fraction, tiny or huge values as 1e-5.
fn number(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() < 1e-3 || x.abs() >= 1e5 {
        format!("{x:.0e}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
