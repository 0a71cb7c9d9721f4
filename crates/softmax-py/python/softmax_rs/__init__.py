"""The softmax family on numpy arrays, exact to the last bits.

``softmax``, ``log_softmax``, ``logsumexp``, ``sigmoid`` and ``log_sigmoid`` along any axis of
float16, float32 or float64 arrays of any rank and strides; their backward passes and the
batched Jacobian; ``cross_entropy``, ``nll_loss`` and ``binary_cross_entropy_with_logits`` with
the semantics of ``torch.nn.functional``. Every output is within 2 ulp of the exact result (in
practice correctly rounded). The GIL is released while the kernels run.

Errors: ``TypeError`` for a wrong dtype or type, ``ValueError`` for bad values, shapes, axes or
class indices, with a message that names the value and where it is.

>>> import numpy as np, softmax_rs
>>> softmax_rs.softmax(np.array([1.0, 2.0, 3.0], dtype=np.float32))
array([0.09003057, 0.24472848, 0.66524094], dtype=float32)
"""

from ._softmax_rs import (
    __version__,
    binary_cross_entropy_with_logits,
    cross_entropy,
    isa,
    log_sigmoid,
    log_softmax,
    log_softmax_backward,
    logsumexp,
    nll_loss,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    softmax_jacobian,
)

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
