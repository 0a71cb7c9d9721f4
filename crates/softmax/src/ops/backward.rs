//! Backward operations (vector–Jacobian products) and the batched softmax Jacobian.

use ndarray::{Array, ArrayBase, ArrayD, ArrayViewD, ArrayViewMutD, Axis, Data, DataMut, Dimension, Zip};

use super::{
    GATHER_BLOCK, Normalize, check_mask, check_same_shape, lanes_per_block, lanes_to_rows, load, mask_chunks,
    next_mask_row, normalize_row, rows_to_lanes, split_slabs, store, with_mask_rows,
};
use crate::element::Element;
use crate::error::{Error, ErrorKind, Result};
use crate::kernels::backward::{sigmoid_backward_one, softmax_jacobian_row};
use crate::kernels::dispatch::{kernels, kernels_for};
use crate::kernels::fast;
use crate::kernels::forward::Temperature;
use crate::options::{Options, check_axis, check_temperature};

/// The backward pass of [`crate::softmax`]: given its output `y` and the upstream gradient `dy`,
/// `dx = y ⊙ (dy − ⟨dy, y⟩) / τ` along `opts.axis` (the dot product accumulated exactly).
///
/// Use the same `opts` as the forward call. Masked positions, and positions whose probability is
/// 0 (a `−inf` logit), get gradient 0; a NaN in `y` or `dy` makes the row's gradient NaN (but
/// never at a masked position).
///
/// ```
/// use ndarray::array;
/// let opts = softmax::Options::new();
/// let y = softmax::softmax(&array![1.0f64, 2.0, 3.0], &opts).unwrap();
/// let dx = softmax::softmax_backward(&y, &array![1.0, 0.0, 0.0], &opts).unwrap();
/// // The gradient of y₀: y₀ (1 − y₀), −y₀ y₁, −y₀ y₂.
/// assert!((dx[0] - y[0] * (1.0 - y[0])).abs() < 1e-15);
/// ```
///
/// # Errors
/// An axis out of range, a bad temperature, or `dy` (or the mask) of another shape than `y`.
pub fn softmax_backward<T, S, S2, D>(
    y: &ArrayBase<S, D>,
    dy: &ArrayBase<S2, D>,
    opts: &Options<'_>,
) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    let mut out = Array::from_elem(y.raw_dim(), T::from_f64(0.0));
    backward_dyn(false, y.view().into_dyn(), dy.view().into_dyn(), out.view_mut().into_dyn(), opts)?;
    Ok(out)
}

/// [`softmax_backward`] written into `dx`, which must have the shape of `y` (no allocation: the
/// form for a training loop that reuses its buffers).
///
/// # Errors
/// As [`softmax_backward`], and a `dx` of another shape.
pub fn softmax_backward_into<T, S, S2, SO, D>(
    y: &ArrayBase<S, D>,
    dy: &ArrayBase<S2, D>,
    dx: &mut ArrayBase<SO, D>,
    opts: &Options<'_>,
) -> Result<()>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    SO: DataMut<Elem = T>,
    D: Dimension,
{
    check_same_shape("the output dx", dx.shape(), y.shape())?;
    backward_dyn(false, y.view().into_dyn(), dy.view().into_dyn(), dx.view_mut().into_dyn(), opts)
}

/// [`log_softmax_backward`] written into `dx`, which must have the shape of `ly`.
///
/// # Errors
/// As [`log_softmax_backward`], and a `dx` of another shape.
pub fn log_softmax_backward_into<T, S, S2, SO, D>(
    ly: &ArrayBase<S, D>,
    dy: &ArrayBase<S2, D>,
    dx: &mut ArrayBase<SO, D>,
    opts: &Options<'_>,
) -> Result<()>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    SO: DataMut<Elem = T>,
    D: Dimension,
{
    check_same_shape("the output dx", dx.shape(), ly.shape())?;
    backward_dyn(true, ly.view().into_dyn(), dy.view().into_dyn(), dx.view_mut().into_dyn(), opts)
}

