//! Losses with the semantics of `torch.nn.functional`: cross-entropy (class indices or
//! probabilities, class weights, `ignore_index`, label smoothing), NLL, and binary cross-entropy
//! with logits.

use ndarray::{
    Array, ArrayBase, ArrayD, ArrayView, ArrayView1, ArrayView1 as Lane, ArrayViewD, ArrayViewMutD, Axis,
    Data, DataMut, Dimension, IxDyn,
};

use super::{check_same_shape, lanes_per_block, lanes_to_rows, load, rows_to_lanes, split_slabs, store};
use crate::element::Element;
use crate::error::{Error, ErrorKind, Result};
use crate::kernels::dd::Dd;
use crate::kernels::fast;
use crate::kernels::loss::{bce_with_logits_one, cross_entropy_row};
use crate::options::check_axis;

/// How per-sample losses are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// One loss per sample, in the shape of the batch.
    None,
    /// The sum of the per-sample losses.
    Sum,
    /// The mean, as PyTorch defines it: for class-index targets the sum divided by the summed
    /// class weights of the targets that are not ignored (so NaN when every target is ignored);
    /// for probability targets and binary cross-entropy the sum divided by the number of samples.
    #[default]
    Mean,
}

/// The target of [`cross_entropy`].
#[derive(Clone, Debug)]
pub enum Target<'a, T> {
    /// One class index per sample: the logits' shape without the class axis.
    Classes(ArrayViewD<'a, i64>),
    /// A probability per class and sample: the logits' shape.
    Probs(ArrayViewD<'a, T>),
}

impl<'a, T> Target<'a, T> {
    /// Class-index targets of any dimension type.
    pub fn classes<D: Dimension>(target: ArrayView<'a, i64, D>) -> Self {
        Target::Classes(target.into_dyn())
    }

    /// Probability targets of any dimension type.
    pub fn probs<D: Dimension>(target: ArrayView<'a, T, D>) -> Self {
        Target::Probs(target.into_dyn())
    }
}

/// Options of [`cross_entropy`] and [`nll_loss`], with PyTorch's defaults.
#[derive(Clone, Debug)]
pub struct LossOptions<'a, T> {
    /// The class axis; `None` means PyTorch's convention: axis 1, or 0 for 1-D logits.
    pub class_axis: Option<isize>,
    /// A weight per class (length = number of classes).
    pub weight: Option<ArrayView1<'a, T>>,
    /// Class-index targets equal to this are ignored: loss 0, gradient 0, and no part in the
    /// mean. Default `Some(-100)`, as in PyTorch.
    pub ignore_index: Option<i64>,
    /// Label smoothing `ε ∈ [0, 1]`: the target becomes `(1 − ε)·target + ε/K`.
    pub label_smoothing: f64,
    /// How per-sample losses are combined.
    pub reduction: Reduction,
}

impl<T> Default for LossOptions<'_, T> {
    fn default() -> Self {
        LossOptions {
            class_axis: None,
            weight: None,
            ignore_index: Some(-100),
            label_smoothing: 0.0,
            reduction: Reduction::Mean,
        }
    }
}

impl<'a, T> LossOptions<'a, T> {
    /// PyTorch's defaults: class axis 1 (0 for 1-D), no weights, `ignore_index = -100`, no
    /// smoothing, mean.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the class axis.
    pub fn class_axis(mut self, axis: isize) -> Self {
        self.class_axis = Some(axis);
        self
    }
    /// Sets the class weights.
    pub fn weight(mut self, weight: ArrayView1<'a, T>) -> Self {
        self.weight = Some(weight);
        self
    }
    /// Sets (or, with `None`, removes) the ignored class index.
    pub fn ignore_index(mut self, index: Option<i64>) -> Self {
        self.ignore_index = index;
        self
    }
    /// Sets the label smoothing.
    pub fn label_smoothing(mut self, epsilon: f64) -> Self {
        self.label_smoothing = epsilon;
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// Options of [`binary_cross_entropy_with_logits`].
#[derive(Clone, Debug)]
pub struct BceOptions<'a, T> {
    /// A weight per element, broadcast to the logits' shape.
    pub weight: Option<ArrayViewD<'a, T>>,
    /// A weight for the positive term, broadcast to the logits' shape (usually one per class,
    /// along the last axis).
    pub pos_weight: Option<ArrayViewD<'a, T>>,
    /// How the element losses are combined (mean: over all elements).
    pub reduction: Reduction,
}

impl<T> Default for BceOptions<'_, T> {
    fn default() -> Self {
        BceOptions { weight: None, pos_weight: None, reduction: Reduction::Mean }
    }
}

