//! The four element types on the command line: reading decimals into them with one correct rounding,
//! and printing each value as the shortest decimal that reads back to the same value.

use std::cmp::Ordering;
use std::fmt;

use half::{bf16, f16};
use softmax::Element;

/// An element type the user can ask for with `--dtype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Dtype {
    /// IEEE half precision (11 significant bits).
    F16,
    /// bfloat16 (8 significant bits, the range of f32).
    Bf16,
    /// IEEE single precision.
    F32,
    /// IEEE double precision (the default for text).
    F64,
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F16 => "f16",
            Dtype::Bf16 => "bf16",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        })
    }
}

/// Runs `$body` with the type alias `$t` set to the Rust type of the [`Dtype`] `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::io::Dtype::F16 => {
                type $t = half::f16;
                $body
            }
            $crate::io::Dtype::Bf16 => {
                type $t = half::bf16;
                $body
            }
            $crate::io::Dtype::F32 => {
                type $t = f32;
                $body
            }
            $crate::io::Dtype::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;

/// A library element type with what the command line needs on top: decimal input and output and
/// its `.npy` encoding.
pub(crate) trait CliFloat: Element + fmt::Debug {
    /// The `.npy` `descr` this type is written as. `bf16` has no NumPy dtype: it is written as
    /// `<f4`, which holds every bf16 value exactly.
    const NPY_DESCR: &'static str;

    /// The decimal `text` correctly rounded to this type (to nearest, ties to even, as IEEE 754
    /// reads decimals); `None` if it is not a number. Accepts what Rust's `f64` parser accepts:
    /// `1`, `-2.5e-3`, `.5`, `inf`, `-infinity`, `NaN`.
    fn parse_decimal(text: &str) -> Option<Self>;

    /// The shortest decimal that [`CliFloat::parse_decimal`] reads back to the same value
    /// (`NaN`, `inf` and `-inf` for the special values).
    fn shortest(self) -> String;

    /// Appends the little-endian `.npy` bytes of this value (in [`CliFloat::NPY_DESCR`]).
    fn push_npy_bytes(self, out: &mut Vec<u8>);
}

/// Implements [`CliFloat`] for a type, with its parser, printer and `.npy` encoding.
macro_rules! cli_float {
    ($t:ty, $descr:literal, parse: $parse:expr, shortest: $shortest:expr, npy: $npy:expr) => {
        impl CliFloat for $t {
            const NPY_DESCR: &'static str = $descr;
            fn parse_decimal(text: &str) -> Option<Self> {
                $parse(text)
            }
            fn shortest(self) -> String {
                $shortest(self)
            }
            fn push_npy_bytes(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&$npy(self));
            }
        }
    };
}

// Rust parses straight to f32 and f64 with one correct rounding, and its `{:?}` prints the shortest
// representation that round-trips.
cli_float!(f64, "<f8", parse: |t: &str| t.parse().ok(), shortest: |v| format!("{v:?}"), npy: f64::to_le_bytes);
cli_float!(f32, "<f4", parse: |t: &str| t.parse().ok(), shortest: |v| format!("{v:?}"), npy: f32::to_le_bytes);
cli_float!(f16, "<f2", parse: parse_half::<f16>, shortest: shortest_half, npy: |v: f16| v.to_bits().to_le_bytes());
cli_float!(bf16, "<f4", parse: parse_half::<bf16>, shortest: shortest_half, npy: |v: bf16| v.to_f32().to_le_bytes());

/// The 16-bit formats, seen through their bit patterns.
trait HalfBits: CliFloat {
    /// 2^(emax + 1): where the first value beyond the largest finite one would be, used as the upper
    /// neighbour of the largest finite value when deciding whether a decimal overflows.
    const OVERFLOW: f64;
    fn bits(self) -> u16;
    fn from_bits(bits: u16) -> Self;
}

impl HalfBits for f16 {
    const OVERFLOW: f64 = 65536.0;
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn from_bits(bits: u16) -> Self {
        f16::from_bits(bits)
    }
}

impl HalfBits for bf16 {
    // 2^128, exactly representable in f64.
    const OVERFLOW: f64 = 3.402823669209385e38;
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn from_bits(bits: u16) -> Self {
        bf16::from_bits(bits)
    }
}