/// The backward pass of [`crate::log_softmax`]: given its output `ly` and the upstream gradient
/// `dy`, `dx = (dy − exp(ly) · Σ dy) / τ` along `opts.axis`.
///
/// Masked positions, and positions where `ly = −inf`, get gradient 0.
///
/// ```
/// use ndarray::array;
/// let opts = softmax::Options::new();
/// let ly = softmax::log_softmax(&array![0.5f32, -1.0], &opts).unwrap();
/// // The negative log-likelihood of class 0 has dy = [−1, 0], and gradient p − onehot(0).
/// let dx = softmax::log_softmax_backward(&ly, &array![-1.0, 0.0], &opts).unwrap();
/// let p = softmax::softmax(&array![0.5f32, -1.0], &opts).unwrap();
/// assert!((dx[0] - (p[0] - 1.0)).abs() < 1e-7 && (dx[1] - p[1]).abs() < 1e-7);
/// ```
///
/// # Errors
/// As [`softmax_backward`].
pub fn log_softmax_backward<T, S, S2, D>(
    ly: &ArrayBase<S, D>,
    dy: &ArrayBase<S2, D>,
    opts: &Options<'_>,
) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    let mut out = Array::from_elem(ly.raw_dim(), T::from_f64(0.0));
    backward_dyn(true, ly.view().into_dyn(), dy.view().into_dyn(), out.view_mut().into_dyn(), opts)?;
    Ok(out)
}

/// The softmax backward pass (with `log`, the log-softmax one) of contiguous rows of length
/// `len` (no mask, `τ = 1`) with the vector kernels, for `f32` and `f64`; false (nothing written
/// that counts) where they do not run. Rows they cannot take go to the portable kernel. The
/// log-softmax pass of `f32` rows runs the `f64` kernel on rows widened a block at a time, each
/// result rounded once.
pub(crate) fn vector_backward<T: Element>(log: bool, y: &[T], dy: &[T], dx: &mut [T], len: usize) -> bool {
    let portable = if log { kernels().log_softmax_backward } else { kernels().softmax_backward };
    let fallback64 =
        move |yr: &[f64], dyr: &[f64], dxr: &mut [f64]| portable(yr, dyr, None, Temperature::new(1.0), dxr);
    if let (Some(yd), Some(dyd), Some(od)) = (T::as_f64(y), T::as_f64(dy), T::as_f64_mut(dx)) {
        return fast::softmax_backward_rows_f64(fast::current(), log, yd, dyd, od, len, &fallback64);
    }
    let (Some(yf), Some(dyf), Some(of)) = (T::as_f32(y), T::as_f32(dy), T::as_f32_mut(dx)) else {
        return false;
    };
    if log {
        if len == 0 {
            return true;
        }
        // Blocks of a quarter of GATHER_BLOCK: three f64 buffers of 32 KiB, in L1/L2 and below
        // the allocator's threshold for a fresh mapping (whose page faults each call would pay).
        let per_block = (GATHER_BLOCK / 4 / len).max(1) * len;
        let (mut a, mut b, mut o) = (Vec::new(), Vec::new(), vec![0.0; per_block.min(yf.len())]);
        for ((yb, dyb), ob) in yf.chunks(per_block).zip(dyf.chunks(per_block)).zip(of.chunks_mut(per_block)) {
            a.clear();
            a.extend(yb.iter().map(|&v| f64::from(v)));
            b.clear();
            b.extend(dyb.iter().map(|&v| f64::from(v)));
            let o = &mut o[..yb.len()];
            if !fast::softmax_backward_rows_f64(fast::current(), true, &a, &b, o, len, &fallback64) {
                return false;
            }
            for (dst, &v) in ob.iter_mut().zip(o.iter()) {
                *dst = f32::from_f64(v);
            }
        }
        return true;
    }
    let fallback = move |yr: &[f32], dyr: &[f32], dxr: &mut [f32]| {
        let (a, b): (Vec<f64>, Vec<f64>) =
            yr.iter().zip(dyr).map(|(&p, &q)| (f64::from(p), f64::from(q))).unzip();
        let mut result = vec![0.0; a.len()];
        portable(&a, &b, None, Temperature::new(1.0), &mut result);
        for (o, &v) in dxr.iter_mut().zip(&result) {
            *o = f32::from_f64(v);
        }
    };
    fast::softmax_backward_rows_f32(fast::current(), yf, dyf, of, len, &fallback)
}

