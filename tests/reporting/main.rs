//! The reporters end to end, one test binary (each module was a binary of its own; one link
//! of the crate instead of six): the report page in a real browser ([`html`]), the JUnit
//! XML against its schema ([`junit`]), the regression gate ([`gate`]), the leaderboard
//! export ([`export`]), submission to a loopback SWE-bench API ([`submit`]), and all of them
//! on a real demo run in Docker ([`demo`]).

#[path = "../common/mod.rs"]
mod common;

mod demo;
mod export;
mod gate;
mod html;
mod junit;
mod submit;
