//! SVG plots for the HTML report, drawn with plotters' SVG backend (no fonts or C libraries
//! needed: text is SVG `<text>` the browser renders). Each function returns one `<svg>`
//! element as a string, ready to inline.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::scaling::Point;

/// The report's palette.
const BLUE: RGBColor = RGBColor(0x25, 0x63, 0xeb);
const GREEN: RGBColor = RGBColor(0x16, 0xa3, 0x4a);
const GRAY: RGBColor = RGBColor(0x64, 0x74, 0x8b);

/// Why a plot could not be drawn (plotters' errors, as text).
#[derive(Debug, thiserror::Error)]
#[error("drawing {what}: {message}")]
pub struct PlotError {
    what: String,
    message: String,
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> PlotError + '_ {
    move |e| PlotError {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// A scaling curve: the resolve rate of the reranked choice (a band from the lower to the
/// upper bound when some choices are of unknown correctness) and the oracle.
pub fn scaling_chart(title: &str, x_desc: &str, points: &[Point], log_x: bool) -> Result<String, PlotError> {
    let e = err(title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let y_max = points.iter().map(|p| p.high.max(p.oracle)).fold(0.0f64, f64::max);
        let y_top = ((y_max / 10.0).ceil() * 10.0).clamp(10.0, 100.0);
        let x_max = points.iter().map(|p| p.x).max().unwrap_or(1).max(1) as f64;
        let x_min = points.iter().map(|p| p.x).min().unwrap_or(0) as f64;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(52);
        // A doubling axis: x is drawn at log2(x) and labelled 2^tick; a point at x = 0 (no
        // reproduction tests) is drawn one step left of 1 and labelled 0.
        let log = log_x && x_max > 1.0;
        let tx = |x: usize| {
            if !log {
                x as f64
            } else if x == 0 {
                -1.0
            } else {
                (x as f64).log2()
            }
        };
        let low: Vec<(f64, f64)> = points.iter().map(|p| (tx(p.x), p.low)).collect();
        let high: Vec<(f64, f64)> = points.iter().map(|p| (tx(p.x), p.high)).collect();
        let oracle: Vec<(f64, f64)> = points.iter().map(|p| (tx(p.x), p.oracle)).collect();
        let banded = points.iter().any(|p| p.high > p.low);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_desc)
                    .y_desc("% resolved")
                    .x_labels(if log {
                        (x_max.log2() - tx(x_min as usize)).ceil() as usize + 2
                    } else {
                        points.len().clamp(2, 12)
                    })
                    .y_labels(6)
                    .x_label_formatter(&|x| {
                        if !log {
                            format!("{x:.0}")
                        } else if (x - x.round()).abs() < 1e-6 && x.round() < 0.0 {
                            if x.round() == -1.0 && x_min < 1.0 {
                                "0".to_owned()
                            } else {
                                String::new()
                            }
                        } else if (x - x.round()).abs() < 1e-6 {
                            format!("{:.0}", 2f64.powf(x.round()))
                        } else {
                            String::new()
                        }
                    })
                    .y_label_formatter(&|y| format!("{y:.0}"))
                    .label_style(("sans-serif", 14))
                    .axis_desc_style(("sans-serif", 15))
                    .bold_line_style(RGBColor(0xe2, 0xe8, 0xf0))
                    .light_line_style(TRANSPARENT)
                    .draw()
                    .map_err(|x| e(&x))?;
                if banded {
                    let mut band = low.clone();
                    band.extend(high.iter().rev().copied());
                    chart
                        .draw_series(std::iter::once(Polygon::new(band, BLUE.mix(0.15))))
                        .map_err(|x| e(&x))?
                        .label("unknown correctness (upper bound)")
                        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], BLUE.mix(0.15).filled()));
                }
                chart
                    .draw_series(LineSeries::new(oracle.clone(), GREEN.stroke_width(2)))
                    .map_err(|x| e(&x))?
                    .label("oracle: some sample correct")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
                chart
                    .draw_series(oracle.iter().map(|&c| Circle::new(c, 3, GREEN.filled())))
                    .map_err(|x| e(&x))?;
                chart
                    .draw_series(LineSeries::new(low.clone(), BLUE.stroke_width(3)))
                    .map_err(|x| e(&x))?
                    .label("reranked choice resolved")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(3)));
                chart
                    .draw_series(low.iter().map(|&c| Circle::new(c, 4, BLUE.filled())))
                    .map_err(|x| e(&x))?;
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.9))
                    .border_style(GRAY)
                    .label_font(("sans-serif", 13))
                    .draw()
                    .map_err(|x| e(&x))?;
            }};
        }
        let (lo, hi) = if log {
            (tx(x_min as usize), x_max.log2())
        } else {
            (x_min, x_max)
        };
        let span = (hi - lo).max(1.0);
        draw!(
            builder
                .build_cartesian_2d(lo - 0.03 * span..hi + 0.03 * span, 0f64..y_top)
                .map_err(|x| e(&x))?
        );
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// One bar of a horizontal bar chart.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Text after the bar (e.g. `12/40`).
    pub note: String,
}

