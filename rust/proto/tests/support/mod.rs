//! Test support: a reference endpoint that drives the core, and a simulated network.
//!
//! Shared by the integration tests (`mod support;`) and the fuzz targets
//! (`#[path = "../../tests/support/mod.rs"]`). It uses `std` freely; the
//! kernel socket layer does the same job with skbs, wait queues and timers.

#![allow(dead_code)]

pub mod endpoint;
pub mod net;
pub mod pair;
pub mod rng;