/// [`vector_backward`] at any temperature and with an optional mask (one flag per element,
/// laid out as `y`), and for the half types; false (nothing written that counts) where the vector kernels cannot serve:
/// on the portable path, for `f64` at a temperature other than 1, and where `1/τ` is not a
/// normal number.
///
/// - Excluded positions take no part: they become `y = 0` (softmax) or `ly = −inf`
///   (log-softmax) with `dy = 0`, which the kernels give gradient 0 without reading `dy`, and which
///   add nothing to the row's dot product or sum. Their outputs are then set to 0 (a NaN row
///   fills only the positions taking part with NaN).
/// - `f64`, and `f32` softmax, at temperature 1 go through their own kernels; the half types'
///   softmax at temperature 1 through the `f32` one, widened exactly and rounded once to `T`
///   (within half an ulp of `T` of the `f32` result). Otherwise (the
///   half types' log-softmax or temperature, and `f32` at a temperature or for log-softmax) the rows are widened to `f64`, computed by the `f64` kernels at
///   temperature 1, and each result is multiplied by `1/τ` and rounded once to `T`: two roundings
///   of 2⁻⁵³ relative before the last, far below an ulp of `T`.
///
/// Blocks of rows of about 2¹² elements, shared among the pool's threads; each row's arithmetic
/// is the same whatever the split.
pub(crate) fn vector_backward_with<T: Element>(
    log: bool,
    y: &[T],
    dy: &[T],
    dx: &mut [T],
    len: usize,
    tau: f64,
    mask: Option<&[bool]>,
) -> bool {
    use rayon::prelude::*;
    let half = T::half_bits(y).is_some();
    if tau == 1.0 && mask.is_none() && !half {
        return vector_backward(log, y, dy, dx, len);
    }
    if len == 0 || y.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    // (`f32` log-softmax rows would be widened to `f64` by their own path too.)
    let own = tau == 1.0 && ((T::as_f32(y).is_some() && !log) || T::as_f64(y).is_some());
    if !own && (T::as_f64(y).is_some() || !(1.0 / tau).is_normal()) {
        return false;
    }
    // The half types' softmax pass at temperature 1: widened to `f32` (exactly) for its kernel.
    let via_f32 = half && !log && tau == 1.0;
    // (Through `f32`, blocks of 2¹¹: with the widened rows and the result, 32 KiB, in L1; 2¹²
    // measured 7–13 % slower at rows of 1000 and 128, 2¹⁰ no faster.)
    let per_block = ((if via_f32 { 1 << 11 } else { 1 << 12 }) / len).max(1) * len;
    let block = |((yb, dyb), (ob, mb)): BackwardBlock<'_, T>, s: &mut BackwardScratch<T>| -> bool {
        let isa = fast::current();
        let done = if via_f32 {
            let zero = T::from_f64(0.0);
            let (ys, dys) = match mb {
                Some(mb) => {
                    s.y.resize(yb.len(), zero);
                    s.dy.resize(yb.len(), zero);
                    fast::mask_same(isa, yb, mb, zero, &mut s.y);
                    fast::mask_same(isa, dyb, mb, zero, &mut s.dy);
                    (&s.y[..], &s.dy[..])
                }
                None => (yb, dyb),
            };
            s.y32.resize(yb.len(), 0.0);
            s.dy32.resize(yb.len(), 0.0);
            s.wide.resize(yb.len(), 0.0);
            T::widen_to_f32(ys, &mut s.y32);
            T::widen_to_f32(dys, &mut s.dy32);
            let ok = vector_backward(false, &s.y32, &s.dy32, &mut s.wide, len);
            if ok {
                T::narrow_from_f32(&s.wide, ob);
            }
            ok
        } else if let (true, Some(mb)) = (own, mb) {
            // (At temperature 1 there is always a mask here.)
            let excluded = T::from_f64(if log { f64::NEG_INFINITY } else { 0.0 });
            let zero = T::from_f64(0.0);
            s.y.resize(yb.len(), zero);
            s.dy.resize(yb.len(), zero);
            fast::mask_same(isa, yb, mb, excluded, &mut s.y);
            fast::mask_same(isa, dyb, mb, zero, &mut s.dy);
            vector_backward(log, &s.y, &s.dy, ob, len)
        } else {
            let excluded = if log { f64::NEG_INFINITY } else { 0.0 };
            s.y64.resize(yb.len(), 0.0);
            s.dy64.resize(yb.len(), 0.0);
            fast::mask_widen(isa, yb, mb, excluded, &mut s.y64);
            fast::mask_widen(isa, dyb, mb, 0.0, &mut s.dy64);
            s.out.resize(yb.len(), 0.0);
            let portable = if log { kernels().log_softmax_backward } else { kernels().softmax_backward };
            let fallback = move |yr: &[f64], dyr: &[f64], dxr: &mut [f64]| {
                portable(yr, dyr, None, Temperature::new(1.0), dxr)
            };
            let ok = fast::softmax_backward_rows_f64(isa, log, &s.y64, &s.dy64, &mut s.out, len, &fallback);
            if ok {
                if half {
                    // Round to odd in `f32`, then to nearest in `T`: one correct rounding.
                    s.wide.resize(yb.len(), 0.0);
                    fast::narrow_to_odd_f32(isa, &s.out, 1.0 / tau, &mut s.wide);
                    T::narrow_from_f32(&s.wide, ob);
                } else {
                    fast::narrow_from_f64(isa, &s.out, 1.0 / tau, ob);
                }
            }
            ok
        };
        if let Some(mb) = mb {
            fast::zero_masked(isa, mb, ob);
        }
        done
    };
    let mask_blocks = mask_chunks(mask, y.len(), per_block);
    let scratch = BackwardScratch::<T>::default;
    if split_slabs(y.len(), per_block) {
        y.par_chunks(per_block)
            .zip(dy.par_chunks(per_block))
            .zip(dx.par_chunks_mut(per_block).zip(mask_blocks))
            .map_init(scratch, |s, b| block(b, s))
            .all(|ok| ok)
    } else {
        let mut s = scratch();
        y.chunks(per_block)
            .zip(dy.chunks(per_block))
            .zip(dx.chunks_mut(per_block).zip(mask_blocks))
            .all(|b| block(b, &mut s))
    }
}

