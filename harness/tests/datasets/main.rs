//! Datasets end to end, one test binary: the shared SWE-bench files ([`files`]), the
//! Hugging Face download path against a loopback server ([`hub_download`]) and the cache
//! layout against the real `huggingface_hub` ([`hub_layout`]).

#[path = "../common/mod.rs"]
mod common;

mod files;
mod hub_download;
mod hub_layout;
