//! tracing subscriber set-up: logs go to stderr. The filter is the environment variable
//! `AGENTLESS_LOG` (tracing `EnvFilter` directives, e.g. `agentless_harness=debug`) when it is
//! set and valid, whatever `-q` / `-v` say; otherwise `-q` (errors only) or the `-v` count
//! (warnings by default, then info, debug, trace). Colour only where `--color` allows it
//! (never to a file or pipe by default).

use tracing_subscriber::EnvFilter;

/// Install the global subscriber. `verbosity` counts `-v` flags.
pub fn init(verbosity: u8, quiet: bool, ansi: bool) {
    let default = match (quiet, verbosity) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,agentless_mini=info,agentless_harness=info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("AGENTLESS_LOG")
        .or_else(|_| EnvFilter::try_new(default))
        .unwrap_or_else(|_| EnvFilter::new("warn"));
    // A second init (tests calling `main` twice) is not an error worth reporting.
    let _ignored = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}