impl<'a, T> BceOptions<'a, T> {
    /// No weights, mean reduction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the element weights.
    pub fn weight<D: Dimension>(mut self, weight: ArrayView<'a, T, D>) -> Self {
        self.weight = Some(weight.into_dyn());
        self
    }
    /// Sets the positive-term weights.
    pub fn pos_weight<D: Dimension>(mut self, pos_weight: ArrayView<'a, T, D>) -> Self {
        self.pos_weight = Some(pos_weight.into_dyn());
        self
    }
    /// Sets the reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// Cross-entropy of `logits` against `target`, with the semantics of
/// `torch.nn.functional.cross_entropy`; see [`cross_entropy_with_grad`] for the gradient too.
///
/// The result has the batch shape (`Reduction::None`) or is 0-dimensional. Each per-sample loss
/// is within a few ulp of the exact value: it is `Σⱼ aⱼ · (−log_softmax(x)ⱼ)`, a sum of
/// non-negative terms accumulated in double-double. A term whose coefficient is 0 contributes 0
/// even where the log-probability is `−inf` (where PyTorch's probability-target path gives NaN).
///
/// ```
/// use ndarray::array;
/// use softmax::{LossOptions, Target};
/// let logits = array![[2.0f64, 0.0, -1.0], [0.0, 3.0, 0.0]];
/// let target = array![0i64, 1];
/// let loss = softmax::cross_entropy(&logits, Target::classes(target.view()), &LossOptions::new()).unwrap();
/// let expected = (-softmax::log_softmax(&logits, &Default::default()).unwrap()[[0, 0]]
///     - softmax::log_softmax(&logits, &Default::default()).unwrap()[[1, 1]]) / 2.0;
/// assert!((loss[[]] - expected).abs() < 1e-15);
/// ```
///
/// # Errors
/// Logits of rank 0, a class axis out of range, a target of the wrong shape, a class index out of
/// range (the message names its position), a weight vector of the wrong length, or a label
/// smoothing outside `[0, 1]`.
pub fn cross_entropy<T, S, D>(
    logits: &ArrayBase<S, D>,
    target: Target<'_, T>,
    opts: &LossOptions<'_, T>,
) -> Result<ArrayD<T>>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    cross_entropy_dyn(logits.view().into_dyn(), &target, opts, None)
}

/// [`cross_entropy`] and `∂loss/∂logits` from the same pass (for `Reduction::None`, the gradient
/// of the summed losses).
///
/// ```
/// use ndarray::array;
/// use softmax::{LossOptions, Target};
/// let logits = array![[0.0f32, 0.0]];
/// let (loss, grad) = softmax::cross_entropy_with_grad(
///     &logits, Target::classes(array![1i64].view()), &LossOptions::new()).unwrap();
/// assert!((loss[[]] - std::f32::consts::LN_2).abs() < 1e-7);
/// assert_eq!(grad, array![[0.5f32, -0.5]]);
/// ```
///
/// # Errors
/// As [`cross_entropy`].
pub fn cross_entropy_with_grad<T, S, D>(
    logits: &ArrayBase<S, D>,
    target: Target<'_, T>,
    opts: &LossOptions<'_, T>,
) -> Result<(ArrayD<T>, Array<T, D>)>
where
    T: Element,
    S: Data<Elem = T>,
    D: Dimension,
{
    let mut grad = ArrayD::from_elem(logits.shape(), T::from_f64(0.0));
    let loss = cross_entropy_dyn(logits.view().into_dyn(), &target, opts, Some(grad.view_mut()))?;
    Ok((loss, super::into_dim(grad)?))
}

/// [`cross_entropy_with_grad`] writing the gradient into `grad` (of the logits' shape, any
/// layout) instead of a new array: for training loops that keep their buffers. Returns the loss.
///
/// ```
/// use ndarray::{Array2, array};
/// use softmax::{LossOptions, Target};
/// let logits = array![[0.0f32, 0.0], [1.0, -1.0]];
/// let mut grad = Array2::zeros((2, 2));
/// let target = array![1i64, 0];
/// let loss = softmax::cross_entropy_with_grad_into(
///     &logits, Target::classes(target.view()), &LossOptions::new(), &mut grad).unwrap();
/// let (want_loss, want_grad) =
///     softmax::cross_entropy_with_grad(&logits, Target::classes(target.view()), &LossOptions::new()).unwrap();
/// assert_eq!((loss, grad), (want_loss, want_grad));
/// ```
///
/// # Errors
/// As [`cross_entropy`], and a `grad` whose shape is not the logits'.
pub fn cross_entropy_with_grad_into<T, S, SO, D>(
    logits: &ArrayBase<S, D>,
    target: Target<'_, T>,
    opts: &LossOptions<'_, T>,
    grad: &mut ArrayBase<SO, D>,
) -> Result<ArrayD<T>>
where
    T: Element,
    S: Data<Elem = T>,
    SO: DataMut<Elem = T>,
    D: Dimension,
{
    check_same_shape("the gradient", grad.shape(), logits.shape())?;
    if !grad.is_standard_layout() {
        // Computed as into a contiguous buffer, so that where the gradient goes never changes
        // its values.
        let (loss, g) = cross_entropy_with_grad(logits, target, opts)?;
        grad.assign(&g);
        return Ok(loss);
    }
    cross_entropy_dyn(logits.view().into_dyn(), &target, opts, Some(grad.view_mut().into_dyn()))
}

