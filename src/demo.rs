//! The demo split, for the binary's callers and tests: everything about it (instances,
//! repository trees, where a run finds them) lives next to `Split::Demo` in
//! `agentless_harness::dataset::demo`; this module only re-exports it.

pub use agentless_harness::dataset::demo::{DemoRepos, instances};