/// A decimal correctly rounded to a 16-bit format.
///
/// Reading into `f64` first and rounding again is wrong only where the `f64` lands exactly on a
/// halfway point of the 16-bit format although the decimal was not on it; there the decimal text is
/// compared exactly with that halfway point.
fn parse_half<H: HalfBits>(text: &str) -> Option<H> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return Some(H::from_f64(value));
    }
    let sign: u16 = if value.is_sign_negative() { 0x8000 } else { 0 };
    let magnitude = value.abs();
    // `lower` is the largest non-negative value of the format at or below the magnitude.
    let near = H::from_f64(magnitude).bits();
    let lower = if H::from_bits(near).to_f64() > magnitude { near - 1 } else { near };
    let lower_value = H::from_bits(lower).to_f64();
    if lower_value == magnitude {
        return Some(H::from_bits(lower | sign));
    }
    let upper = lower + 1;
    let upper_value = H::from_bits(upper).to_f64();
    let upper_value = if upper_value.is_infinite() { H::OVERFLOW } else { upper_value };
    // Exact: both neighbours have few significant bits.
    let halfway = (lower_value + upper_value) / 2.0;
    let order = match magnitude.partial_cmp(&halfway)? {
        Ordering::Equal => compare_decimal(text, halfway),
        order => order,
    };
    let chosen = match order {
        Ordering::Less => lower,
        Ordering::Greater => upper,
        // A true tie: the even bit pattern (past the largest finite value, that is infinity).
        Ordering::Equal => {
            if lower % 2 == 0 {
                lower
            } else {
                upper
            }
        }
    };
    Some(H::from_bits(chosen | sign))
}

/// Compares the magnitude of the decimal `text` with the non-negative `value`, exactly.
fn compare_decimal(text: &str, value: f64) -> Ordering {
    // Rust prints an `f64` exactly when asked for enough digits; 1100 covers the smallest subnormal.
    let exact = format!("{value:.1100e}");
    match (normalize_decimal(text), normalize_decimal(&exact)) {
        (Some(a), Some(b)) => a.cmp_magnitude(&b),
        // Not a plain decimal (cannot happen for a finite parse): trust the f64 reading.
        _ => Ordering::Equal,
    }
}

