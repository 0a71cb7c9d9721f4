//! Draws the explorer's screen from its state: the sliders with their softmax bars, log-softmax
//! and naive values, a line on the naive formula, the Jacobian as a shaded grid, and the keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::state::{LOGIT_LIMIT, Outputs, State, TEMPERATURE_RANGE};

const SLIDER: usize = 17;
const BAR: usize = 16;
const CELL: usize = 8;
/// The narrowest screen the table fits in.
pub const MIN_WIDTH: u16 = 78;

/// The shortest screen that shows `logits` sliders and their Jacobian.
pub fn min_height(logits: usize) -> u16 {
    (2 * logits + 8) as u16
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame<'_>, state: &State) {
    let area = frame.area();
    let k = state.logits.len();
    if area.width < MIN_WIDTH || area.height < min_height(k) {
        let message = format!(
            "The terminal is {}×{}; the explorer needs {MIN_WIDTH}×{} for {k} logits. Enlarge it, \
             or press - to remove a logit, q to quit.",
            area.width,
            area.height,
            min_height(k)
        );
        frame.render_widget(Paragraph::new(message).wrap(ratatui::widgets::Wrap { trim: true }), area);
        return;
    }
    let out = state.outputs();
    let [title, table, _, naive, _, jacobian, _, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(k as u16 + 2),
        Constraint::Max(1),
        Constraint::Length(2),
        Constraint::Max(1),
        Constraint::Length(k as u16 + 2),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let total: f64 = out.probabilities.iter().map(|&p| f64::from(p)).sum();
    let heading = format!(
        "softmax explore: softmax(x/τ) of {k} logit{} at τ = {}   Σp = {total:.6}",
        if k == 1 { "" } else { "s" },
        short(state.temperature)
    );
    frame.render_widget(Line::from(heading).bold(), title);
    frame.render_widget(Paragraph::new(table_lines(state, &out)), table);
    frame.render_widget(Paragraph::new(naive_lines(state, &out)), naive);
    frame.render_widget(Paragraph::new(jacobian_lines(&out)), jacobian);
    let keys = "↑↓ select  ←→ move (Shift: bigger steps)  + add  - remove  0 reset  q quit";
    frame.render_widget(Line::from(keys).fg(Color::DarkGray), help);
}

/// The slider range for logits: the smallest of ±10, ±100, ±1000 that holds them all.
fn logit_range(logits: &[f64]) -> f64 {
    let largest = logits.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    [10.0, 100.0, LOGIT_LIMIT].into_iter().find(|&r| largest <= r).unwrap_or(LOGIT_LIMIT)
}

fn table_lines(state: &State, out: &Outputs) -> Vec<Line<'static>> {
    let range = logit_range(&state.logits);
    let header = format!(
        "  {:<4}{:>8} {:^SLIDER$}  {:<BAR$}{:>8}{:>10}{:>9}",
        "",
        "value",
        format!("slider ±{range}"),
        "softmax p",
        "p",
        "log p",
        "naive p"
    );
    let mut lines = vec![Line::from(header).fg(Color::DarkGray)];
    for (i, &x) in state.logits.iter().enumerate() {
        let selected = state.selected == i;
        let (p, lp, naive) = (out.probabilities[i], out.log_probabilities[i], out.naive[i]);
        let naive_style = if naive.is_nan() { Style::new().fg(Color::Red).bold() } else { Style::new() };
        lines.push(Line::from(vec![
            marker(selected),
            Span::raw(format!("{:<4}{:>8} ", format!("x{}", i + 1), fixed(x, 8, 2))),
            Span::styled(slider((x + range) / (2.0 * range)), slider_style(selected)),
            Span::raw("  "),
            Span::styled(bar(f64::from(p)), Style::new().fg(Color::Cyan)),
            Span::raw(format!("{:>8}{:>10}", compact(f64::from(p), 7), compact(f64::from(lp), 9))),
            Span::styled(format!("{:>9}", compact(f64::from(naive), 8)), naive_style),
        ]));
    }
    let selected = state.temperature_selected();
    let (low, high) = TEMPERATURE_RANGE;
    let position = (state.temperature / low).ln() / (high / low).ln();
    lines.push(Line::from(vec![
        marker(selected),
        Span::raw(format!("{:<4}{:>8} ", "τ", fixed(state.temperature, 8, 3))),
        Span::styled(slider(position), slider_style(selected)),
        Span::raw(format!("  temperature, {low} to {high} (log scale)")).fg(Color::DarkGray),
    ]));
    lines
}

fn marker(selected: bool) -> Span<'static> {
    if selected { Span::styled("▶ ", Style::new().fg(Color::Yellow).bold()) } else { Span::raw("  ") }
}

fn slider_style(selected: bool) -> Style {
    if selected { Style::new().fg(Color::Yellow) } else { Style::new().fg(Color::Gray) }
}

/// A track with a knob at `position` in `[0, 1]` (clamped).
fn slider(position: f64) -> String {
    let inner = SLIDER - 2;
    let at = (position.clamp(0.0, 1.0) * (inner - 1) as f64).round() as usize;
    let track: String = (0..inner).map(|i| if i == at { '●' } else { '─' }).collect();
    format!("├{track}┤")
}