/// One block of [`vector_backward_with`]: `((y, dy), (dx, mask))`.
type BackwardBlock<'a, T> = ((&'a [T], &'a [T]), (&'a mut [T], Option<&'a [bool]>));

/// Scratch of [`vector_backward_with`] for one block of rows.
struct BackwardScratch<T> {
    /// Masked rows in their own type.
    y: Vec<T>,
    dy: Vec<T>,
    /// A half type's rows widened to `f32` (softmax at temperature 1).
    y32: Vec<f32>,
    dy32: Vec<f32>,
    /// Rows widened to `f64`, the results, and a half type's results in `f32` (rounded to odd
    /// from `f64`, or the `f32` kernel's).
    y64: Vec<f64>,
    dy64: Vec<f64>,
    out: Vec<f64>,
    wide: Vec<f32>,
}

impl<T> Default for BackwardScratch<T> {
    fn default() -> Self {
        BackwardScratch {
            y: Vec::new(),
            dy: Vec::new(),
            y32: Vec::new(),
            dy32: Vec::new(),
            y64: Vec::new(),
            dy64: Vec::new(),
            out: Vec::new(),
            wide: Vec::new(),
        }
    }
}

/// The softmax or log-softmax backward pass through the vector kernels ([`vector_backward_with`],
/// so at any temperature, with a mask, and for every type) along any axis and any layout:
/// contiguous rows in place; lanes along another axis (and the mask's) copied a block at a time
/// into rows (the tiled transposes of the forward pass) and their results copied back; views not
/// in standard order copied into it first. Each lane gets exactly what its values give as a
/// contiguous row. False where those kernels do not serve (the portable path, `f64` at a
/// temperature; nothing written that counts).
fn laid_out_backward<T: Element>(
    log: bool,
    y: &ArrayViewD<'_, T>,
    dy: &ArrayViewD<'_, T>,
    out: &mut ArrayViewMutD<'_, T>,
    axis: Axis,
    opts: &Options<'_>,
) -> bool {
    let k = y.shape()[axis.index()];
    if k == 0 || y.is_empty() || fast::current() == fast::Isa::Portable {
        return false;
    }
    let tau = opts.temperature;
    let (y, dy) = (y.as_standard_layout(), dy.as_standard_layout());
    let (Some(ys), Some(dys)) = (y.as_slice(), dy.as_slice()) else { return false };
    let inner: usize = y.shape()[axis.index() + 1..].iter().product();
    let lanes = lanes_per_block(k, inner);
    let zero = T::from_f64(0.0);
    let flags = if opts.mask.is_some() { lanes * k } else { 0 };
    let buffers =
        || (vec![zero; lanes * k], vec![zero; lanes * k], vec![zero; lanes * k], vec![false; flags]);
    // One slab (an index of the axes before `axis`) with its part of the mask, its blocks of
    // lanes in turn.
    type Buffers<T> = (Vec<T>, Vec<T>, Vec<T>, Vec<bool>);
    type Slab<'a, T> = (((&'a [T], &'a [T]), &'a mut [T]), Option<&'a [bool]>);
    let slab = |(((yo, dyo), xo), mo): Slab<'_, T>, (y_rows, dy_rows, dx_rows, kept): &mut Buffers<T>| {
        for j0 in (0..inner).step_by(lanes) {
            let b = lanes.min(inner - j0);
            lanes_to_rows(yo, y_rows, k, inner, j0, b);
            lanes_to_rows(dyo, dy_rows, k, inner, j0, b);
            let m = mo.map(|mo| {
                lanes_to_rows(mo, kept, k, inner, j0, b);
                &kept[..b * k]
            });
            let (yr, dyr) = (&y_rows[..b * k], &dy_rows[..b * k]);
            if !vector_backward_with(log, yr, dyr, &mut dx_rows[..b * k], k, tau, m) {
                return false;
            }
            rows_to_lanes(dx_rows, xo, k, inner, j0, b);
        }
        true
    };
    let run = |os: &mut [T], mask: Option<&[bool]>| -> bool {
        use rayon::prelude::*;
        if inner == 1 {
            return vector_backward_with(log, ys, dys, os, k, tau, mask);
        }
        let size = k * inner;
        let mask_slabs = mask_chunks(mask, ys.len(), size);
        if split_slabs(ys.len(), size) {
            let slabs = ys.par_chunks(size).zip(dys.par_chunks(size)).zip(os.par_chunks_mut(size));
            slabs.zip(mask_slabs).map_init(buffers, |b, s| slab(s, b)).all(|ok| ok)
        } else {
            let mut b = buffers();
            let slabs = ys.chunks(size).zip(dys.chunks(size)).zip(os.chunks_mut(size));
            slabs.zip(mask_slabs).all(|s| slab(s, &mut b))
        }
    };
    let run = |os: &mut [T]| with_mask_rows(opts.mask.as_ref(), |mask| run(os, mask));
    if let Some(os) = out.as_slice_mut() {
        return run(os);
    }
    // An output not in standard order: computed into one that is, then copied in logical order.
    let mut dx = vec![T::from_f64(0.0); ys.len()];
    if !run(&mut dx) {
        return false;
    }
    for (dst, &v) in out.iter_mut().zip(&dx) {
        *dst = v;
    }
    true
}

