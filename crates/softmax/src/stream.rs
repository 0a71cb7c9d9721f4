//! Streaming and sharding: the log-sum-exp statistics `(m, s)` of a row as a mergeable value.
//!
//! `(m₁, s₁) ⊕ (m₂, s₂) = (M, s₁·e^(m₁−M) + s₂·e^(m₂−M))` with `M = max(m₁, m₂)` is associative
//! and commutative, so a row too long for memory is reduced chunk by chunk, and a row split over
//! machines is reduced shard by shard (an all-reduce of the statistics) and then normalised
//! locally. Both parts are carried in double-double, so the result does not depend on the split
//! beyond the accuracy bound.

use crate::element::Element;
use crate::error::{Error, ErrorKind, Result, check_len};
use crate::kernels::dd::Dd;
use crate::kernels::dispatch::kernels_for;
use crate::kernels::forward::{RowStats, Temperature};
use crate::options::{MaskedRows, check_temperature};

/// The log-sum-exp statistics of part of a row at a given temperature.
///
/// ```
/// use softmax::LseStats;
/// let row: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin() * 30.0).collect();
/// // Reduce two halves separately (as two machines would), then merge.
/// let left = LseStats::from_chunk(&row[..400], 1.0).unwrap();
/// let right = LseStats::from_chunk(&row[400..], 1.0).unwrap();
/// let whole = left.merge(&right).unwrap();
/// let direct = softmax::logsumexp(&ndarray::aview1(&row), &Default::default()).unwrap();
/// assert_eq!(whole.logsumexp(), direct[[]]);
/// // Normalise one chunk with the global statistics.
/// let mut probs = vec![0.0; 400];
/// whole.softmax_chunk(&row[..400], &mut probs, softmax::MaskedRows::Nan).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LseStats {
    stats: RowStats,
    temperature: f64,
}

impl LseStats {
    /// The statistics of nothing (the identity of [`LseStats::merge`]).
    ///
    /// # Errors
    /// A temperature that is not finite and positive.
    pub fn new(temperature: f64) -> Result<Self> {
        check_temperature(temperature)?;
        Ok(LseStats { stats: RowStats::EMPTY, temperature })
    }

    /// The statistics of one chunk.
    ///
    /// # Errors
    /// A temperature that is not finite and positive.
    pub fn from_chunk<T: Element>(chunk: &[T], temperature: f64) -> Result<Self> {
        Self::of(chunk, None, temperature)
    }

    /// The statistics of the positions of a chunk where `mask` is true.
    ///
    /// # Errors
    /// A bad temperature, or a mask of another length.
    pub fn from_masked_chunk<T: Element>(chunk: &[T], mask: &[bool], temperature: f64) -> Result<Self> {
        check_len("the mask", mask.len(), chunk.len(), "the chunk")?;
        Self::of(chunk, Some(mask), temperature)
    }

    fn of<T: Element>(chunk: &[T], mask: Option<&[bool]>, temperature: f64) -> Result<Self> {
        check_temperature(temperature)?;
        let row: Vec<f64> = chunk.iter().map(|v| v.to_f64()).collect();
        let stats = (kernels_for::<T>().stats)(&row, mask, Temperature::new(temperature));
        Ok(LseStats { stats, temperature })
    }

    /// Merges the statistics of another, disjoint part of the same row.
    ///
    /// # Errors
    /// Statistics taken at another temperature.
    pub fn merge(&self, other: &LseStats) -> Result<LseStats> {
        if self.temperature != other.temperature {
            return Err(Error::new(
                ErrorKind::Option,
                format!(
                    "cannot merge log-sum-exp statistics taken at temperatures {} and {}",
                    self.temperature, other.temperature
                ),
            ));
        }
        Ok(LseStats {
            stats: self.stats.merge(other.stats, Temperature::new(self.temperature)),
            temperature: self.temperature,
        })
    }

    /// The temperature the statistics were taken at.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The largest finite `x` seen (`−inf` if none), in input units (not divided by `τ`).
    pub fn max(&self) -> f64 {
        self.stats.max
    }

    /// `s = Σ exp((x − max)/τ)` over the finite entries seen, rounded to `f64`.
    pub fn sum(&self) -> f64 {
        self.stats.sum().to_f64()
    }

    /// `ln Σ exp(x/τ)` of everything merged so far (`+inf` if an entry was `+inf`, NaN if one was
    /// NaN, `−inf` if nothing finite was seen).
    pub fn logsumexp(&self) -> f64 {
        self.stats.logsumexp(Temperature::new(self.temperature))
    }

