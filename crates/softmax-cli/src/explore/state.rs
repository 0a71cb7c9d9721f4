//! The explorer's state and what each key does to it; no terminal here, so tests drive it directly.

use ndarray::Array1;
use softmax::Options;

/// The fewest and most logits the explorer shows (the most fit an 80×24 screen).
pub const MIN_LOGITS: usize = 1;
/// See [`MIN_LOGITS`].
pub const MAX_LOGITS: usize = 8;
/// Logits stay within ±this (far past where the naive formula overflows in `f32`).
pub const LOGIT_LIMIT: f64 = 1000.0;
/// The temperature stays within these bounds (its slider is logarithmic).
pub const TEMPERATURE_RANGE: (f64, f64) = (0.01, 100.0);

const LOGIT_STEP: f64 = 0.5;
const LOGIT_BIG_STEP: f64 = 10.0;
const TEMPERATURE_FACTOR: f64 = 1.25;
const TEMPERATURE_BIG_FACTOR: f64 = 2.0;

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Select the slider above.
    Up,
    /// Select the slider below.
    Down,
    /// Move the selected slider down (`big`: a bigger step).
    Decrease { big: bool },
    /// Move the selected slider up (`big`: a bigger step).
    Increase { big: bool },
    /// Add a logit (0) after the last one.
    Add,
    /// Remove the selected logit (the last one when the temperature is selected).
    Remove,
    /// Back to the starting logits and temperature.
    Reset,
    /// Leave.
    Quit,
}

/// The sliders: one per logit, then the temperature.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    start: (Vec<f64>, f64),
    /// The logits.
    pub logits: Vec<f64>,
    /// The temperature τ.
    pub temperature: f64,
    /// The selected slider: `0..logits.len()` a logit, `logits.len()` the temperature.
    pub selected: usize,
    /// Whether a quit key was pressed.
    pub quit: bool,
}

/// Everything the screen shows that is computed from the sliders, in `f32` (where the naive
/// formula overflows at logits of about 88.7, so the point of subtracting the maximum shows).
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// `softmax(x/τ)` from the library.
    pub probabilities: Vec<f32>,
    /// `log_softmax(x/τ)` from the library.
    pub log_probabilities: Vec<f32>,
    /// `exp(x/τ) / Σ exp(x/τ)` computed as written, in `f32`.
    pub naive: Vec<f32>,
    /// The naive formula's `Σ exp(x/τ)` (infinite once a term overflows, 0 once all underflow).
    pub naive_sum: f32,
    /// The Jacobian `∂pᵢ/∂xⱼ = pᵢ(δᵢⱼ − pⱼ)/τ`, row by row, from the library.
    pub jacobian: Vec<Vec<f32>>,
}

impl State {
    /// Sliders at `logits` (1 to [`MAX_LOGITS`] values within ±[`LOGIT_LIMIT`]) and `temperature`
    /// (within [`TEMPERATURE_RANGE`]).
    pub fn new(logits: Vec<f64>, temperature: f64) -> Result<Self, String> {
        if !(MIN_LOGITS..=MAX_LOGITS).contains(&logits.len()) {
            return Err(format!("explore takes {MIN_LOGITS} to {MAX_LOGITS} logits, got {}", logits.len()));
        }
        if let Some((i, v)) = logits.iter().enumerate().find(|(_, v)| v.is_nan() || v.abs() > LOGIT_LIMIT) {
            return Err(format!("logit {} is {v}; explore takes values within ±{LOGIT_LIMIT}", i + 1));
        }
        let (low, high) = TEMPERATURE_RANGE;
        if !(low..=high).contains(&temperature) {
            return Err(format!("--temperature {temperature} is outside [{low}, {high}]"));
        }
        Ok(State { start: (logits.clone(), temperature), logits, temperature, selected: 0, quit: false })
    }

    /// Whether the temperature slider is the selected one.
    pub fn temperature_selected(&self) -> bool {
        self.selected == self.logits.len()
    }

    /// Carries out `action`.
    pub fn apply(&mut self, action: Action) {
        let sliders = self.logits.len() + 1;
        match action {
            Action::Up => self.selected = (self.selected + sliders - 1) % sliders,
            Action::Down => self.selected = (self.selected + 1) % sliders,
            Action::Decrease { big } => self.nudge(-1.0, big),
            Action::Increase { big } => self.nudge(1.0, big),
            Action::Add if self.logits.len() < MAX_LOGITS => {
                self.logits.push(0.0);
                self.selected = self.logits.len() - 1;
            }
            Action::Remove if self.logits.len() > MIN_LOGITS => {
                let at = self.selected.min(self.logits.len() - 1);
                self.logits.remove(at);
                self.selected = self.selected.min(self.logits.len());
            }
            Action::Add | Action::Remove => {}
            Action::Reset => {
                (self.logits, self.temperature) = self.start.clone();
                self.selected = 0;
            }
            Action::Quit => self.quit = true,
        }
    }