fn backward_dyn<T: Element>(
    log: bool,
    y: ArrayViewD<'_, T>,
    dy: ArrayViewD<'_, T>,
    mut out: ArrayViewMutD<'_, T>,
    opts: &Options<'_>,
) -> Result<()> {
    let axis = Axis(check_axis(opts.axis, y.ndim())?);
    check_temperature(opts.temperature)?;
    check_same_shape("the upstream gradient dy", dy.shape(), y.shape())?;
    check_mask(opts.mask.as_ref(), y.shape())?;
    let tau = Temperature::new(opts.temperature);
    if laid_out_backward(log, &y, &dy, &mut out, axis, opts) {
        return Ok(());
    }
    let k = kernels_for::<T>();
    let row_kernel = if log { k.log_softmax_backward } else { k.softmax_backward };
    let (mut y_row, mut dy_row, mut mask_row, mut result) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    let lanes = y.lanes(axis).into_iter().zip(dy.lanes(axis)).zip(out.lanes_mut(axis));
    for ((y_lane, dy_lane), out_lane) in lanes {
        load(y_lane, &mut y_row);
        load(dy_lane, &mut dy_row);
        result.resize(y_row.len(), 0.0);
        let mask = next_mask_row(&mut mask_lanes, &mut mask_row);
        row_kernel(&y_row, &dy_row, mask, tau, &mut result);
        store(&result, out_lane);
    }
    Ok(())
}

