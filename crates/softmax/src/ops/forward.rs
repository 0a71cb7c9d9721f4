//! Forward operations on N-D arrays: softmax, log-softmax, logsumexp, sigmoid, log-sigmoid.

use ndarray::{
    Array, ArrayBase, ArrayD, ArrayViewD, ArrayViewMutD, Axis, Data, DataMut, Dimension, RemoveAxis, Zip,
};

use super::{
    GATHER_BLOCK, Normalize, check_mask, check_same_shape, into_dim, lanes_per_block, lanes_to_rows, load,
    mask_chunks, next_mask_row, normalize_row, rows_to_lanes, split_slabs, store, with_mask_rows,
};
use crate::element::Element;
use crate::error::Result;
use crate::kernels::dd::Dd;
use crate::kernels::dispatch::kernels_for;
use crate::kernels::fast;
use crate::kernels::forward::Temperature;
use crate::kernels::sigmoid;
use crate::options::{MaskedRows, Options, check_axis, check_temperature};

/// The softmax of `x` along `opts.axis`: `exp(x/τ − m) / Σ exp(x/τ − m)`.
///
/// Each output is within 2 ulp of the exact result (in practice correctly rounded, at most 0.52
/// ulp measured), at any temperature and row length, and for rows offset by any constant.
/// Special values follow SPEC.md: a NaN taking part makes the whole row NaN; `+inf` entries share
/// the mass evenly; `−inf` entries get 0; a row with nothing finite follows `opts.masked_rows`.
///
/// ```
/// use ndarray::array;
/// let p = softmax::softmax(&array![1.0f32, 2.0, 3.0], &softmax::Options::new()).unwrap();
/// assert!((p.sum() - 1.0).abs() < 1e-6);
/// ```
///
/// # Errors
/// An axis out of range, a temperature that is not finite and positive, or a mask of another
/// shape.
pub fn softmax<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let mut out = Array::from_elem(x.raw_dim(), T::from_f64(0.0));
    normalize_dyn(Normalize::Softmax, x.view().into_dyn(), out.view_mut().into_dyn(), opts)?;
    Ok(out)
}

/// [`softmax`] written into `out`, which must have the shape of `x`.
///
/// # Errors
/// As [`softmax`], and an `out` of another shape.
pub fn softmax_into<T, S, SO, D>(
    x: &ArrayBase<S, D>,
    out: &mut ArrayBase<SO, D>,
    opts: &Options<'_>,
) -> Result<()>
where
    T: Element,
    S: Data<Elem = T>,
    SO: DataMut<Elem = T>,
    D: Dimension,
{
    check_same_shape("the output", out.shape(), x.shape())?;
    normalize_dyn(Normalize::Softmax, x.view().into_dyn(), out.view_mut().into_dyn(), opts)
}

/// The log-softmax of `x` along `opts.axis`: `x/τ − m − ln Σ exp(x/τ − m)`, never computed as
/// `ln(softmax)`: the dominant class of a peaked row gets its tiny negative value to full
/// relative accuracy.
///
/// ```
/// use ndarray::array;
/// let ly = softmax::log_softmax(&array![0.0f64, -40.0, -50.0], &softmax::Options::new()).unwrap();
/// assert!(ly[0] < 0.0 && ly[0] > -5e-18); // −(e⁻⁴⁰ + e⁻⁵⁰), not 0
/// ```
///
/// # Errors
/// As [`softmax`].
pub fn log_softmax<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let mut out = Array::from_elem(x.raw_dim(), T::from_f64(0.0));
    normalize_dyn(Normalize::LogSoftmax, x.view().into_dyn(), out.view_mut().into_dyn(), opts)?;
    Ok(out)
}

/// [`log_softmax`] written into `out`, which must have the shape of `x`.
///
/// # Errors
/// As [`softmax`], and an `out` of another shape.
pub fn log_softmax_into<T, S, SO, D>(
    x: &ArrayBase<S, D>,
    out: &mut ArrayBase<SO, D>,
    opts: &Options<'_>,
) -> Result<()>
where
    T: Element,
    S: Data<Elem = T>,
    SO: DataMut<Elem = T>,
    D: Dimension,
{
    check_same_shape("the output", out.shape(), x.shape())?;
    normalize_dyn(Normalize::LogSoftmax, x.view().into_dyn(), out.view_mut().into_dyn(), opts)
}

