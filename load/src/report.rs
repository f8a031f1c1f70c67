//! Turning samples into numbers: a table on the terminal, JSON, and an SVG
//! plot of the latency distribution.

use std::{path::Path, time::Duration};

use serde::Serialize;

use super::{client::Outcome, LoadArgs, Sample};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub label: String,
    pub scenario: String,
    pub targets: usize,
    pub tickets: usize,
    pub buyers: usize,
    pub decisions: usize,
    pub decisions_per_sec: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub wins: usize,
    pub losses: usize,
    pub errors: usize,
    pub double_holds: usize,
    pub reads: usize,
    pub elapsed_secs: f64,
    /// Latencies (ms) at 1%, 2%, … 100%: what the plot draws.
    pub percentiles_ms: Vec<f64>,
}

pub(super) fn progress(len: usize, what: &str, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(len as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>28} [{bar:40}] {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Report {
    pub fn new(
        args: &LoadArgs,
        samples: Vec<Sample>,
        reads: usize,
        elapsed: Duration,
        double_holds: usize,
    ) -> Self {
        let mut lat: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
        lat.sort_unstable();
        let at = |q: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let idx = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
            ms(lat[idx])
        };
        let count = |o: Outcome| samples.iter().filter(|s| s.outcome == o).count();
        let decisions = samples.len();
        Self {
            label: args.label.clone(),
            scenario: format!("{:?}", args.scenario).to_lowercase(),
            targets: args.target.len(),
            tickets: args.tickets,
            buyers: args.buyers,
            decisions,
            decisions_per_sec: decisions as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            wins: count(Outcome::Win),
            losses: count(Outcome::Loss),
            errors: count(Outcome::Error),
            double_holds,
            reads,
            elapsed_secs: elapsed.as_secs_f64(),
            percentiles_ms: (1..=100).map(|p| at(f64::from(p) / 100.0)).collect(),
        }
    }

    pub fn print(&self) {
        println!();
        println!(
            "{} — {} scenario, {} target(s), {} ticket(s), {} buyer(s)",
            self.label, self.scenario, self.targets, self.tickets, self.buyers
        );
        // A browse run decides nothing: its samples are pages.
        let what = if self.scenario == "browse" {
            "pages"
        } else {
            "decisions"
        };
        println!("  {:<18} {:>12}", what, self.decisions);
        println!(
            "  {:<18} {:>12.0}",
            format!("{what}/s"),
            self.decisions_per_sec
        );
        println!("  {:<18} {:>12.2}", "p50 ms", self.p50_ms);
        println!("  {:<18} {:>12.2}", "p90 ms", self.p90_ms);
        println!("  {:<18} {:>12.2}", "p99 ms", self.p99_ms);
        println!("  {:<18} {:>12.2}", "max ms", self.max_ms);
        println!("  {:<18} {:>12}", "wins", self.wins);
        println!("  {:<18} {:>12}", "losses", self.losses);
        println!("  {:<18} {:>12}", "errors", self.errors);
        if self.reads > 0 {
            println!("  {:<18} {:>12}", "reads", self.reads);
        }
        println!("  {:<18} {:>12}", "double holds", self.double_holds);
    }

    /// Writes `path` (JSON) and the plot beside it (same name, `.svg`).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, serde_json::to_vec_pretty(self)?)?;
        let svg = path.with_extension("svg");
        std::fs::write(&svg, self.svg())?;
        println!("  wrote {} and {}", path.display(), svg.display());
        Ok(())
    }

    /// Latency by percentile, as a line chart.
    pub fn svg(&self) -> String {
        let (w, h, left, bottom, top, right) = (640.0, 360.0, 60.0, 40.0, 40.0, 20.0);
        let max = self
            .percentiles_ms
            .iter()
            .copied()
            .fold(0.0_f64, f64::max)
            .max(0.001);
        let x = |p: f64| left + (w - left - right) * p / 100.0;
        let y = |v: f64| h - bottom - (h - bottom - top) * v / max;
        let points: Vec<String> = self
            .percentiles_ms
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x((i + 1) as f64), y(*v)))
            .collect();
        let title = format!(
            "{} · {} · {:.0} decisions/s · p50 {:.2} ms · p99 {:.2} ms",
            self.label, self.scenario, self.decisions_per_sec, self.p50_ms, self.p99_ms
        );
        let mut grid = String::new();
        for k in 0..=4 {
            let v = max * f64::from(k) / 4.0;
            grid.push_str(&format!(
                r##"<line x1="{l}" y1="{yy:.1}" x2="{r}" y2="{yy:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end">{v:.1}</text>"##,
                l = left,
                r = w - right,
                yy = y(v),
                tx = left - 6.0,
                ty = y(v) + 4.0
            ));
        }
        for p in [0, 25, 50, 75, 90, 99] {
            grid.push_str(&format!(
                r#"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle">p{p}</text>"#,
                x(f64::from(p)),
                h - bottom + 16.0
            ));
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="{cx}" y="22" font-size="14" text-anchor="middle">{title}</text>
{grid}
<text x="14" y="{my}" font-size="11" transform="rotate(-90 14 {my})" text-anchor="middle">latency (ms)</text>
<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{pts}"/>
</svg>
"##,
            cx = w / 2.0,
            my = h / 2.0,
            pts = points.join(" "),
        )
    }
}
