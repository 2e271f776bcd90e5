//! Ctrl-C and SIGTERM: one handler for every command that can be interrupted. It only cancels
//! the token; what stops, what is removed (containers) and what is kept (finished work) is up
//! to the code watching the token.

use agentless_harness::sandbox::CancellationToken;

/// Cancel `cancel` on the first Ctrl-C or SIGTERM (a warning says so in the log).
pub fn cancel_on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("interrupted: stopping and removing containers; finished work is kept");
        cancel.cancel();
    });
}

/// Returns on Ctrl-C or, on Unix, SIGTERM (Ctrl-C alone where SIGTERM cannot be watched).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