fn normalize_dyn<T: Element>(
    op: Normalize,
    x: ArrayViewD<'_, T>,
    mut out: ArrayViewMutD<'_, T>,
    opts: &Options<'_>,
) -> Result<()> {
    let axis = Axis(check_axis(opts.axis, x.ndim())?);
    check_temperature(opts.temperature)?;
    check_mask(opts.mask.as_ref(), x.shape())?;
    let tau = Temperature::new(opts.temperature);
    // A contiguous input with a strided output: computed as if the output were contiguous (the
    // vector kernels need both) and then copied, so that where the results go never changes
    // their values.
    if opts.mask.is_none()
        && opts.temperature == 1.0
        && x.is_standard_layout()
        && !out.is_standard_layout()
        && !x.is_empty()
    {
        let mut tmp = ArrayD::from_elem(x.shape(), T::from_f64(0.0));
        normalize_dyn(op, x.view(), tmp.view_mut(), opts)?;
        out.assign(&tmp);
        return Ok(());
    }
    if opts.mask.is_none() && opts.temperature == 1.0 && axis.index() + 1 == x.ndim() {
        let len = x.shape()[axis.index()];
        if let (Some(xs), Some(ys)) = (x.as_slice(), out.as_slice_mut())
            && vector_rows(op, xs, ys, len, opts.masked_rows)
        {
            return Ok(());
        }
    }
    if opts.mask.is_none()
        && opts.temperature == 1.0
        && axis.index() + 1 < x.ndim()
        && let (Some(xs), Some(ys)) = (x.as_slice(), out.as_slice_mut())
        && let (Some(xf), Some(yf)) = (T::as_f32(xs), T::as_f32_mut(ys))
        && fast_columns(op, xf, yf, x.shape(), axis.index(), opts.masked_rows)
    {
        return Ok(());
    }
    // A temperature or a mask: contiguous rows prepared for the vector kernels.
    if (opts.mask.is_some() || opts.temperature != 1.0)
        && axis.index() + 1 == x.ndim()
        && let (Some(xs), Some(ys)) = (x.as_slice(), out.as_slice_mut())
    {
        let (len, tau, policy) = (x.shape()[axis.index()], opts.temperature, opts.masked_rows);
        if with_mask_rows(opts.mask.as_ref(), |mask| vector_rows_with(op, xs, ys, len, tau, mask, policy)) {
            return Ok(());
        }
    }
    if gathered_rows(op, &x, &mut out, axis, opts) {
        return Ok(());
    }
    let (mut row, mut mask_row, mut result) = (Vec::new(), Vec::new(), Vec::new());
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    for (x_lane, out_lane) in x.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
        load(x_lane, &mut row);
        result.resize(row.len(), 0.0);
        let mask = next_mask_row(&mut mask_lanes, &mut mask_row);
        normalize_row::<T>(op, &row, mask, tau, opts.masked_rows, &mut result);
        store(&result, out_lane);
    }
    Ok(())
}

/// The lanes along `axis` copied a block at a time into contiguous rows, computed by the
/// vector row kernels ([`vector_rows_with`], so at any temperature and with a mask, whose lanes
/// are copied alongside), and copied back: for what neither the row kernels nor the column
/// kernels read in place (a non-last axis of `f64` or a half type, a temperature or a mask
/// along a non-last axis, a non-contiguous view). Each lane gets exactly what the same values
/// give as a contiguous row. False where those kernels do not serve (the portable path, `f64`
/// at a temperature), having written nothing that counts.
fn gathered_rows<T: Element>(
    op: Normalize,
    x: &ArrayViewD<'_, T>,
    out: &mut ArrayViewMutD<'_, T>,
    axis: Axis,
    opts: &Options<'_>,
) -> bool {
    let len = x.shape()[axis.index()];
    if len == 0 || x.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    let (tau, policy) = (opts.temperature, opts.masked_rows);
    if let (Some(xs), Some(ys)) = (x.as_slice(), out.as_slice_mut()) {
        return with_mask_rows(opts.mask.as_ref(), |mask| {
            transposed_rows(op, xs, ys, mask, x.shape(), axis.index(), (tau, policy))
        });
    }
    let per_block = (GATHER_BLOCK / len).max(1);
    let mut rows: Vec<T> = Vec::with_capacity(per_block * len);
    let mut mask_rows: Vec<bool> = Vec::new();
    let mut results = vec![T::from_f64(0.0); per_block * len];
    let mut x_lanes = x.lanes(axis).into_iter();
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    let mut out_lanes = out.lanes_mut(axis).into_iter();
    while next_block(&mut x_lanes, per_block, &mut rows) {
        let results = &mut results[..rows.len()];
        let mask = mask_lanes.as_mut().map(|lanes| {
            next_block(lanes, per_block, &mut mask_rows);
            &mask_rows[..]
        });
        if !vector_rows_with(op, &rows, results, len, tau, mask, policy) {
            return false;
        }
        for (row, lane) in results.chunks_exact(len).zip(out_lanes.by_ref()) {
            for (dst, &v) in lane.into_iter().zip(row) {
                *dst = v;
            }
        }
    }
    true
}

