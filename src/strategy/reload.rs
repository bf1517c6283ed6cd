//! File watching for hot reload. The watcher thread only sends events over a channel; the
//! host applies them between callbacks (`StrategyHost::poll_reload`).

use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::Instant;

/// A change to a strategy file, stamped when the watcher received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadEvent {
    /// The `.lua` file that changed (created, modified or removed).
    pub path: PathBuf,
    /// When the event arrived.
    pub at: Instant,
}

/// A running directory watcher and the receiving end of its channel.
pub(crate) struct DirWatcher {
    _watcher: notify::RecommendedWatcher,
    pub(crate) rx: Receiver<ReloadEvent>,
}

impl std::fmt::Debug for DirWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirWatcher")
    }
}

impl DirWatcher {
    /// Watches `dir` (not recursively) for changes to `*.lua` files.
    pub(crate) fn new(dir: &Path) -> notify::Result<Self> {
        let (tx, rx) = channel();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else { return };
            if event.kind.is_access() {
                return;
            }
            for path in event.paths {
                if path.extension().is_some_and(|e| e == "lua") {
                    // A closed receiver means the host is gone; nothing left to tell.
                    let _ = tx.send(ReloadEvent { path, at: Instant::now() });
                }
            }
        })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(Self { _watcher: watcher, rx })
    }
}