/// The class axis, number of classes and batch shape of a loss call, validated.
struct LossLayout {
    axis: Axis,
    classes: usize,
    batch_shape: Vec<usize>,
}

fn loss_layout<T: Element>(shape: &[usize], opts: &LossOptions<'_, T>, what: &str) -> Result<LossLayout> {
    if shape.is_empty() {
        return Err(Error::new(
            ErrorKind::Shape,
            format!("{what} must have at least one axis (the classes), got a 0-dimensional array"),
        ));
    }
    let default_axis = if shape.len() >= 2 { 1 } else { 0 };
    let axis = check_axis(opts.class_axis.unwrap_or(default_axis), shape.len())?;
    let classes = shape[axis];
    let mut batch_shape = shape.to_vec();
    batch_shape.remove(axis);
    if let Some(w) = &opts.weight
        && w.len() != classes
    {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "the class weights have length {} but there are {classes} classes (axis {axis} of shape {shape:?})",
                w.len()
            ),
        ));
    }
    let eps = opts.label_smoothing;
    if !(0.0..=1.0).contains(&eps) {
        return Err(Error::new(ErrorKind::Option, format!("label_smoothing must be in [0, 1], got {eps}")));
    }
    Ok(LossLayout { axis: Axis(axis), classes, batch_shape })
}

/// Checks class-index targets: the batch shape, and every index in range or ignored.
fn check_classes(
    target: &ArrayViewD<'_, i64>,
    layout: &LossLayout,
    ignore: Option<i64>,
    shape: &[usize],
) -> Result<()> {
    if target.shape() != layout.batch_shape.as_slice() {
        return Err(Error::new(
            ErrorKind::Shape,
            format!(
                "the class-index target has shape {:?} but logits of shape {shape:?} with class axis {} need {:?}",
                target.shape(),
                layout.axis.index(),
                layout.batch_shape
            ),
        ));
    }
    let classes = layout.classes as i64;
    let bad = |c: i64| Some(c) != ignore && !(0..classes).contains(&c);
    // A plain pass first: building each element's index (a dynamic-rank index) would cost more
    // than the loss of a short row.
    if !target.iter().any(|&c| bad(c)) {
        return Ok(());
    }
    for (position, &c) in target.indexed_iter() {
        if bad(c) {
            return Err(Error::new(
                ErrorKind::ClassIndex,
                format!(
                    "class index {c} at position {:?} is out of range for {classes} classes",
                    position.slice()
                ),
            ));
        }
    }
    Ok(())
}

/// Combines per-sample losses (double-double sum) by the reduction.
fn reduce<T: Element>(
    losses: &[f64],
    batch_shape: &[usize],
    reduction: Reduction,
    denominator: Dd,
) -> Result<ArrayD<T>> {
    let sum = || losses.iter().fold(Dd::ZERO, |acc, &l| acc.add_f64(l));
    let value = match reduction {
        Reduction::None => {
            let data = losses.iter().map(|&l| T::from_f64(l)).collect();
            return ArrayD::from_shape_vec(IxDyn(batch_shape), data)
                .map_err(|e| Error::new(ErrorKind::Shape, format!("internal error: loss shape: {e}")));
        }
        Reduction::Sum => sum().to_f64(),
        Reduction::Mean => sum().div(denominator).to_f64(),
    };
    Ok(ArrayD::from_elem(IxDyn(&[]), T::from_f64(value)))
}

/// What every gradient is divided by: the mean's denominator, or 1.
fn gradient_divisor(reduction: Reduction, denominator: Dd) -> f64 {
    if reduction == Reduction::Mean { denominator.to_f64() } else { 1.0 }
}