/// The next `per_block` lanes (or what is left) copied one after the other into `rows`; false
/// when there are none left.
fn next_block<'a, T: Copy + 'a>(
    lanes: &mut impl Iterator<Item = ndarray::ArrayView1<'a, T>>,
    per_block: usize,
    rows: &mut Vec<T>,
) -> bool {
    rows.clear();
    for lane in lanes.by_ref().take(per_block) {
        rows.extend(lane.iter().copied());
    }
    !rows.is_empty()
}

/// [`gathered_rows`] for contiguous arrays, seen as `(outer, k, inner)` with `k` the axis: a
/// block of adjacent lanes is transposed into rows reading each line of the input once (the
/// axis in the outer loop, the lanes inner), and the results are transposed back the same way.
fn transposed_rows<T: Element>(
    op: Normalize,
    x: &[T],
    y: &mut [T],
    mask: Option<&[bool]>,
    shape: &[usize],
    axis: usize,
    (tau, policy): (f64, MaskedRows),
) -> bool {
    use rayon::prelude::*;
    let k = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let lanes = lanes_per_block(k, inner);
    let zero = T::from_f64(0.0);
    let flags = if mask.is_some() { lanes * k } else { 0 };
    let buffers = || (vec![zero; lanes * k], vec![zero; lanes * k], vec![false; flags]);
    // One slab (an index of the axes before `axis`) with its part of the mask, its blocks of
    // lanes in turn.
    type Slab<'a, T> = ((&'a [T], &'a mut [T]), Option<&'a [bool]>);
    let slab = |((xo, yo), mo): Slab<'_, T>, (rows, results, kept): &mut (Vec<T>, Vec<T>, Vec<bool>)| {
        for j0 in (0..inner).step_by(lanes) {
            let b = lanes.min(inner - j0);
            lanes_to_rows(xo, rows, k, inner, j0, b);
            let m = mo.map(|mo| {
                lanes_to_rows(mo, kept, k, inner, j0, b);
                &kept[..b * k]
            });
            if !vector_rows_with(op, &rows[..b * k], &mut results[..b * k], k, tau, m, policy) {
                return false;
            }
            rows_to_lanes(results, yo, k, inner, j0, b);
        }
        true
    };
    let size = k * inner;
    let mask_slabs = mask_chunks(mask, x.len(), size);
    if split_slabs(x.len(), size) {
        x.par_chunks(size)
            .zip(y.par_chunks_mut(size))
            .zip(mask_slabs)
            .map_init(buffers, |b, part| slab(part, b))
            .all(|ok| ok)
    } else {
        let mut b = buffers();
        x.chunks(size).zip(y.chunks_mut(size)).zip(mask_slabs).all(|part| slab(part, &mut b))
    }
}

/// `logsumexp` along `axis` as [`gathered_rows`] computes softmax: lanes (and the mask's)
/// copied into blocks of contiguous rows, through [`vector_logsumexp_with`]. False where that
/// does not serve (nothing written that counts).
fn gathered_logsumexp<T: Element>(
    x: &ArrayViewD<'_, T>,
    out: &mut ArrayD<T>,
    axis: Axis,
    opts: &Options<'_>,
) -> bool {
    let len = x.shape()[axis.index()];
    if len == 0 || x.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    let per_block = (GATHER_BLOCK / len).max(1);
    let mut rows: Vec<T> = Vec::with_capacity(per_block * len);
    let mut mask_rows: Vec<bool> = Vec::new();
    let mut results = vec![T::from_f64(0.0); per_block];
    let mut x_lanes = x.lanes(axis).into_iter();
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    let mut outs = out.iter_mut();
    while next_block(&mut x_lanes, per_block, &mut rows) {
        let results = &mut results[..rows.len() / len];
        let mask = mask_lanes.as_mut().map(|lanes| {
            next_block(lanes, per_block, &mut mask_rows);
            &mask_rows[..]
        });
        if !vector_logsumexp_with(&rows, results, len, opts.temperature, mask) {
            return false;
        }
        for (dst, &v) in outs.by_ref().zip(results.iter()) {
            *dst = v;
        }
    }
    true
}

/// Softmax or log-softmax of contiguous rows of length `len` at temperature 1 without a mask,
/// through the vector kernels of `T` (`f32`, `f64` or a half type); false where there are none
/// (having written nothing that counts). The N-D and slice APIs both come through here.
pub(crate) fn vector_rows<T: Element>(
    op: Normalize,
    x: &[T],
    y: &mut [T],
    len: usize,
    policy: MaskedRows,
) -> bool {
    if let (Some(xf), Some(yf)) = (T::as_f32(x), T::as_f32_mut(y)) {
        return fast_rows(op, xf, yf, len, policy);
    }
    if let (Some(xd), Some(yd)) = (T::as_f64(x), T::as_f64_mut(y)) {
        return fast_rows_f64(op, xd, yd, len, policy);
    }
    half_rows(op, x, y, len, policy)
}

