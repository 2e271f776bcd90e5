//! Publishing a run outside this machine: what leaves for a leaderboard or an evaluation
//! service. Nothing here changes a run's results; it reads the run directory (through
//! [`crate::artifact::RunDir`]) and the evaluation's reports (through [`crate::reporting`]).
//!
//! - [`export`]: the SWE-bench experiments submission layout.
//! - [`submit`]: the sb-cli submission flow against the SWE-bench API (retries through the
//!   model crate's [`agentless_model::retry::RetryPolicy`]).
//!
//! Libraries never print: every function returns a typed value or an error.

pub mod export;
pub mod submit;
