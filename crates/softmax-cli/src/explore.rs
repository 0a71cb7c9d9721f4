//! `softmax explore`: a terminal UI with one slider per logit and one for the temperature, and
//! live softmax, log-softmax, naive-formula and Jacobian values.
//!
//! State and keys live in `state`, drawing in `render`; this file owns the terminal (raw mode,
//! alternate screen, restored on exit and, through ratatui's panic hook, on panic) and the
//! `--snapshot` mode, which draws one frame on ratatui's test backend after scripted keys and
//! prints it, for scripts, documentation and tests.

use std::io::{IsTerminal, Write};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::error::CliError;

mod render;
mod state;

use state::{Action, State};

/// Arguments of `softmax explore`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Starting logits, separated by spaces or commas (default: 2 1 0.1)
    #[arg(allow_negative_numbers = true, value_name = "VALUES")]
    values: Vec<String>,
    /// Starting temperature τ
    #[arg(long, short, default_value_t = 1.0, value_name = "TAU")]
    temperature: f64,
    /// Print one frame of this size (e.g. 80x24) instead of running interactively
    #[arg(long, value_name = "COLSxROWS")]
    snapshot: Option<String>,
    /// Keys to press before the snapshot, separated by spaces: up, down, left, right,
    /// shift-left, shift-right, +, -, 0
    #[arg(long, requires = "snapshot", value_name = "KEYS", allow_hyphen_values = true)]
    keys: Option<String>,
}

/// Runs `softmax explore`.
pub fn run(args: Args) -> Result<(), CliError> {
    let logits = parse_values(&args.values)?;
    let mut state = State::new(logits, args.temperature).map_err(CliError::usage)?;
    match &args.snapshot {
        Some(size) => {
            let (width, height) = parse_size(size)?;
            for action in parse_keys(args.keys.as_deref().unwrap_or(""))? {
                state.apply(action);
                if state.quit {
                    break;
                }
            }
            let frame = snapshot(&state, width, height)?;
            std::io::stdout()
                .write_all(frame.as_bytes())
                .map_err(|e| CliError::from_io("standard output", &e))
        }
        None => interactive(state),
    }
}

fn parse_values(values: &[String]) -> Result<Vec<f64>, CliError> {
    let tokens: Vec<&str> = values
        .iter()
        .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return Ok(vec![2.0, 1.0, 0.1]);
    }
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.parse().map_err(|_| CliError::usage(format!("logit {}: {t:?} is not a number", i + 1)))
        })
        .collect()
}

fn parse_size(size: &str) -> Result<(u16, u16), CliError> {
    let bad = || CliError::usage(format!("--snapshot {size:?}: expected COLUMNSxROWS, such as 80x24"));
    let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u16, u16) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if w == 0 || h == 0 || w > 1000 || h > 1000 {
        return Err(bad());
    }
    Ok((w, h))
}

/// The `--keys` script: names separated by spaces (or commas).
fn parse_keys(script: &str) -> Result<Vec<Action>, CliError> {
    script
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|token| {
            Ok(match token.to_ascii_lowercase().as_str() {
                "up" => Action::Up,
                "down" => Action::Down,
                "left" => Action::Decrease { big: false },
                "right" => Action::Increase { big: false },
                "shift-left" | "s-left" => Action::Decrease { big: true },
                "shift-right" | "s-right" => Action::Increase { big: true },
                "+" => Action::Add,
                "-" => Action::Remove,
                "0" => Action::Reset,
                "q" | "esc" => Action::Quit,
                _ => {
                    return Err(CliError::usage(format!(
                        "--keys: unknown key {token:?} (keys: up down left right shift-left shift-right + - 0 q)"
                    )));
                }
            })
        })
        .collect()
}

/// What a key press asks for, if anything.
fn action_for(key: KeyEvent) -> Option<Action> {
    let big = key.modifiers.contains(KeyModifiers::SHIFT);
    Some(match key.code {
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        KeyCode::Left => Action::Decrease { big },
        KeyCode::Right => Action::Increase { big },
        KeyCode::Char('+') | KeyCode::Char('=') => Action::Add,
        KeyCode::Char('-') | KeyCode::Char('_') => Action::Remove,
        KeyCode::Char('0') => Action::Reset,
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        _ => return None,
    })
}

/// One frame drawn on a `width × height` test backend, as text (trailing spaces trimmed).
fn snapshot(state: &State, width: u16, height: u16) -> Result<String, CliError> {
    let mut terminal = Terminal::new(TestBackend::new(width, height))
        .map_err(|e| CliError::data(format!("cannot draw: {e}")))?;
    terminal
        .draw(|frame| render::render(frame, state))
        .map_err(|e| CliError::data(format!("cannot draw: {e}")))?;
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..height {
        // Every glyph the explorer draws is one cell wide, so cells and characters correspond.
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    Ok(text)
}

/// The interactive loop, on the real terminal.
fn interactive(mut state: State) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "softmax explore needs a terminal; use --snapshot 80x24 (with --keys) to print a frame instead",
        ));
    }
    let mut terminal = ratatui::try_init().map_err(|e| {
        ratatui::restore();
        CliError::usage(format!("cannot set up the terminal: {e}"))
    })?;
    let result = (|| -> std::io::Result<()> {
        while !state.quit {
            terminal.draw(|frame| render::render(frame, &state))?;
            // A resize needs no handling of its own: the next draw takes the new size.
            if let Event::Key(key) = event::read()?
                && key.kind == KeyEventKind::Press
                && let Some(action) = action_for(key)
            {
                state.apply(action);
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result.map_err(|e| CliError::data(format!("terminal error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_presses_map_to_actions() {
        let key = |code, modifiers| action_for(KeyEvent::new(code, modifiers));
        assert_eq!(key(KeyCode::Right, KeyModifiers::SHIFT), Some(Action::Increase { big: true }));
        assert_eq!(key(KeyCode::Left, KeyModifiers::NONE), Some(Action::Decrease { big: false }));
        assert_eq!(key(KeyCode::Esc, KeyModifiers::NONE), Some(Action::Quit));
        assert_eq!(key(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Action::Quit));
        assert_eq!(key(KeyCode::Char('x'), KeyModifiers::NONE), None);
        assert_eq!(
            parse_keys("up, shift-right q").unwrap(),
            [Action::Up, Action::Increase { big: true }, Action::Quit]
        );
        assert!(parse_keys("jump").unwrap_err().to_string().contains("unknown key \"jump\""));
        assert_eq!(parse_size("80x24").unwrap(), (80, 24));
        assert!(parse_size("80").is_err());
        assert_eq!(parse_values(&["1,2".into(), "-3".into()]).unwrap(), [1.0, 2.0, -3.0]);
    }
}