/// [`vector_rows`] at any temperature and with an optional mask (`mask`, when given, holds one
/// flag per element of `x`, laid out as `x`). False where the vector kernels cannot serve (nothing
/// written that counts): on the portable path, and for `f64` at a temperature other than 1.
///
/// - **A mask** is applied by giving the excluded positions `−inf`. SPEC's rules treat a `−inf`
///   entry exactly as an excluded one (output 0 or `−inf`, no part in the maximum or the sum, and
///   a row with nothing else left follows the masked-row policy), so the rows go through the
///   kernels of their own type with the same arithmetic as unmasked rows.
/// - **A temperature** (`f32` and the half types): each row becomes `z = (x − m)/τ` in `f64`,
///   `m` the largest entry taking part, and goes through the `f64` kernels at temperature 1; the
///   results are rounded once to `T`. `x − m`, `1/τ` and the product each round by at most
///   2⁻⁵³ relative, so a term `exp(z)` that matters (`z ≥ −745`) is off by at most about 2⁻⁴¹
///   relative and a log-probability by 2⁻⁵⁰ relative (`|z − ln s| ≥ |z|`): what the portable
///   path's own `f64` arithmetic for these types allows, far below an ulp of the output. Rows
///   with a NaN or `+inf` taking part, or nothing finite, take the portable path whole.
///   `f64` rows would need `z` to 2⁻¹⁰⁶ and take the portable path.
///
/// Blocks of about 2¹³ elements (whole rows) are prepared in scratch and shared among the
/// pool's threads; each row's arithmetic is the same whatever the split.
pub(crate) fn vector_rows_with<T: Element>(
    op: Normalize,
    x: &[T],
    y: &mut [T],
    len: usize,
    tau: f64,
    mask: Option<&[bool]>,
    policy: MaskedRows,
) -> bool {
    if tau == 1.0 && mask.is_none() {
        return vector_rows(op, x, y, len, policy);
    }
    if len == 0 || x.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    if tau != 1.0 && T::as_f64(x).is_some() {
        return false;
    }
    prepared_blocks(x, y, len, len, mask, |rows, yb, scratch| {
        if tau == 1.0 {
            vector_rows(op, rows, yb, len, policy)
        } else {
            tempered_rows(op, rows, yb, len, tau, policy, scratch)
        }
    })
}

/// `f(rows, out, scratch)` on blocks of whole rows of `x` (about [`PREPARED_BLOCK`] elements,
/// at least one row) and the matching `out` (`out_per_row` elements a row), shared among the
/// pool's threads; with a mask, the rows handed to `f` are a copy with `−inf` at the excluded
/// positions. True if `f` took every block.
fn prepared_blocks<T: Element>(
    x: &[T],
    out: &mut [T],
    len: usize,
    out_per_row: usize,
    mask: Option<&[bool]>,
    f: impl Fn(&[T], &mut [T], &mut Prepared<T>) -> bool + Sync,
) -> bool {
    use rayon::prelude::*;
    let rows_per_block = (PREPARED_BLOCK / len).max(1);
    let (per_block, out_block) = (rows_per_block * len, rows_per_block * out_per_row);
    let block = |(xb, ob, mb): (&[T], &mut [T], Option<&[bool]>), scratch: &mut Prepared<T>| -> bool {
        let Some(mb) = mb else { return f(xb, ob, scratch) };
        let excluded = T::from_f64(f64::NEG_INFINITY);
        let mut rows = std::mem::take(&mut scratch.same);
        rows.resize(xb.len(), excluded);
        fast::mask_same(fast::current(), xb, mb, excluded, &mut rows);
        let done = f(&rows, ob, scratch);
        scratch.same = rows;
        done
    };
    let mask_blocks = mask_chunks(mask, x.len(), per_block);
    if split_slabs(x.len(), per_block) {
        x.par_chunks(per_block)
            .zip(out.par_chunks_mut(out_block))
            .zip(mask_blocks)
            .map_init(Prepared::default, |scratch, ((xb, ob), mb)| block((xb, ob, mb), scratch))
            .all(|ok| ok)
    } else {
        let mut scratch = Prepared::default();
        x.chunks(per_block)
            .zip(out.chunks_mut(out_block))
            .zip(mask_blocks)
            .all(|((xb, ob), mb)| block((xb, ob, mb), &mut scratch))
    }
}

/// Elements per block of [`vector_rows_with`] (whole rows; at least one row): its two `f64`
/// scratch rows of 64 KiB stay in L2, and below the allocator's threshold for a mapping of their
/// own (whose page faults would cost as much as the kernels).
const PREPARED_BLOCK: usize = 1 << 13;