    /// Writes the softmax of `chunk` (a part of the row these statistics cover) into `out`.
    ///
    /// # Errors
    /// `out` of another length than `chunk`, or a chunk with a finite value above [`Self::max`]
    /// (so not part of the row these statistics were taken from).
    pub fn softmax_chunk<T: Element>(&self, chunk: &[T], out: &mut [T], policy: MaskedRows) -> Result<()> {
        self.normalize(chunk, None, out, policy, false)
    }

    /// Writes the log-softmax of `chunk` into `out`.
    ///
    /// # Errors
    /// As [`Self::softmax_chunk`].
    pub fn log_softmax_chunk<T: Element>(
        &self,
        chunk: &[T],
        out: &mut [T],
        policy: MaskedRows,
    ) -> Result<()> {
        self.normalize(chunk, None, out, policy, true)
    }

    /// Writes the softmax of the positions of `chunk` where `mask` is true (0 elsewhere).
    ///
    /// # Errors
    /// As [`Self::softmax_chunk`], and a `mask` of another length than `chunk`.
    pub fn softmax_masked_chunk<T: Element>(
        &self,
        chunk: &[T],
        mask: &[bool],
        out: &mut [T],
        policy: MaskedRows,
    ) -> Result<()> {
        check_len("the mask", mask.len(), chunk.len(), "the chunk")?;
        self.normalize(chunk, Some(mask), out, policy, false)
    }

    fn normalize<T: Element>(
        &self,
        chunk: &[T],
        mask: Option<&[bool]>,
        out: &mut [T],
        policy: MaskedRows,
        log: bool,
    ) -> Result<()> {
        check_len("the output", out.len(), chunk.len(), "the chunk")?;
        let row: Vec<f64> = chunk.iter().map(|v| v.to_f64()).collect();
        let seen = |i: usize| mask.is_none_or(|m| m[i]);
        if let Some(i) = (0..row.len()).find(|&i| seen(i) && row[i].is_finite() && row[i] > self.stats.max) {
            return Err(Error::new(
                ErrorKind::Option,
                format!(
                    "the chunk's value {} at index {i} is above the statistics' maximum {}: these statistics were not taken over it",
                    row[i], self.stats.max
                ),
            ));
        }
        let mut result = vec![0.0; row.len()];
        let k = kernels_for::<T>();
        let normalize = if log { k.log_softmax } else { k.softmax };
        normalize(&self.stats, &row, mask, Temperature::new(self.temperature), policy, &mut result);
        for (o, v) in out.iter_mut().zip(result) {
            *o = T::from_f64(v);
        }
        Ok(())
    }

    /// The statistics as 6 numbers, to send to another process (for example in an MPI
    /// all-reduce with a user-defined operation that calls [`LseStats::from_words`] and
    /// [`LseStats::merge`]): `[m, r_hi, r_lo, count of +inf, 1 if NaN else 0, τ]`, where `m` is
    /// the largest finite `x` seen (input units) and `s = 1 + r_hi + r_lo` the sum of
    /// `exp((x − m)/τ)` in double-double (carried as `s − 1`, so that a dominant entry keeps every
    /// bit of the others).
    pub fn to_words(&self) -> [f64; 6] {
        let s = &self.stats;
        [s.max, s.rest.hi, s.rest.lo, s.posinf as f64, f64::from(u8::from(s.nan)), self.temperature]
    }

    /// Rebuilds statistics from [`LseStats::to_words`].
    ///
    /// # Errors
    /// Words that no call of `to_words` produces: a bad temperature, a count of `+inf` entries
    /// that is negative, fractional or above 2⁵³, a NaN flag other than 0 or 1, a maximum that is
    /// NaN or `+inf`, a sum that is negative, not finite or not a normalised double-double, or a
    /// sum without a maximum.
    pub fn from_words(words: [f64; 6]) -> Result<Self> {
        let [max, r_hi, r_lo, posinf, nan, temperature] = words;
        check_temperature(temperature)?;
        let count_ok = (0.0..=2f64.powi(53)).contains(&posinf) && posinf.fract() == 0.0;
        let nan_ok = nan == 0.0 || nan == 1.0;
        let max_ok = !max.is_nan() && max != f64::INFINITY;
        let normalised = r_hi.is_finite() && r_lo.is_finite() && r_hi + r_lo == r_hi;
        let sum_ok = normalised && r_hi >= 0.0 && (r_hi > 0.0 || r_lo == 0.0);
        let empty_ok = max != f64::NEG_INFINITY || r_hi == 0.0;
        if !(count_ok && nan_ok && max_ok && sum_ok && empty_ok) {
            return Err(Error::new(ErrorKind::Option, format!("not log-sum-exp statistics: {words:?}")));
        }
        let stats = RowStats { max, rest: Dd { hi: r_hi, lo: r_lo }, posinf: posinf as u64, nan: nan == 1.0 };
        Ok(LseStats { stats, temperature })
    }
}