fn cross_entropy_dyn<T: Element>(
    logits: ArrayViewD<'_, T>,
    target: &Target<'_, T>,
    opts: &LossOptions<'_, T>,
    mut grad: Option<ArrayViewMutD<'_, T>>,
) -> Result<ArrayD<T>> {
    let shape = logits.shape().to_vec();
    let layout = loss_layout(&shape, opts, "the logits")?;
    let (axis, k) = (layout.axis, layout.classes);
    let eps = opts.label_smoothing;
    let weight: Vec<f64> = match &opts.weight {
        Some(w) => w.iter().map(|v| v.to_f64()).collect(),
        None => vec![1.0; k],
    };
    // ε/K and 1 − ε as double-doubles: the coefficients enter the loss unrounded.
    let smooth = if k == 0 { Dd::ZERO } else { Dd::new(eps).div(Dd::new(k as f64)) };
    let keep = Dd::ONE.sub(Dd::new(eps));
    // The mean's denominator first, so that each gradient row is divided before its one store:
    // PyTorch's weighted rule for class indices (summed weights of the targets not ignored), the
    // number of samples for probability targets.
    let denominator = match target {
        Target::Classes(t) => {
            check_classes(t, &layout, opts.ignore_index, &shape)?;
            t.iter()
                .filter(|&&c| Some(c) != opts.ignore_index)
                .fold(Dd::ZERO, |acc, &c| acc.add_f64(weight[c as usize]))
        }
        Target::Probs(t) => {
            check_same_shape("the probability target", t.shape(), &shape)?;
            Dd::new(layout.batch_shape.iter().product::<usize>() as f64)
        }
    };
    let divisor = gradient_divisor(opts.reduction, denominator);
    if let Target::Classes(t) = target
        && eps == 0.0
        && let Some(losses) =
            cross_entropy_fast(&logits, t, &layout, &weight, opts.ignore_index, divisor, grad.as_mut())
    {
        return reduce(&losses, &layout.batch_shape, opts.reduction, denominator);
    }
    // Buffers of a row each, allocated only here: the vectorised path above needs none.
    let (mut row, mut coefficients, mut scratch, mut target_row) =
        (Vec::new(), vec![Dd::ZERO; k], vec![0.0; k], Vec::new());
    let mut row_grad = vec![0.0; k];
    // The path below writes only the gradients of samples it does not ignore.
    if let Some(g) = grad.as_mut() {
        g.fill(T::from_f64(0.0));
    }
    let mut grad_lanes = grad.as_mut().map(|g| g.lanes_mut(axis).into_iter());
    let mut losses = Vec::with_capacity(layout.batch_shape.iter().product());
    // An ignored sample (no coefficients) has loss 0 and keeps its zero gradient, even when every
    // target is ignored and the mean divides by 0 (the loss is then NaN, as in PyTorch).
    let mut sample = |x_lane: Lane<'_, T>, coefficients: Option<&[Dd]>, losses: &mut Vec<f64>| {
        let grad_lane = grad_lanes.as_mut().and_then(Iterator::next);
        let Some(a) = coefficients else {
            losses.push(0.0);
            return;
        };
        load(x_lane, &mut row);
        let g = grad_lane.is_some().then_some(row_grad.as_mut_slice());
        losses.push(cross_entropy_row(&row, a, g, &mut scratch));
        if let Some(lane) = grad_lane {
            if divisor != 1.0 {
                row_grad.iter_mut().for_each(|g| *g /= divisor);
            }
            store(&row_grad, lane);
        }
    };
    match target {
        Target::Classes(t) => {
            for (x_lane, &c) in logits.lanes(axis).into_iter().zip(t.iter()) {
                if Some(c) == opts.ignore_index {
                    sample(x_lane, None, &mut losses);
                    continue;
                }
                let c = c as usize;
                for (a, &w) in coefficients.iter_mut().zip(&weight) {
                    *a = smooth.mul_f64(w);
                }
                coefficients[c] = coefficients[c].add(keep.mul_f64(weight[c]));
                sample(x_lane, Some(&coefficients), &mut losses);
            }
        }
        Target::Probs(t) => {
            for (x_lane, t_lane) in logits.lanes(axis).into_iter().zip(t.lanes(axis)) {
                load(t_lane, &mut target_row);
                for ((a, &w), &p) in coefficients.iter_mut().zip(&weight).zip(&target_row) {
                    *a = keep.mul_f64(p).add(smooth).mul_f64(w);
                }
                sample(x_lane, Some(&coefficients), &mut losses);
            }
        }
    }
    let loss = reduce(&losses, &layout.batch_shape, opts.reduction, denominator)?;
    Ok(loss)
}