/// Scratch of [`vector_rows_with`] for one block of rows.
struct Prepared<T> {
    /// Masked rows in their own type.
    same: Vec<T>,
    /// A block of a half type widened to `f32`, and its results before they are rounded.
    wide: Vec<f32>,
    /// `z = (x − m)/τ`, the rows' `m`, and the `f64` kernels' results.
    z: Vec<f64>,
    maxima: Vec<f64>,
    out: Vec<f64>,
    /// Rows of the block for the portable path, one such row and its result.
    portable: Vec<usize>,
    row: Vec<f64>,
    result: Vec<f64>,
}

impl<T> Default for Prepared<T> {
    fn default() -> Self {
        Prepared {
            same: Vec::new(),
            wide: Vec::new(),
            z: Vec::new(),
            maxima: Vec::new(),
            out: Vec::new(),
            portable: Vec::new(),
            row: Vec::new(),
            result: Vec::new(),
        }
    }
}

/// `z = (x − m)/τ` of each row of a block in `s.z` (and `m` in `s.maxima`, rows for the
/// portable path in `s.portable`); the half types are widened to `f32` first by their
/// vectorised conversions. True for a half type.
fn prepare_tempered<T: Element>(x: &[T], len: usize, tau: f64, s: &mut Prepared<T>) -> bool {
    let isa = fast::current();
    s.z.resize(x.len(), 0.0);
    s.maxima.resize(x.len() / len, 0.0);
    s.portable.clear();
    let half = T::half_bits(x).is_some();
    if half {
        s.wide.resize(x.len(), 0.0);
        T::widen_to_f32(x, &mut s.wide);
        fast::tempered(isa, &s.wide, len, tau, &mut s.z, &mut s.maxima, &mut s.portable);
    } else {
        fast::tempered(isa, x, len, tau, &mut s.z, &mut s.maxima, &mut s.portable);
    }
    half
}

/// One block of [`vector_rows_with`] at a temperature other than 1, for types of 24 bits or
/// fewer (a mask already applied as `−inf`): `z = (x − m)/τ` in `f64` through the `f64` kernels.
fn tempered_rows<T: Element>(
    op: Normalize,
    x: &[T],
    y: &mut [T],
    len: usize,
    tau: f64,
    policy: MaskedRows,
    s: &mut Prepared<T>,
) -> bool {
    let isa = fast::current();
    s.out.resize(x.len(), 0.0);
    let half = prepare_tempered(x, len, tau, s);
    // Rows the `f64` kernels decline (a NaN) are computed exactly from `z`, which the special
    // rules then decide alone.
    let fallback = move |zr: &[f64], yr: &mut [f64]| {
        normalize_row::<f64>(op, zr, None, Temperature::new(1.0), policy, yr);
    };
    if !fast::rows_f64(isa, op, &s.z, &mut s.out, len, &fallback) {
        return false;
    }
    if half {
        // Round to odd in `f32`, then to nearest in `T`: one correct rounding.
        fast::narrow_to_odd_f32(isa, &s.out, 1.0, &mut s.wide);
        T::narrow_from_f32(&s.wide, y);
    } else {
        fast::narrow_from_f64(isa, &s.out, 1.0, y);
    }
    for &r in &s.portable {
        s.row.clear();
        s.row.extend(x[r * len..(r + 1) * len].iter().map(|v| v.to_f64()));
        s.result.resize(len, 0.0);
        normalize_row::<T>(op, &s.row, None, Temperature::new(tau), policy, &mut s.result);
        for (o, &v) in y[r * len..(r + 1) * len].iter_mut().zip(&s.result) {
            *o = T::from_f64(v);
        }
    }
    true
}

/// `logsumexp` of contiguous rows (`len > 0`) at temperature 1 without a mask, through the
/// vector kernels of `T` (`f32`, `f64`, and the half kernels' first two passes); false where
/// there are none.
pub(crate) fn vector_logsumexp<T: Element>(x: &[T], out: &mut [T], len: usize) -> bool {
    if let (Some(xf), Some(of)) = (T::as_f32(x), T::as_f32_mut(out)) {
        return fast_logsumexp_rows(xf, of, len);
    }
    if let (Some(xd), Some(od)) = (T::as_f64(x), T::as_f64_mut(out)) {
        return fast_logsumexp_rows_f64(xd, od, len);
    }
    let Some((kind, bits)) = T::half_bits(x) else { return false };
    let mut lse = vec![0.0; out.len()];
    if !fast::logsumexp_half(fast::current(), kind, bits, &mut lse, len) {
        return false;
    }
    // Rows the half kernels hand back (`NaN`): the portable path.
    let tau = Temperature::new(1.0);
    let mut row = Vec::new();
    for (r, (o, &v)) in out.iter_mut().zip(&lse).enumerate() {
        *o = if v.is_nan() {
            row.clear();
            row.extend(x[r * len..(r + 1) * len].iter().map(|v| v.to_f64()));
            T::from_f64((kernels_for::<T>().stats)(&row, None, tau).logsumexp(tau))
        } else {
            T::from_f64(v)
        };
    }
    true
}

