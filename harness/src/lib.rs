//! agentless-harness: everything about executing and judging SWE-bench instances.
//!
//! Datasets (`dataset`), log parsers (`parse`), grading (`grade`) and the official report
//! formats (`report`). This crate never depends on model or pipeline code, and never prints:
//! callers get typed outcomes and report them.

pub mod dataset;
pub mod eval_script;
pub mod evaluate;
pub mod files;
pub mod grade;
pub mod images;
pub mod integrity;
pub mod parse;
pub mod predictions;
pub mod regrade;
pub mod report;
pub mod sandbox;