/// Horizontal bars, top to bottom in the order given.
pub fn bar_chart(title: &str, x_desc: &str, bars: &[Bar], x_max: Option<f64>) -> Result<String, PlotError> {
    let e = err(title);
    let mut svg = String::new();
    let n = bars.len().max(1);
    let height = (70 + 26 * n).clamp(140, 1400) as u32;
    let label_width = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40) as u32
        * 7
        + 16;
    {
        let root = SVGBackend::with_string(&mut svg, (640, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let top = x_max
            .unwrap_or_else(|| bars.iter().map(|b| b.value).fold(0.0, f64::max))
            .max(1e-9);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0f64..top * 1.18, (0..n as i32).into_segmented())
            .map_err(|x| e(&x))?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            // Category rows: no tick marks (the row boundaries would draw stray, unlabelled ones).
            .set_tick_mark_size(LabelAreaPosition::Left, 0)
            .x_desc(x_desc)
            .x_labels(6)
            .x_label_formatter(&|x| {
                if top >= 10.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.1}")
                }
            })
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .bold_line_style(RGBColor(0xe2, 0xe8, 0xf0))
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => usize::try_from(n as i32 - 1 - *i)
                    .ok()
                    .and_then(|k| labels.get(k).cloned())
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|x| e(&x))?;
        // The first bar at the top.
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let row = (n - 1 - i) as i32;
                let mut r = Rectangle::new(
                    [(0.0, SegmentValue::Exact(row)), (b.value, SegmentValue::Exact(row + 1))],
                    BLUE.mix(0.85).filled(),
                );
                r.set_margin(4, 4, 0, 0);
                r
            }))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let row = (n - 1 - i) as i32;
                Text::new(
                    format!(" {}", b.note),
                    (b.value, SegmentValue::CenterOf(row)),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Left,
                            plotters::style::text_anchor::VPos::Center,
                        )),
                )
            }))
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_marks() {
        let pts = vec![
            Point {
                x: 1,
                low: 10.0,
                high: 12.0,
                oracle: 10.0,
            },
            Point {
                x: 4,
                low: 20.0,
                high: 20.0,
                oracle: 30.0,
            },
            Point {
                x: 16,
                low: 25.0,
                high: 25.0,
                oracle: 40.0,
            },
        ];
        let svg = scaling_chart("Resolve rate vs samples", "repair samples", &pts, true).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("reranked choice resolved") && svg.contains("oracle: some sample correct"));
        assert!(
            svg.contains("<polyline") && svg.contains("<circle"),
            "lines and points drawn"
        );
        let bars = vec![
            Bar {
                label: "django/django".into(),
                value: 50.0,
                note: "5/10".into(),
            },
            Bar {
                label: "a<b>&c".into(),
                value: 0.0,
                note: "0/1".into(),
            },
        ];
        let svg = bar_chart("By repository", "% resolved", &bars, Some(100.0)).unwrap();
        assert!(svg.contains("django/django") && svg.contains("a&lt;b&gt;&amp;c") && svg.contains("5/10"));
        assert!(svg.contains("<rect"));
    }
}