/// [`vector_logsumexp`] at any temperature and with an optional mask (one flag per element of
/// `x`, laid out as `x`), prepared as [`vector_rows_with`] prepares softmax rows: excluded
/// positions become `−inf` (which SPEC's rules treat exactly as excluded: no part in `m` or `s`,
/// and a row with nothing left gives `−inf`); at a temperature, `f32` and half rows become `z =
/// (x − m)/τ` in `f64` for the `f64` kernel, and the result is `m/τ + lse(z)` in `f64`.
///
/// Accuracy at a temperature: `z` is within 3·2⁻⁵³ relative, which moves `lse(z)` by at most
/// `3·2⁻⁵³·Σ pᵢ·|zᵢ| ≤ 2⁻⁴¹·lse(z)` (the terms below the maximum have `Σ pᵢ ≤ lse(z)` and
/// `|zᵢ| ≤ 745` where they count), and the kernel, the division `m/τ` and the sum each round by
/// 2⁻⁵³ of `|m/τ| + lse(z)`. A result smaller than 2⁻⁸ of that (the two cancel) is computed by
/// the portable path instead, so the rest are within 2⁻³³ relative before their one rounding to
/// `T`. `f64` at a temperature is not taken (false), nor is anything on the portable path.
pub(crate) fn vector_logsumexp_with<T: Element>(
    x: &[T],
    out: &mut [T],
    len: usize,
    tau: f64,
    mask: Option<&[bool]>,
) -> bool {
    if tau == 1.0 && mask.is_none() {
        return vector_logsumexp(x, out, len);
    }
    if len == 0 || x.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    if tau != 1.0 && T::as_f64(x).is_some() {
        return false;
    }
    prepared_blocks(x, out, len, 1, mask, |rows, ob, scratch| {
        if tau == 1.0 {
            vector_logsumexp(rows, ob, len)
        } else {
            tempered_logsumexp(rows, ob, len, tau, scratch)
        }
    })
}

/// One block of [`vector_logsumexp_with`] at a temperature other than 1, for types of 24 bits
/// or fewer (a mask already applied as `−inf`).
fn tempered_logsumexp<T: Element>(x: &[T], out: &mut [T], len: usize, tau: f64, s: &mut Prepared<T>) -> bool {
    prepare_tempered(x, len, tau, s);
    s.out.resize(out.len(), 0.0);
    // Rows the `f64` kernel declines (a NaN) are computed from `z`, giving NaN.
    let one = Temperature::new(1.0);
    let fallback = move |zr: &[f64]| (kernels_for::<f64>().stats)(zr, None, one).logsumexp(one);
    if !fast::logsumexp_rows_f64(fast::current(), &s.z, &mut s.out, len, &fallback) {
        return false;
    }
    let portable = |r: usize, row: &mut Vec<f64>| {
        row.clear();
        row.extend(x[r * len..(r + 1) * len].iter().map(|v| v.to_f64()));
        let tau = Temperature::new(tau);
        T::from_f64((kernels_for::<T>().stats)(row, None, tau).logsumexp(tau))
    };
    // The rows `prepare_tempered` lists for the portable path have an infinite `m`, so `m/τ`
    // sends them there below.
    let mut row = std::mem::take(&mut s.row);
    for (r, o) in out.iter_mut().enumerate() {
        let (m, l) = (s.maxima[r], s.out[r]);
        let q = m / tau;
        let sum = if l.is_nan() {
            Some(f64::NAN)
        } else if q.is_finite() {
            let v = q + l;
            (v.abs() >= (q.abs() + l) / 256.0).then_some(v)
        } else {
            None
        };
        *o = match sum {
            Some(v) => T::from_f64(v),
            None => portable(r, &mut row),
        };
    }
    s.row = row;
    true
}

/// Contiguous `f32` rows at temperature 1 without a mask, through the vectorised kernels (rows
/// they do not take go to the portable path one by one); false on the portable path.
fn fast_rows(op: Normalize, x: &[f32], y: &mut [f32], len: usize, policy: MaskedRows) -> bool {
    let fallback = move |xr: &[f32], yr: &mut [f32]| {
        let row: Vec<f64> = xr.iter().map(|&v| f64::from(v)).collect();
        let mut result = vec![0.0; row.len()];
        normalize_row::<f32>(op, &row, None, Temperature::new(1.0), policy, &mut result);
        for (dst, &v) in yr.iter_mut().zip(&result) {
            *dst = f32::from_f64(v);
        }
    };
    fast::rows_f32(fast::current(), op, x, y, len, &fallback)
}

/// Contiguous `f64` rows at temperature 1 without a mask, through the vectorised `f64` kernels
/// (rows they do not take go to the portable path one by one); false on the portable path.
fn fast_rows_f64(op: Normalize, x: &[f64], y: &mut [f64], len: usize, policy: MaskedRows) -> bool {
    let fallback = move |xr: &[f64], yr: &mut [f64]| {
        normalize_row::<f64>(op, xr, None, Temperature::new(1.0), policy, yr);
    };
    fast::rows_f64(fast::current(), op, x, y, len, &fallback)
}

