//! The softmax family, exact to the last bits.
#![deny(missing_docs)]

mod element;
mod error;
mod kernels;
pub mod nn;
mod ops;
mod options;
pub mod slice;
mod stream;

pub use element::Element;
pub use error::{Error, ErrorKind, Result};
pub use ops::backward::{log_softmax_backward, sigmoid_backward, softmax_backward, softmax_jacobian};
pub use ops::forward::{
    log_sigmoid, log_softmax, log_softmax_into, logsumexp, sigmoid, softmax, softmax_into,
};
pub use ops::loss::{
    BceOptions, LossOptions, Reduction, Target, binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_with_grad, cross_entropy, cross_entropy_with_grad, nll_loss,
    nll_loss_with_grad,
};
pub use options::{MaskedRows, Options, RowOptions};
pub use stream::LseStats;

/// The name of the row-kernel implementation this process uses (`"portable"` in this version).
pub fn isa() -> &'static str {
    kernels::dispatch::kernels().name
}
