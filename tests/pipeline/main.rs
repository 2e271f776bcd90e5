//! The whole pipeline (`eval`) end to end, one test binary (each module was a binary of its
//! own): recorded answers on the demo split in Docker ([`demo`]), resume against a counting
//! loopback server ([`resume`]), integrity findings in the final evaluation
//! ([`integrity_eval`]) and the real default model ([`default_model`]). The Docker runs
//! take [`common::docker::serial`], so they still run one at a time.

#[path = "../common/mod.rs"]
mod common;

mod default_model;
mod demo;
mod integrity_eval;
mod resume;