/// The backward pass of [`crate::sigmoid`]: `dx = dy ⊙ y ⊙ (1 − y) / τ`, element by element
/// (masked positions get 0).
///
/// ```
/// use ndarray::array;
/// let dx = softmax::sigmoid_backward(&array![0.5f64], &array![2.0], &softmax::Options::new()).unwrap();
/// assert_eq!(dx[0], 0.5);
/// ```
///
/// # Errors
/// A bad temperature, or `dy` (or the mask) of another shape than `y`.
pub fn sigmoid_backward<T, S, S2, D>(
    y: &ArrayBase<S, D>,
    dy: &ArrayBase<S2, D>,
    opts: &Options<'_>,
) -> Result<Array<T, D>>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    check_temperature(opts.temperature)?;
    check_same_shape("the upstream gradient dy", dy.shape(), y.shape())?;
    check_mask(opts.mask.as_ref(), y.shape())?;
    let tau = Temperature::new(opts.temperature);
    let mut out = Array::from_elem(y.raw_dim(), T::from_f64(0.0));
    let grad = |y: &T, dy: &T| T::from_f64(sigmoid_backward_one(y.to_f64(), dy.to_f64(), tau));
    let mut out_dyn = out.view_mut().into_dyn();
    let (y, dy) = (y.view().into_dyn(), dy.view().into_dyn());
    match &opts.mask {
        None => Zip::from(&mut out_dyn).and(&y).and(&dy).for_each(|o, y, dy| *o = grad(y, dy)),
        Some(mask) => Zip::from(&mut out_dyn)
            .and(&y)
            .and(&dy)
            .and(mask)
            .for_each(|o, y, dy, &keep| *o = if keep { grad(y, dy) } else { T::from_f64(0.0) }),
    }
    Ok(out)
}

/// The softmax Jacobian of every row along `opts.axis`: an array of shape
/// `(…, K, K)`, where `…` is the shape of `x` without the axis and
/// `J[…, i, j] = (δᵢⱼ yᵢ − yᵢ yⱼ) / τ` with `y = softmax(x)`. Masked positions have zero rows and
/// columns under every policy (a Jacobian is a gradient: no NaN reaches a masked position).
///
/// ```
/// use ndarray::array;
/// let x = array![[0.0f64, 0.0], [1.0, 1.0]];
/// let j = softmax::softmax_jacobian(&x, &softmax::Options::new()).unwrap();
/// assert_eq!(j.shape(), &[2, 2, 2]);
/// assert_eq!(j[[1, 0, 0]], 0.25);
/// assert_eq!(j[[1, 0, 1]], -0.25);
/// ```
///
/// # Errors
/// As [`crate::softmax`], and a Jacobian too large to allocate (`rows · K²` elements).
pub fn softmax_jacobian<T, S, D>(x: &ArrayBase<S, D>, opts: &Options<'_>) -> Result<ArrayD<T>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let x = x.view().into_dyn();
    let axis_index = check_axis(opts.axis, x.ndim())?;
    let axis = Axis(axis_index);
    check_temperature(opts.temperature)?;
    check_mask(opts.mask.as_ref(), x.shape())?;
    let tau = Temperature::new(opts.temperature);
    let k = x.len_of(axis);
    let mut shape: Vec<usize> = x.shape().to_vec();
    shape.remove(axis_index);
    let rows: usize = shape.iter().product();
    shape.extend([k, k]);
    let too_big = || {
        Error::new(
            ErrorKind::Shape,
            format!("the Jacobian of shape {shape:?} is too large to allocate", shape = shape.as_slice()),
        )
    };
    let block_len = k.checked_mul(k).ok_or_else(too_big)?;
    let total = rows.checked_mul(block_len).ok_or_else(too_big)?;
    let mut data = Vec::new();
    data.try_reserve_exact(total).map_err(|_| too_big())?;
    if total == 0 {
        return ArrayD::from_shape_vec(shape, data)
            .map_err(|e| Error::new(ErrorKind::Shape, format!("internal error: Jacobian shape: {e}")));
    }
    let (mut row, mut mask_row, mut probs, mut block) =
        (Vec::new(), Vec::new(), vec![0.0; k], vec![0.0; block_len]);
    let mut mask_lanes = opts.mask.as_ref().map(|m| m.lanes(axis).into_iter());
    for x_lane in x.lanes(axis) {
        load(x_lane, &mut row);
        let mask = next_mask_row(&mut mask_lanes, &mut mask_row);
        normalize_row::<T>(Normalize::Softmax, &row, mask, tau, opts.masked_rows, &mut probs);
        softmax_jacobian_row(&probs, mask, tau, &mut block);
        data.extend(block.iter().map(|&v| T::from_f64(v)));
    }
    ArrayD::from_shape_vec(shape, data)
        .map_err(|e| Error::new(ErrorKind::Shape, format!("internal error: Jacobian shape: {e}")))
}