/// The vectorised path of [`cross_entropy_dyn`]: `f32`, `f64` or half-type logits (these through
/// [`half_cross_entropy_rows`]), class-index targets, no
/// label smoothing. Returns the per-sample losses (and fills `grad`, which is in standard layout),
/// or `None` where it does not apply (another type, or no vector kernels).
///
/// Logits whose class axis is the last (contiguous rows) go to the row kernels in place. Along
/// another axis (`(N, C, H, W)` logits, PyTorch's layout for per-pixel classes), blocks of
/// adjacent lanes are copied into rows, as softmax does along such an axis, and their gradients
/// copied back; a view not in standard order is copied into it first. Every sample gets exactly
/// what its lane gives as a contiguous row.
fn cross_entropy_fast<T: Element>(
    logits: &ArrayViewD<'_, T>,
    target: &ArrayViewD<'_, i64>,
    layout: &LossLayout,
    weight: &[f64],
    ignore: Option<i64>,
    divisor: f64,
    grad: Option<&mut ArrayViewMutD<'_, T>>,
) -> Option<Vec<f64>> {
    let k = layout.classes;
    let vector_type = T::as_f32(&[]).is_some() || T::as_f64(&[]).is_some() || T::half_bits(&[]).is_some();
    if k == 0 || logits.is_empty() || !vector_type || fast::current() == fast::Isa::Portable {
        return None;
    }
    let x = logits.as_standard_layout();
    let x = x.as_slice()?;
    let grad = match grad {
        Some(g) => Some(g.as_slice_mut()?),
        None => None,
    };
    // In the batch's row-major order, which is the order of the lanes.
    let classes: Vec<Option<usize>> =
        target.iter().map(|&c| (Some(c) != ignore).then_some(c as usize)).collect();
    let mut losses = vec![0.0; classes.len()];
    let scale = fast::CrossEntropyScale { weight, divisor };
    let inner: usize = logits.shape()[layout.axis.index() + 1..].iter().product();
    if inner == 1 {
        cross_entropy_rows(x, k, &classes, &scale, &mut losses, grad)?;
        return Some(losses);
    }
    let lanes = lanes_per_block(k, inner);
    let with_grad = grad.is_some();
    let buffers =
        || (vec![T::from_f64(0.0); lanes * k], vec![T::from_f64(0.0); if with_grad { lanes * k } else { 0 }]);
    // One slab (an index of the batch axes before the class axis): its `inner` samples' classes
    // and losses, its logits and gradient, its blocks of lanes in turn.
    let scale = &scale;
    let slab = |xo: &[T],
                go: Option<&mut [T]>,
                cs: &[Option<usize>],
                ls: &mut [f64],
                (rows, results): &mut (Vec<T>, Vec<T>)| {
        let mut go = go;
        for j0 in (0..inner).step_by(lanes) {
            let b = lanes.min(inner - j0);
            lanes_to_rows(xo, rows, k, inner, j0, b);
            let g = go.is_some().then(|| &mut results[..b * k]);
            cross_entropy_rows(&rows[..b * k], k, &cs[j0..j0 + b], scale, &mut ls[j0..j0 + b], g)?;
            if let Some(g) = go.as_deref_mut() {
                rows_to_lanes(results, g, k, inner, j0, b);
            }
        }
        Some(())
    };
    let size = k * inner;
    let slabs = x.len() / size;
    let done = if split_slabs(x.len(), size) {
        use rayon::prelude::*;
        let per = x.par_chunks(size).zip(classes.par_chunks(inner)).zip(losses.par_chunks_mut(inner));
        match grad {
            Some(g) => per
                .zip(g.par_chunks_mut(size))
                .map_init(buffers, |b, (((xo, cs), ls), go)| slab(xo, Some(go), cs, ls, b))
                .all(|ok| ok.is_some()),
            None => {
                per.map_init(buffers, |b, ((xo, cs), ls)| slab(xo, None, cs, ls, b)).all(|ok| ok.is_some())
            }
        }
    } else {
        let mut b = buffers();
        let mut gs = grad.map(|g| g.chunks_mut(size));
        (0..slabs).all(|o| {
            let go = gs.as_mut().and_then(Iterator::next);
            let samples = o * inner..(o + 1) * inner;
            slab(&x[o * size..(o + 1) * size], go, &classes[samples.clone()], &mut losses[samples], &mut b)
                .is_some()
        })
    };
    done.then_some(losses)
}

