//! Interoperability with other tools' artifact files: reading and writing them from and to a
//! run directory, never changing what the pipeline itself writes. One submodule per foreign
//! format; each owns its file names and field names.

pub mod swerl;