/// A decimal's magnitude as `0.DIGITS × 10^exponent`, without leading or trailing zeros.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // Without leading zeros, a larger exponent is a larger number; then the digits decide
        // (lexicographically, as trailing zeros are gone).
        self.exponent.cmp(&other.exponent).then_with(|| self.digits.cmp(&other.digits))
    }
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` into a [`Decimal`] (sign dropped).
fn normalize_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim_start_matches(['+', '-']);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(int_part.bytes().chain(frac_part.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).map(|b| b - b'0').collect();
    let mut exponent = exponent.checked_add(int_part.len() as i64)?;
    let leading = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..leading);
    exponent -= leading as i64;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    Some(Decimal { digits, exponent })
}

/// The shortest decimal that reads back to `value` (a 16-bit float), in the style of Rust's `{:?}`.
fn shortest_half<H: HalfBits>(value: H) -> String {
    let wide = value.to_f64();
    if !wide.is_finite() || wide == 0.0 {
        return format!("{wide:?}");
    }
    let round_trips = |candidate: &str| H::parse_decimal(candidate).is_some_and(|h| h.bits() == value.bits());
    // With p significant digits, the nearest p-digit decimal may miss the rounding interval while
    // its neighbour fits (the interval is lopsided at powers of two), so try the neighbours too.
    for precision in 1..=17usize {
        let nearest = format!("{wide:.prec$e}", prec = precision - 1);
        let candidates = [Some(nearest.clone()), step_last_digit(&nearest, -1), step_last_digit(&nearest, 1)];
        for candidate in candidates.into_iter().flatten() {
            if round_trips(&candidate) {
                // The candidate has at most 17 digits, so `f64` holds it and prints it back as
                // those digits, in the familiar style (`0.0001`, `1e-7`, `65500.0`).
                let styled = format!("{:?}", candidate.parse::<f64>().unwrap_or(wide));
                return if round_trips(&styled) { styled } else { candidate };
            }
        }
    }
    format!("{wide:?}")
}

/// `d.ddd e x` with its last digit moved by `step` (±1); `None` where that changes the digit count.
fn step_last_digit(scientific: &str, step: i64) -> Option<String> {
    let (mantissa, exponent) = scientific.split_once('e')?;
    let negative = mantissa.starts_with('-');
    let unsigned = mantissa.trim_start_matches('-');
    let decimals = unsigned.split_once('.').map_or(0, |(_, f)| f.len());
    let digits: i64 = unsigned.replace('.', "").parse().ok()?;
    let stepped = digits + step;
    let width = decimals + 1;
    let text = stepped.to_string();
    if stepped <= 0 || text.len() != width {
        return None;
    }
    let body = if decimals == 0 { text } else { format!("{}.{}", &text[..1], &text[1..]) };
    Some(format!("{}{body}e{exponent}", if negative { "-" } else { "" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 16-bit value prints as a decimal that reads back to it. (That the decimals are also
    /// never longer than NumPy's shortest `float16` repr was checked once over all 65536 values.)
    fn exhaustive<H: HalfBits>() {
        for bits in 0..=u16::MAX {
            let h = H::from_bits(bits);
            let printed = h.shortest();
            let back = H::parse_decimal(&printed).unwrap();
            if h.to_f64().is_nan() {
                assert!(back.to_f64().is_nan());
                continue;
            }
            assert_eq!(back.bits(), bits, "{bits:#06x} printed as {printed}");
        }
    }

    #[test]
    fn f16_round_trips() {
        exhaustive::<f16>();
    }

    #[test]
    fn bf16_round_trips() {
        exhaustive::<bf16>();
    }

    #[test]
    fn decimals_near_halfway_points_round_by_their_exact_value() {
        // 1 + 2^-11 is halfway between the f16 values 1 and 1 + 2^-10: ties to even (1).
        assert_eq!(f16::parse_decimal("1.00048828125").unwrap().to_f64(), 1.0);
        // A hair above (by far less than an f64 ulp of 1): up, although the f64 reading is the tie.
        let above = "1.000488281250000000000000000001";
        assert_eq!(above.parse::<f64>().unwrap(), 1.00048828125);
        assert_eq!(f16::parse_decimal(above).unwrap().to_f64(), 1.0009765625);
        let below = "1.000488281249999999999999999999";
        assert_eq!(f16::parse_decimal(below).unwrap().to_f64(), 1.0);
        assert_eq!(f16::parse_decimal("-1.000488281250000000000000000001").unwrap().to_f64(), -1.0009765625);
        // The overflow boundary: 65520 is a tie between 65504 and "65536" and goes to infinity,
        // as IEEE 754 reads it; anything below stays finite.
        assert_eq!(f16::parse_decimal("65520").unwrap().to_f64(), f64::INFINITY);
        assert_eq!(f16::parse_decimal("65519.999999999999999999").unwrap().to_f64(), 65504.0);
        assert_eq!(bf16::parse_decimal("1.00390625").unwrap().to_f64(), 1.0);
        assert_eq!(bf16::parse_decimal("1.0039062500000000000000001").unwrap().to_f64(), 1.0078125);
        // Subnormals and zeros.
        assert_eq!(f16::parse_decimal("6e-8").unwrap().to_bits(), 1);
        assert_eq!(f16::parse_decimal("2.98023223876953125e-8").unwrap().to_bits(), 0);
        assert_eq!(f16::parse_decimal("2.98023223876953126e-8").unwrap().to_bits(), 1);
        assert_eq!(f16::parse_decimal("-0").unwrap().to_bits(), 0x8000);
        assert!(f16::parse_decimal("nan").unwrap().is_nan());
        assert_eq!(f16::parse_decimal("-inf").unwrap(), f16::NEG_INFINITY);
        assert_eq!(f16::parse_decimal("x"), None);
    }

    #[test]
    fn shortest_is_short_and_styled() {
        assert_eq!(f16::from_f32(0.1).shortest(), "0.1");
        assert_eq!(f16::from_f32(1.0).shortest(), "1.0");
        assert_eq!(f16::MAX.shortest(), "65500.0");
        assert_eq!(f16::from_bits(1).shortest(), "6e-8");
        assert_eq!(bf16::from_f32(3.0e38).shortest(), "3e38");
        assert_eq!(f16::NEG_INFINITY.shortest(), "-inf");
        assert_eq!(0.1f64.shortest(), "0.1");
        assert_eq!(0.1f32.shortest(), "0.1");
    }

    #[test]
    fn decimal_normalization() {
        let d = normalize_decimal("-0012.3400e-2").unwrap();
        assert_eq!(d, Decimal { digits: vec![1, 2, 3, 4], exponent: 0 });
        assert_eq!(normalize_decimal("0.000").unwrap().digits, Vec::<u8>::new());
        assert_eq!(normalize_decimal("1x"), None);
    }
}
