"""Type stubs of softmax_rs: the softmax family on numpy arrays, exact to the last bits."""

from typing import Literal, Optional, Sequence, Tuple, TypeVar, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

__all__ = [
    "__version__",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "isa",
    "log_sigmoid",
    "log_softmax",
    "log_softmax_backward",
    "logsumexp",
    "nll_loss",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "softmax_jacobian",
]

_F = TypeVar("_F", np.float16, np.float32, np.float64)
# An ndarray keeps its dtype; Python numbers and sequences are taken as float64.
_Floats = Union[npt.NDArray[_F], float, Sequence[float], Sequence[Sequence[float]]]
_Mask = Union[npt.NDArray[np.bool_], Sequence[bool], Sequence[Sequence[bool]], None]
_Classes = Union[npt.NDArray[np.integer], Sequence[int]]
_MaskedRows = Literal["nan", "zeros"]
_Reduction = Literal["none", "sum", "mean"]
# A reduced loss is a numpy scalar of the input's dtype; reduction="none" gives an array.
_Loss = Union[_F, npt.NDArray[_F]]

def isa() -> str:
    """The row-kernel implementation in use ("portable", or the instruction set chosen at run time)."""

def softmax(
    x: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    masked_rows: _MaskedRows = "nan",
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """Softmax along an axis: exp(x/τ − m) / Σ exp(x/τ − m), within 2 ulp of the exact result."""

def log_softmax(
    x: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    masked_rows: _MaskedRows = "nan",
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """Log-softmax along an axis: x/τ − m − ln Σ exp(x/τ − m), never computed as log(softmax)."""

def logsumexp(
    x: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    masked_rows: _MaskedRows = "nan",
    keepdims: bool = False,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """log Σ exp(x/τ) along an axis, which is removed (kept with length 1 if keepdims)."""

def sigmoid(
    x: _Floats[_F],
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """The logistic sigmoid 1 / (1 + exp(−x/τ)), element by element."""

def log_sigmoid(
    x: _Floats[_F],
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """log(sigmoid(x/τ)) = −softplus(−x/τ), element by element."""

def softmax_backward(
    y: _Floats[_F],
    dy: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """The backward pass of softmax: dx = y ⊙ (dy − ⟨dy, y⟩) / τ along the axis."""

def log_softmax_backward(
    ly: _Floats[_F],
    dy: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """The backward pass of log_softmax: dx = (dy − exp(ly) · Σ dy) / τ along the axis."""

def sigmoid_backward(
    y: _Floats[_F],
    dy: _Floats[_F],
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """The backward pass of sigmoid: dx = dy ⊙ y ⊙ (1 − y) / τ."""

def softmax_jacobian(
    x: _Floats[_F],
    axis: int = -1,
    *,
    temperature: float = 1.0,
    where: _Mask = None,
    masked_rows: _MaskedRows = "nan",
    out: Optional[npt.NDArray[_F]] = None,
) -> npt.NDArray[_F]:
    """The softmax Jacobian of every row along the axis, shape (…, K, K)."""

@overload
def cross_entropy(
    logits: _Floats[_F],
    target: Union[_Classes, _Floats[_F]],
    *,
    weight: Optional[_Floats[_F]] = None,
    ignore_index: Optional[int] = -100,
    label_smoothing: float = 0.0,
    reduction: _Reduction = "mean",
    axis: Optional[int] = None,
    return_grad: Literal[False] = False,
    grad_out: None = None,
) -> _Loss[_F]: ...
@overload
def cross_entropy(
    logits: _Floats[_F],
    target: Union[_Classes, _Floats[_F]],
    *,
    weight: Optional[_Floats[_F]] = None,
    ignore_index: Optional[int] = -100,
    label_smoothing: float = 0.0,
    reduction: _Reduction = "mean",
    axis: Optional[int] = None,
    return_grad: Literal[True],
    grad_out: Optional[npt.NDArray[_F]] = None,
) -> Tuple[_Loss[_F], npt.NDArray[_F]]: ...
@overload
def nll_loss(
    log_probs: _Floats[_F],
    target: _Classes,
    *,
    weight: Optional[_Floats[_F]] = None,
    ignore_index: Optional[int] = -100,
    reduction: _Reduction = "mean",
    axis: Optional[int] = None,
    return_grad: Literal[False] = False,
) -> _Loss[_F]: ...
@overload
def nll_loss(
    log_probs: _Floats[_F],
    target: _Classes,
    *,
    weight: Optional[_Floats[_F]] = None,
    ignore_index: Optional[int] = -100,
    reduction: _Reduction = "mean",
    axis: Optional[int] = None,
    return_grad: Literal[True],
) -> Tuple[_Loss[_F], npt.NDArray[_F]]: ...
@overload
def binary_cross_entropy_with_logits(
    x: _Floats[_F],
    target: _Floats[_F],
    *,
    weight: Optional[_Floats[_F]] = None,
    pos_weight: Optional[_Floats[_F]] = None,
    reduction: _Reduction = "mean",
    return_grad: Literal[False] = False,
) -> _Loss[_F]: ...
@overload
def binary_cross_entropy_with_logits(
    x: _Floats[_F],
    target: _Floats[_F],
    *,
    weight: Optional[_Floats[_F]] = None,
    pos_weight: Optional[_Floats[_F]] = None,
    reduction: _Reduction = "mean",
    return_grad: Literal[True],
) -> Tuple[_Loss[_F], npt.NDArray[_F]]: ...