/// A horizontal bar `fraction` of [`BAR`] cells long, in eighths of a cell.
fn bar(fraction: f64) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if fraction.is_nan() {
        return format!("{:<BAR$}", "?");
    }
    let eighths = (fraction.clamp(0.0, 1.0) * (BAR * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(EIGHTHS[eighths % 8]);
    }
    format!("{s:<BAR$}")
}

fn naive_lines(state: &State, out: &Outputs) -> Vec<Line<'static>> {
    let tau = state.temperature;
    let top = state.logits.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x / tau));
    let second = format!("softmax subtracts max(x/τ) = {} first, so no exp(x/τ − max) exceeds 1", short(top));
    let first = if out.naive_sum.is_infinite() {
        Line::from(vec![
            Span::raw("naive exp(x/τ)/Σ in f32: "),
            Span::styled(
                format!("exp({}) = inf, Σ = inf: p = inf/inf = NaN, or 0", short(top)),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        ])
    } else if out.naive_sum == 0.0 {
        Line::from(vec![
            Span::raw("naive exp(x/τ)/Σ in f32: "),
            Span::styled(
                "every exp(x/τ) underflows to 0, so p = 0/0 = NaN",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        ])
    } else {
        Line::from(format!(
            "naive exp(x/τ)/Σ in f32: Σ = {}, fine until some x/τ passes 88.7",
            short(f64::from(out.naive_sum))
        ))
    };
    vec![first, Line::from(second).fg(Color::DarkGray)]
}

fn jacobian_lines(out: &Outputs) -> Vec<Line<'static>> {
    let k = out.jacobian.len();
    let scale = out.jacobian.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut lines = vec![
        Line::from("Jacobian ∂pᵢ/∂xⱼ = pᵢ(δᵢⱼ − pⱼ)/τ: green raises pᵢ, red lowers it; rows sum to 0")
            .fg(Color::DarkGray),
    ];
    let mut header = format!("{:<6}", "");
    (1..=k).for_each(|j| header.push_str(&format!("{:>CELL$}", format!("x{j}"))));
    lines.push(Line::from(header).fg(Color::DarkGray));
    for (i, row) in out.jacobian.iter().enumerate() {
        let mut spans = vec![Span::raw(format!("{:<6}", format!("p{}", i + 1)))];
        for &v in row {
            let level = if scale > 0.0 { v.abs() / scale } else { 0.0 };
            let color = if v > 0.0 {
                Color::Green
            } else if v < 0.0 {
                Color::Red
            } else {
                Color::DarkGray
            };
            spans.push(Span::styled(format!(" {}", shade(level)), Style::new().fg(color)));
            spans.push(Span::raw(fixed(f64::from(v), CELL - 2, 3)));
        }
        lines.push(Line::from(spans));
    }
    lines
}

/// A glyph as dark as `level` in `[0, 1]`; anything above zero shows at least the lightest.
fn shade(level: f32) -> char {
    match level {
        l if l.is_nan() || l <= 0.0 => '·',
        l if l < 0.25 => '░',
        l if l < 0.5 => '▒',
        l if l < 0.8 => '▓',
        _ => '█',
    }
}

/// `value` in at most `width` characters: as many decimals as fit (up to 4), else scientific.
pub fn compact(value: f64, width: usize) -> String {
    fixed(value, width, 4)
}

/// `value` with up to 4 decimals and no trailing zeros, for prose.
fn short(value: f64) -> String {
    let s = compact(value, 12);
    let s = s.trim_start();
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `value` in at most `width` characters with at most `most` decimals, else scientific.
fn fixed(value: f64, width: usize, most: usize) -> String {
    let value = if value == 0.0 { 0.0 } else { value }; // no "-0.000"
    if value.is_nan() {
        return format!("{:>width$}", "NaN");
    }
    if value.is_infinite() {
        return format!("{:>width$}", if value > 0.0 { "inf" } else { "-inf" });
    }
    let tiny = value != 0.0 && value.abs() < 5e-5;
    if !tiny {
        for decimals in (0..=most).rev() {
            let s = format!("{value:.decimals$}");
            if s.len() <= width {
                return format!("{s:>width$}");
            }
        }
    }
    for digits in (0..=2).rev() {
        let s = format!("{value:.digits$e}");
        if s.len() <= width {
            return format!("{s:>width$}");
        }
    }
    format!("{value:.0e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fit_their_columns() {
        assert_eq!(compact(0.659, 7), " 0.6590");
        assert_eq!(compact(-1234.5678, 9), "-1234.568");
        assert_eq!(compact(2.3e-9, 7), "2.30e-9");
        assert_eq!(compact(-100000.0, 6), "-1.0e5");
        assert_eq!(compact(f64::NAN, 5), "  NaN");
        assert_eq!(bar(1.0), "█".repeat(BAR));
        assert_eq!(bar(0.5 + 1.0 / 128.0).chars().filter(|&c| c == '█').count(), 8);
        assert_eq!(slider(0.0).chars().nth(1), Some('●'));
        assert_eq!(slider(2.0).chars().nth(SLIDER - 2), Some('●'));
    }
}