/// Softmax or log-softmax of a contiguous `f32` array along a non-last axis, through the
/// vectorised column kernels (the lanes read in place); columns they do not take go to the
/// portable path one by one. False on the portable path.
fn fast_columns(
    op: Normalize,
    x: &[f32],
    y: &mut [f32],
    shape: &[usize],
    axis: usize,
    policy: MaskedRows,
) -> bool {
    let k = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    if x.is_empty() || k == 0 || inner == 0 {
        return true;
    }
    let Some(rejected) = fast::columns_f32(fast::current(), op, x, y, k, inner) else { return false };
    let (mut row, mut result) = (vec![0.0; k], vec![0.0; k]);
    for (o, j) in rejected {
        let at = |kk: usize| o * k * inner + kk * inner + j;
        for (kk, v) in row.iter_mut().enumerate() {
            *v = f64::from(x[at(kk)]);
        }
        normalize_row::<f32>(op, &row, None, Temperature::new(1.0), policy, &mut result);
        for (kk, &v) in result.iter().enumerate() {
            y[at(kk)] = f32::from_f64(v);
        }
    }
    true
}

/// Half-precision rows: through the half kernels, which read and write the rows in their own
/// format (see `kernels::fast::rows_half`), or where those do not run (AVX2 without F16C, for
/// `f16`) through the `f32` kernels: widened into a scratch block (exactly), computed, and
/// rounded back once. The `f32` results are within 1.5 ulp of `f32`, so the half
/// results are within 0.5 + 2⁻¹² ulp of their own type (SPEC asks for 1). False for other types
/// and on the portable path (having done nothing that counts).
///
/// Blocks of about 2¹⁴ elements (whole rows), so that a block's input and output scratch stay
/// in L2 between the widening, the kernel's passes and the narrowing; the blocks are shared
/// among the pool's threads (each row's arithmetic is the same whatever the split).
fn half_rows<T: Element>(op: Normalize, x: &[T], y: &mut [T], len: usize, policy: MaskedRows) -> bool {
    use rayon::prelude::*;
    if len == 0 || x.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    // Rows up to `CHUNK` long: read and written in their own format by the half kernels.
    if let (Some((kind, xb)), Some(yb)) = (T::half_bits(x), T::half_bits_mut(y))
        && let Some(rejected) = fast::rows_half(fast::current(), kind, op, xb, yb, len)
    {
        let (mut row, mut result) = (vec![0.0; len], vec![0.0; len]);
        for r in rejected {
            for (v, xi) in row.iter_mut().zip(&x[r * len..(r + 1) * len]) {
                *v = xi.to_f64();
            }
            normalize_row::<T>(op, &row, None, Temperature::new(1.0), policy, &mut result);
            for (yi, &v) in y[r * len..(r + 1) * len].iter_mut().zip(&result) {
                *yi = T::from_f64(v);
            }
        }
        return true;
    }
    let per_block = ((1 << 14) / len).max(1) * len;
    let block = |xb: &[T], yb: &mut [T]| {
        let (mut xs, mut ys) = (vec![0.0f32; xb.len()], vec![0.0f32; xb.len()]);
        let taken = T::widen_to_f32(xb, &mut xs) && fast_rows(op, &xs, &mut ys, len, policy);
        if taken {
            T::narrow_from_f32(&ys, yb);
        }
        taken
    };
    if split_slabs(x.len(), per_block) {
        x.par_chunks(per_block).zip(y.par_chunks_mut(per_block)).all(|(xb, yb)| block(xb, yb))
    } else {
        x.chunks(per_block).zip(y.chunks_mut(per_block)).all(|(xb, yb)| block(xb, yb))
    }
}

/// `logsumexp` of contiguous `f32` rows (`len > 0`) at temperature 1 without a mask, through
/// the vectorised kernels; false on the portable path.
/// As [`fast_logsumexp_rows`], for `f64` rows (`len > 0`).
fn fast_logsumexp_rows_f64(x: &[f64], out: &mut [f64], len: usize) -> bool {
    let fallback = |xr: &[f64]| {
        let tau = Temperature::new(1.0);
        (kernels_for::<f64>().stats)(xr, None, tau).logsumexp(tau)
    };
    fast::logsumexp_rows_f64(fast::current(), x, out, len, &fallback)
}

fn fast_logsumexp_rows(x: &[f32], out: &mut [f32], len: usize) -> bool {
    let fallback = |xr: &[f32]| {
        let tau = Temperature::new(1.0);
        let row: Vec<f64> = xr.iter().map(|&v| f64::from(v)).collect();
        f32::from_f64((kernels_for::<f32>().stats)(&row, None, tau).logsumexp(tau))
    };
    fast::logsumexp_rows_f32(fast::current(), x, out, len, &fallback)
}