/// The fused cross-entropy of contiguous rows of `k` through the vector kernels of `T`; the rows
/// they hand back (a NaN or an infinity, a maximum beyond their range, a weight they cannot fold)
/// through [`cross_entropy_row`] here, one by one. `None` where `T` has no vector kernels.
fn cross_entropy_rows<T: Element>(
    x: &[T],
    k: usize,
    classes: &[Option<usize>],
    scale: &fast::CrossEntropyScale<'_>,
    losses: &mut [f64],
    mut grad: Option<&mut [T]>,
) -> Option<()> {
    let isa = fast::current();
    let rejected = if let Some(x) = T::as_f32(x) {
        let g = match grad.as_deref_mut() {
            Some(g) => Some(T::as_f32_mut(g)?),
            None => None,
        };
        fast::cross_entropy_rows_f32(isa, x, k, classes, scale, losses, g)?
    } else if T::half_bits(x).is_some() {
        half_cross_entropy_rows(x, k, classes, scale, losses, grad.as_deref_mut())?
    } else {
        let g = match grad.as_deref_mut() {
            Some(g) => Some(T::as_f64_mut(g)?),
            None => None,
        };
        fast::cross_entropy_rows_f64(isa, T::as_f64(x)?, k, classes, scale, losses, g)?
    };
    if rejected.is_empty() {
        return Some(());
    }
    let (mut row, mut coefficients, mut scratch) = (vec![0.0; k], vec![Dd::ZERO; k], vec![0.0; k]);
    let mut row_grad = vec![0.0; k];
    for i in rejected {
        // Only rows with a class reach here (ignored rows are always taken).
        let Some(c) = classes[i] else { continue };
        for (v, &xi) in row.iter_mut().zip(&x[i * k..(i + 1) * k]) {
            *v = xi.to_f64();
        }
        coefficients.fill(Dd::ZERO);
        coefficients[c] = Dd::new(scale.weight[c]);
        let g = grad.is_some().then_some(row_grad.as_mut_slice());
        losses[i] = cross_entropy_row(&row, &coefficients, g, &mut scratch);
        if let Some(grad) = grad.as_deref_mut() {
            let divisor = scale.divisor;
            for (dst, &v) in grad[i * k..(i + 1) * k].iter_mut().zip(&row_grad) {
                *dst = T::from_f64(if divisor != 1.0 { v / divisor } else { v });
            }
        }
    }
    Some(())
}

/// [`cross_entropy_rows`] of a half type: blocks of about [`HALF_BLOCK`] elements (whole rows)
/// widened to `f32` (exactly), through the `f32` kernels, and the gradient rounded once to `T`
/// (the `f32` gradient is within 2 ulp of `f32`, so the half-type one within half an ulp of its
/// type plus 2⁻¹²). The blocks are shared among the pool's threads; a row's arithmetic is the
/// same in any block. Returns the rows the kernels hand back, for the caller's exact path.
fn half_cross_entropy_rows<T: Element>(
    x: &[T],
    k: usize,
    classes: &[Option<usize>],
    scale: &fast::CrossEntropyScale<'_>,
    losses: &mut [f64],
    grad: Option<&mut [T]>,
) -> Option<Vec<usize>> {
    let rows = (HALF_BLOCK / k).max(1);
    let block = |b: usize,
                 (xs, cs, ls, gs): HalfBlock<'_, T>,
                 (wide, wide_grad): &mut (Vec<f32>, Vec<f32>)|
     -> Option<Vec<usize>> {
        wide.resize(xs.len(), 0.0);
        T::widen_to_f32(xs, wide);
        let with_grad = gs.is_some();
        wide_grad.resize(if with_grad { xs.len() } else { 0 }, 0.0);
        let g = with_grad.then_some(wide_grad.as_mut_slice());
        let rejected = fast::cross_entropy_rows_f32(fast::current(), wide, k, cs, scale, ls, g)?;
        if let Some(gs) = gs {
            T::narrow_from_f32(wide_grad, gs);
        }
        Some(rejected.into_iter().map(|r| b * rows + r).collect())
    };
    let scratch = || (Vec::new(), Vec::new());
    let parts: Option<Vec<Vec<usize>>> = if split_slabs(x.len(), rows * k) {
        use rayon::prelude::*;
        let per = x.par_chunks(rows * k).zip(classes.par_chunks(rows)).zip(losses.par_chunks_mut(rows));
        match grad {
            Some(g) => per
                .zip(g.par_chunks_mut(rows * k))
                .enumerate()
                .map_init(scratch, |s, (b, (((xs, cs), ls), gs))| block(b, (xs, cs, ls, Some(gs)), s))
                .collect(),
            None => per
                .enumerate()
                .map_init(scratch, |s, (b, ((xs, cs), ls))| block(b, (xs, cs, ls, None), s))
                .collect(),
        }
    } else {
        let mut s = scratch();
        let mut gs = grad.map(|g| g.chunks_mut(rows * k));
        let per = x.chunks(rows * k).zip(classes.chunks(rows)).zip(losses.chunks_mut(rows));
        per.enumerate()
            .map(|(b, ((xs, cs), ls))| block(b, (xs, cs, ls, gs.as_mut().and_then(Iterator::next)), &mut s))
            .collect()
    };
    Some(parts?.concat())
}

