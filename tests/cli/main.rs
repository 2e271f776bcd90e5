//! The command line end to end with the real binary, one test binary (each module was a
//! binary of its own): what a user sees ([`output`]), dataset download and cache
//! ([`dataset`]), grading log folders ([`grade`]), hardening against hostile input
//! ([`hardening`]) and integrity findings through `evaluate` in Docker ([`integrity`]).

#[path = "../common/mod.rs"]
mod common;

mod dataset;
mod grade;
mod hardening;
mod integrity;
mod output;
