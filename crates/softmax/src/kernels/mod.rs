//! Row kernels: they know softmax and nothing about shapes.
//!
//! Every kernel reads a row already widened to `f64` and writes `f64` results that the caller
//! rounds once into the element type. The forward kernels come in two precisions
//! ([`forward::Exact`] for `f64` results, [`forward::Narrow`] for 24 bits or fewer), chosen by
//! the element type. The kernels are reached through [`dispatch`], the one place
//! that chooses an instruction set; this version has the portable path only (the vectorised
//! paths build on it and are checked against it).

pub(crate) mod backward;
pub(crate) mod dd;
pub(crate) mod dispatch;
pub(crate) mod exp;
pub(crate) mod fast;
pub(crate) mod forward;
pub(crate) mod loss;
pub(crate) mod sigmoid;
