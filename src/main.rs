//! Entry point: everything lives in the library so tests can drive it.
use std::process::ExitCode;

fn main() -> ExitCode {
    agentless_mini::main()
}
