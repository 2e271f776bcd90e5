//! Side by side with the official SWE-bench packages (the parity interpreters of
//! `scripts/setup-parity-env.sh`), one test binary: log parsers and grading ([`official`]),
//! eval, repository and environment scripts ([`scripts`]).

#[path = "../common/mod.rs"]
mod common;

mod official;
mod scripts;
