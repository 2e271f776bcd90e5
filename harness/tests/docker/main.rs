//! The sandbox against the real Docker engine, one test binary (each module was a binary of
//! its own): commands, timeouts, output caps and image builds ([`sandbox`]), the limits
//! ([`limits`]), the 4.x and 5.x apply cascades ([`apply_cascades`]) and pulls from a
//! loopback registry ([`registry`]). These tests FAIL when the engine is unreachable.

#[path = "../common/mod.rs"]
mod common;

mod apply_cascades;
mod limits;
mod registry;
mod sandbox;
