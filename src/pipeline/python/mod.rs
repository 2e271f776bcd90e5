//! Python source helpers the pipeline needs without running Python: CPython's
//! `str.splitlines()` ([`splitlines`], re-exported from `swerl_reward::py`), a tokenizer
//! ([`tokenize`]), the syntax check that stands in for `ast.parse` ([`syntax`]), and the
//! normalization that makes patches differing only in comments, docstrings or formatting
//! compare equal ([`normalize`]).

pub mod normalize;
pub mod syntax;
pub mod tokenize;

/// CPython `str.splitlines()` (no `keepends`), defined once in the reward crate (which the
/// whole workspace may depend on: it is pure): the edit parser and the repair filter split
/// text exactly as the SWE-RL reward does.
pub use swerl_reward::py::splitlines;
