//! The workload chart (SVG, plotters): hit rate and false-hit rate against the similarity
//! threshold, and tokens saved against the share of repeated questions.

use std::path::Path;

use plotters::prelude::*;

/// One threshold of the sweep, rates in %.
#[derive(Debug, Clone, Copy)]
pub struct ThresholdPoint {
    pub threshold: f64,
    /// Hits / requests.
    pub hit_rate: f64,
    /// Hits among first asks of a duplicate pair's other text / those asks.
    pub paraphrase_hit_rate: f64,
    /// Wrong answers served / hits.
    pub false_hit_rate: f64,
}

/// Which rate of a [`ThresholdPoint`] a line draws.
type Rate = fn(&ThresholdPoint) -> f64;

/// `by_share`: (repeat share, upstream tokens saved %).
pub fn write_svg(
    path: &Path,
    by_threshold: &[ThresholdPoint],
    by_share: &[(f64, f64)],
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (left, right) = root.split_horizontally(500);

    let (t0, t1) = by_threshold.iter().fold((1.0f64, 0.0f64), |(lo, hi), p| {
        (lo.min(p.threshold), hi.max(p.threshold))
    });
    let mut c = ChartBuilder::on(&left)
        .caption("Hit rate / false-hit rate vs threshold", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d((t0 - 0.01)..(t1 + 0.01), 0.0..100.0)
        .map_err(|x| e(&x))?;
    c.configure_mesh()
        .x_desc("similarity threshold")
        .y_desc("%")
        .draw()
        .map_err(|x| e(&x))?;
    let series: [(&str, RGBColor, Rate); 3] = [
        ("hit rate (hits / requests)", BLUE, |p| p.hit_rate),
        ("paraphrases hit", GREEN, |p| p.paraphrase_hit_rate),
        ("false-hit rate (wrong / hits)", RED, |p| p.false_hit_rate),
    ];
    for (label, color, value) in series {
        let points: Vec<(f64, f64)> = by_threshold
            .iter()
            .map(|p| (p.threshold, value(p)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        c.draw_series(LineSeries::new(points.iter().copied(), &color))
            .map_err(|x| e(&x))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        c.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|x| e(&x))?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;

    let mut c = ChartBuilder::on(&right)
        .caption("Tokens saved vs repeat share", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..1.0, 0.0..100.0)
        .map_err(|x| e(&x))?;
    c.configure_mesh()
        .x_desc("share of repeated questions")
        .y_desc("% upstream tokens saved")
        .draw()
        .map_err(|x| e(&x))?;
    c.draw_series(LineSeries::new(by_share.iter().copied(), &GREEN))
        .map_err(|x| e(&x))?;
    c.draw_series(
        by_share
            .iter()
            .map(|(x, y)| Circle::new((*x, *y), 3, GREEN.filled())),
    )
    .map_err(|x| e(&x))?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_both_panels_and_skips_undefined_points() {
        let path = std::env::temp_dir().join(format!("chart-test-{}.svg", std::process::id()));
        let point = |threshold, paraphrase_hit_rate| ThresholdPoint {
            threshold,
            hit_rate: 40.0,
            paraphrase_hit_rate,
            false_hit_rate: 5.0,
        };
        let by_threshold = [point(0.85, 60.0), point(0.95, f64::NAN)];
        write_svg(&path, &by_threshold, &[(0.0, 0.0), (0.5, 45.0)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        for text in [
            "vs threshold",
            "vs repeat share",
            "paraphrases hit",
            "false-hit rate",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert!(!svg.contains("NaN"));
    }
}