/// `ln Σ exp(x/τ)` along `opts.axis`, which is removed from the shape.
///
/// An empty axis, or a row with nothing finite (all `−inf` or masked), gives `−inf` (the
/// logarithm of an empty sum, as SciPy gives) under either masked-row policy; `+inf` in the row
/// gives `+inf`; NaN gives NaN.
///
/// ```
/// use ndarray::array;
/// let lse = softmax::logsumexp(&array![[1000.0f64, 1000.0]], &softmax::Options::new()).unwrap();
/// assert!((lse[0] - (1000.0 + std::f64::consts::LN_2)).abs() < 1e-12);
/// ```
///
/// # Errors
/// As [`softmax`].
pub fn logsumexp<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<Array<T, D::Smaller>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension + RemoveAxis,
{
    let x = x.view().into_dyn();
    let axis = Axis(check_axis(opts.axis, x.ndim())?);
    check_temperature(opts.temperature)?;
    check_mask(opts.mask.as_ref(), x.shape())?;
    let tau = Temperature::new(opts.temperature);
    let mut out = ArrayD::from_elem(x.raw_dim().remove_axis(axis), T::from_f64(0.0));
    let len = x.shape()[axis.index()];
    // Contiguous rows through the vector kernels (prepared where there is a temperature or a
    // mask); other axes and views through blocks of copied lanes.
    if axis.index() + 1 == x.ndim()
        && len > 0
        && let (Some(xs), Some(os)) = (x.as_slice(), out.as_slice_mut())
        && with_mask_rows(opts.mask.as_ref(), |mask| {
            vector_logsumexp_with(xs, os, len, opts.temperature, mask)
        })
    {
        return into_dim(out);
    }
    if gathered_logsumexp(&x, &mut out, axis, opts) {
        return into_dim(out);
    }
    let (mut row, mut mask_row) = (Vec::new(), Vec::new());
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    for (x_lane, o) in x.lanes(axis).into_iter().zip(out.iter_mut()) {
        load(x_lane, &mut row);
        let mask = next_mask_row(&mut mask_lanes, &mut mask_row);
        *o = T::from_f64((kernels_for::<T>().stats)(&row, mask, tau).logsumexp(tau));
    }
    into_dim(out)
}

/// The logistic sigmoid `1 / (1 + exp(−x/τ))`, element by element, stable for every finite `x`.
///
/// `opts.axis` and `opts.masked_rows` play no part; masked-out positions give 0.
///
/// ```
/// use ndarray::array;
/// let y = softmax::sigmoid(&array![0.0f64, 800.0, -800.0], &softmax::Options::new()).unwrap();
/// assert_eq!(y, array![0.5, 1.0, 0.0]);
/// ```
///
/// # Errors
/// A temperature that is not finite and positive, or a mask of another shape.
pub fn sigmoid<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    elementwise(x, opts, 0.0, sigmoid::sigmoid)
}

/// `ln sigmoid(x/τ) = −softplus(−x/τ)`, element by element, never computed as `ln(sigmoid)`.
///
/// `opts.axis` and `opts.masked_rows` play no part; masked-out positions give `−inf`.
///
/// ```
/// use ndarray::array;
/// let y = softmax::log_sigmoid(&array![-800.0f64, 40.0], &softmax::Options::new()).unwrap();
/// assert_eq!(y[0], -800.0);
/// assert!((y[1] + 4.248354255291589e-18).abs() < 1e-33);
/// ```
///
/// # Errors
/// As [`sigmoid()`].
pub fn log_sigmoid<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    elementwise(x, opts, f64::NEG_INFINITY, sigmoid::log_sigmoid)
}

fn elementwise<T, S, D>(
    x: &ArrayBase<S, D>,
    opts: &Options<'_>,
    masked_value: f64,
    f: fn(Dd) -> f64,
) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    check_temperature(opts.temperature)?;
    check_mask(opts.mask.as_ref(), x.shape())?;
    let tau = Temperature::new(opts.temperature);
    let mut out = Array::from_elem(x.raw_dim(), T::from_f64(0.0));
    let apply = |v: &T| T::from_f64(f(tau.scale(v.to_f64())));
    let (x, mut out_dyn) = (x.view().into_dyn(), out.view_mut().into_dyn());
    match &opts.mask {
        None => Zip::from(&mut out_dyn).and(&x).for_each(|o, v| *o = apply(v)),
        // Any layout of the mask (transposed, reversed, broadcast) zips with the input.
        Some(mask) => Zip::from(&mut out_dyn)
            .and(&x)
            .and(mask)
            .for_each(|o, v, &keep| *o = if keep { apply(v) } else { T::from_f64(masked_value) }),
    }
    Ok(out)
}