/// One block of [`half_cross_entropy_rows`]: its logits, classes, losses and gradient.
type HalfBlock<'a, T> = (&'a [T], &'a [Option<usize>], &'a mut [f64], Option<&'a mut [T]>);

/// The elements of a block of [`half_cross_entropy_rows`]: its `f32` copies (logits and gradient,
/// 32 KiB) stay in L1 and L2 (2¹⁴ measured 5 % slower at rows of 1000 and 128, 2¹¹ no faster).
const HALF_BLOCK: usize = 1 << 12;

/// The negative log-likelihood loss of `log_probs` (for example the output of
/// [`crate::log_softmax`]) at class-index targets: `−w[c] · log_probs[c]` per sample, with the
/// semantics of `torch.nn.functional.nll_loss` (weights, `ignore_index`, reductions).
/// `opts.label_smoothing` must be 0.
///
/// ```
/// use ndarray::array;
/// let lp = array![[-0.1f64, -2.0], [-3.0, -0.05]];
/// let loss = softmax::nll_loss(&lp, &array![0i64, 1], &softmax::LossOptions::new()).unwrap();
/// assert!((loss[[]] - 0.075).abs() < 1e-16);
/// ```
///
/// # Errors
/// As [`cross_entropy`], and a non-zero label smoothing.
pub fn nll_loss<T, S, S2, D, D2>(
    log_probs: &ArrayBase<S, D>,
    target: &ArrayBase<S2, D2>,
    opts: &LossOptions<'_, T>,
) -> Result<ArrayD<T>>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = i64>,
    D: Dimension,
    D2: Dimension,
{
    Ok(nll_dyn(log_probs.view().into_dyn(), target.view().into_dyn(), opts, false)?.0)
}

/// [`nll_loss`] and its gradient with respect to `log_probs` (for `Reduction::None`, the
/// gradient of the summed losses).
///
/// # Errors
/// As [`nll_loss`].
pub fn nll_loss_with_grad<T, S, S2, D, D2>(
    log_probs: &ArrayBase<S, D>,
    target: &ArrayBase<S2, D2>,
    opts: &LossOptions<'_, T>,
) -> Result<(ArrayD<T>, Array<T, D>)>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = i64>,
    D: Dimension,
    D2: Dimension,
{
    let (loss, grad) = nll_dyn(log_probs.view().into_dyn(), target.view().into_dyn(), opts, true)?;
    let grad = grad.unwrap_or_else(|| ArrayD::from_elem(log_probs.shape(), T::from_f64(0.0)));
    Ok((loss, super::into_dim(grad)?))
}

fn nll_dyn<T: Element>(
    log_probs: ArrayViewD<'_, T>,
    target: ArrayViewD<'_, i64>,
    opts: &LossOptions<'_, T>,
    want_grad: bool,
) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
    if opts.label_smoothing != 0.0 {
        return Err(Error::new(
            ErrorKind::Option,
            format!("nll_loss takes no label smoothing (got {}); use cross_entropy", opts.label_smoothing),
        ));
    }
    let shape = log_probs.shape().to_vec();
    let layout = loss_layout(&shape, opts, "the log-probabilities")?;
    check_classes(&target, &layout, opts.ignore_index, &shape)?;
    let weight = |c: usize| opts.weight.as_ref().map_or(1.0, |w| w[c].to_f64());
    let mut losses = Vec::with_capacity(target.len());
    let mut denominator = Dd::ZERO;
    let mut picked = Vec::with_capacity(target.len());
    for (lane, &c) in log_probs.lanes(layout.axis).into_iter().zip(target.iter()) {
        if Some(c) == opts.ignore_index {
            losses.push(0.0);
            picked.push(None);
            continue;
        }
        let c = c as usize;
        let w = weight(c);
        losses.push(Dd::new(-lane[c].to_f64()).mul_f64(w).to_f64());
        denominator = denominator.add_f64(w);
        picked.push(Some((c, w)));
    }
    let loss = reduce(&losses, &layout.batch_shape, opts.reduction, denominator)?;
    let divisor = gradient_divisor(opts.reduction, denominator);
    let grad = want_grad.then(|| {
        let mut grad = ArrayD::from_elem(shape.as_slice(), T::from_f64(0.0));
        for (mut lane, pick) in grad.lanes_mut(layout.axis).into_iter().zip(&picked) {
            if let Some((c, w)) = *pick {
                lane[c] = T::from_f64(-w / divisor);
            }
        }
        grad
    });
    Ok((loss, grad))
}