    fn nudge(&mut self, direction: f64, big: bool) {
        if self.temperature_selected() {
            let factor = if big { TEMPERATURE_BIG_FACTOR } else { TEMPERATURE_FACTOR };
            let (low, high) = TEMPERATURE_RANGE;
            self.temperature = (self.temperature * factor.powf(direction)).clamp(low, high);
        } else {
            let step = if big { LOGIT_BIG_STEP } else { LOGIT_STEP };
            let x = &mut self.logits[self.selected];
            // Steps land on multiples of the step, so values typed in snap to the grid.
            *x = ((*x / step).round() + direction) * step;
            *x = x.clamp(-LOGIT_LIMIT, LOGIT_LIMIT);
        }
    }

    /// The outputs at the current sliders.
    pub fn outputs(&self) -> Outputs {
        let x: Array1<f32> = self.logits.iter().map(|&v| v as f32).collect();
        let opts = Options::new().temperature(self.temperature);
        // The sliders keep the temperature valid and the row 1-D, so these calls cannot fail;
        // NaN fills stand in should that ever change, rather than a panic in the terminal.
        let nan = || vec![f32::NAN; x.len()];
        let probabilities = softmax::softmax(&x, &opts).map_or_else(|_| nan(), |p| p.to_vec());
        let log_probabilities = softmax::log_softmax(&x, &opts).map_or_else(|_| nan(), |p| p.to_vec());
        let jacobian = softmax::softmax_jacobian(&x, &opts).map_or_else(
            |_| vec![nan(); x.len()],
            |j| j.outer_iter().map(|row| row.iter().copied().collect()).collect(),
        );
        let tau = self.temperature as f32;
        let exps: Vec<f32> = x.iter().map(|&v| (v / tau).exp()).collect();
        let naive_sum: f32 = exps.iter().sum();
        let naive = exps.iter().map(|&e| e / naive_sum).collect();
        Outputs { probabilities, log_probabilities, naive, naive_sum, jacobian }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_move_select_add_remove_and_reset() {
        let mut s = State::new(vec![2.0, 1.0, 0.1], 1.0).unwrap();
        s.apply(Action::Increase { big: false });
        assert_eq!(s.logits[0], 2.5);
        s.apply(Action::Up);
        assert!(s.temperature_selected());
        s.apply(Action::Decrease { big: true });
        assert_eq!(s.temperature, 0.5);
        s.apply(Action::Down);
        s.apply(Action::Down);
        s.apply(Action::Increase { big: false }); // 1.0 → 1.5
        s.apply(Action::Remove);
        assert_eq!(s.logits, [2.5, 0.1]);
        s.apply(Action::Add);
        assert_eq!((s.logits.clone(), s.selected), (vec![2.5, 0.1, 0.0], 2));
        s.apply(Action::Reset);
        assert_eq!((s.logits.clone(), s.temperature, s.selected), (vec![2.0, 1.0, 0.1], 1.0, 0));
        s.apply(Action::Quit);
        assert!(s.quit);
    }

    #[test]
    fn limits_hold() {
        let mut s = State::new(vec![995.0], 0.02).unwrap();
        s.apply(Action::Remove);
        assert_eq!(s.logits.len(), 1);
        s.apply(Action::Increase { big: true });
        assert_eq!(s.logits[0], 1000.0);
        s.apply(Action::Down);
        s.apply(Action::Decrease { big: true });
        assert_eq!(s.temperature, 0.01);
        (0..10).for_each(|_| s.apply(Action::Add));
        assert_eq!(s.logits.len(), MAX_LOGITS);
        assert!(State::new(vec![], 1.0).is_err());
        assert!(State::new(vec![f64::NAN], 1.0).is_err());
        assert!(State::new(vec![1.0], 0.0).is_err());
    }

    #[test]
    fn the_naive_formula_overflows_where_the_library_does_not() {
        let s = State::new(vec![100.0, 99.0], 1.0).unwrap();
        let o = s.outputs();
        assert!(o.naive_sum.is_infinite() && o.naive.iter().all(|p| p.is_nan()));
        assert!((o.probabilities[0] - 0.731_058_6).abs() < 1e-6);
        assert!((o.jacobian[0][1] + o.probabilities[0] * o.probabilities[1]).abs() < 1e-6);
        let calm = State::new(vec![1.0, 0.0], 1.0).unwrap().outputs();
        assert!((calm.naive[0] - calm.probabilities[0]).abs() < 1e-6);
    }
}
