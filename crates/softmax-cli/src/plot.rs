//! Rows drawn as labelled horizontal bars, the picture of softmax from the teaching material: each
//! input value, a bar as long as its probability (full width = 1), and the probability.
//!
//! ```text
//!   1.0 │████▎                                     0.09003
//!   2.0 │███████████▊                              0.2447
//!   3.0 │███████████████████████████████▉          0.6652
//! ```

use std::io::{self, IsTerminal, Write};

use clap::Args;

/// `--plot` / `--no-plot`, for the subcommands that draw bars.
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct PlotArgs {
    /// Draw each row as labelled horizontal bars on standard output (the default when standard
    /// output is a terminal and the result goes there).
    #[arg(long, overrides_with = "no_plot")]
    plot: bool,
    /// Never draw bars.
    #[arg(long, overrides_with = "plot")]
    no_plot: bool,
}

impl PlotArgs {
    /// Whether to draw: as the flags say, else when the result is printed on a terminal.
    pub(crate) fn enabled(&self, result_on_terminal: bool) -> bool {
        if self.plot {
            true
        } else if self.no_plot {
            false
        } else {
            result_on_terminal
        }
    }
}

/// Eighths of a character cell, for bars with sub-character resolution.
const EIGHTHS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];

/// Draws rows of bars at a width that fits the terminal.
pub(crate) struct Bars {
    columns: usize,
}

impl Bars {
    /// Bars sized for standard output's terminal (80 columns when it is not one).
    pub(crate) fn for_stdout() -> Bars {
        let columns = if io::stdout().is_terminal() {
            ratatui::crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w))
        } else {
            80
        };
        Bars { columns }
    }

    /// Draws one row: a line per entry with its `label`, a bar of `fraction` (in `[0, 1]`) of the
    /// full width, and `value`; then a blank line.
    ///
    /// # Errors
    /// A write error.
    pub(crate) fn draw(
        &self,
        out: &mut dyn Write,
        labels: &[String],
        fractions: &[f64],
        values: &[f64],
    ) -> io::Result<()> {
        let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).min(24);
        let shown: Vec<String> = values.iter().map(|&v| compact(v)).collect();
        let value_width = shown.iter().map(String::len).max().unwrap_or(0);
        let bar_width = self.columns.saturating_sub(label_width + value_width + 4).clamp(10, 60);
        for ((label, &fraction), value) in labels.iter().zip(fractions).zip(&shown) {
            let label: String = label.chars().take(label_width).collect();
            let bar = bar(fraction, bar_width);
            let pad = bar_width - bar.chars().count();
            writeln!(out, "{label:>label_width$} │{bar}{:pad$} {value}", "")?;
        }
        writeln!(out)
    }
}

/// A bar of `fraction` of `width` cells, to the nearest eighth of a cell (empty for NaN or ≤ 0).
fn bar(fraction: f64, width: usize) -> String {
    if fraction.is_nan() || fraction <= 0.0 {
        return String::new();
    }
    let eighths = (fraction.min(1.0) * (width * 8) as f64).round() as usize;
    let mut text = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        text.push(EIGHTHS[eighths % 8 - 1]);
    }
    text
}

/// A value to four significant digits, for reading at a glance beside its bar.
fn compact(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v:?}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let magnitude = v.abs();
    if (1e-4..1e4).contains(&magnitude) {
        let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
        let text = format!("{v:.decimals$}");
        let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
        text.to_string()
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_values() {
        assert_eq!(bar(0.5, 4), "██");
        assert_eq!(bar(1.0 / 16.0, 4), "▎");
        assert_eq!(bar(f64::NAN, 4), "");
        assert_eq!(bar(2.0, 2), "██");
        assert_eq!(compact(0.09003057317038046), "0.09003");
        assert_eq!(compact(0.6652409557748219), "0.6652");
        assert_eq!(compact(1.0), "1");
        assert_eq!(compact(-0.25), "-0.25");
        assert_eq!(compact(1.5e-20), "1.500e-20");
        assert_eq!(compact(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn rows_are_labelled() {
        let mut out = Vec::new();
        let bars = Bars { columns: 40 };
        bars.draw(&mut out, &["1.0".into(), "-inf".into()], &[0.75, 0.0], &[0.75, 0.0]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(" 1.0 │███"), "{text}");
        assert!(lines[0].ends_with(" 0.75"));
        assert!(lines[1].starts_with("-inf │ "));
        assert!(lines[1].ends_with(" 0"));
    }
}