/// Binary cross-entropy with logits, element by element, with the semantics of
/// `torch.nn.functional.binary_cross_entropy_with_logits`:
/// `w · (p·t·softplus(−x) + (1 − t)·softplus(x))`, computed from softplus (never
/// `ln(sigmoid)`) and without cancellation between the two terms.
///
/// ```
/// use ndarray::array;
/// let x = array![[0.0f64, 50.0]];
/// let t = array![[1.0, 1.0]];
/// let opts = softmax::BceOptions::new().reduction(softmax::Reduction::None);
/// let loss = softmax::binary_cross_entropy_with_logits(&x, &t, &opts).unwrap();
/// assert!((loss[[0, 0]] - std::f64::consts::LN_2).abs() < 1e-16);
/// assert!((loss[[0, 1]] - 1.9287498479639178e-22).abs() < 1e-36);
/// ```
///
/// # Errors
/// A target of another shape than `x`, or weights that do not broadcast to it.
pub fn binary_cross_entropy_with_logits<T, S, S2, D>(
    x: &ArrayBase<S, D>,
    target: &ArrayBase<S2, D>,
    opts: &BceOptions<'_, T>,
) -> Result<ArrayD<T>>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    Ok(bce_dyn(x.view().into_dyn(), target.view().into_dyn(), opts, false)?.0)
}

/// [`binary_cross_entropy_with_logits`] and its gradient with respect to `x` (for
/// `Reduction::None`, the gradient of the summed losses).
///
/// # Errors
/// As [`binary_cross_entropy_with_logits`].
pub fn binary_cross_entropy_with_logits_with_grad<T, S, S2, D>(
    x: &ArrayBase<S, D>,
    target: &ArrayBase<S2, D>,
    opts: &BceOptions<'_, T>,
) -> Result<(ArrayD<T>, Array<T, D>)>
where
    T: Element,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
{
    let (loss, grad) = bce_dyn(x.view().into_dyn(), target.view().into_dyn(), opts, true)?;
    let grad = grad.unwrap_or_else(|| ArrayD::from_elem(x.shape(), T::from_f64(0.0)));
    Ok((loss, super::into_dim(grad)?))
}

/// Broadcasts an optional weight array to `shape`, naming it in the error.
fn broadcast_weight<'a, T>(
    w: &'a Option<ArrayViewD<'a, T>>,
    shape: &[usize],
    what: &str,
) -> Result<Option<ArrayViewD<'a, T>>> {
    match w {
        None => Ok(None),
        Some(w) => w.broadcast(shape).map(Some).ok_or_else(|| {
            Error::new(
                ErrorKind::Shape,
                format!("{what} of shape {:?} does not broadcast to the logits' shape {shape:?}", w.shape()),
            )
        }),
    }
}

fn bce_dyn<T: Element>(
    x: ArrayViewD<'_, T>,
    target: ArrayViewD<'_, T>,
    opts: &BceOptions<'_, T>,
    want_grad: bool,
) -> Result<(ArrayD<T>, Option<ArrayD<T>>)> {
    check_same_shape("the target", target.shape(), x.shape())?;
    let shape = x.shape().to_vec();
    let weight = broadcast_weight(&opts.weight, &shape, "the weight")?;
    let pos_weight = broadcast_weight(&opts.pos_weight, &shape, "pos_weight")?;
    let mut losses = Vec::with_capacity(x.len());
    let mut grads = Vec::with_capacity(if want_grad { x.len() } else { 0 });
    let one =
        |w: &Option<ArrayViewD<'_, T>>, index: &IxDyn| w.as_ref().map_or(1.0, |w| w[index.clone()].to_f64());
    // Logical (row-major) order, whatever the strides, to match the output's layout.
    for ((index, xi), ti) in x.indexed_iter().zip(target.iter()) {
        let (l, g) =
            bce_with_logits_one(xi.to_f64(), ti.to_f64(), one(&pos_weight, &index), one(&weight, &index));
        losses.push(l);
        if want_grad {
            grads.push(g);
        }
    }
    let count = Dd::new(x.len() as f64);
    let loss = reduce(&losses, &shape, opts.reduction, count)?;
    let divisor = gradient_divisor(opts.reduction, count);
    let grad = if want_grad {
        let data = grads.iter().map(|&g| T::from_f64(g / divisor)).collect();
        Some(
            ArrayD::from_shape_vec(IxDyn(&shape), data)
                .map_err(|e| Error::new(ErrorKind::Shape, format!("internal error: gradient shape: {e}")))?,
        )
    } else {
        None
    };
    Ok((loss, grad))
}
