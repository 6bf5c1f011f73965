//! The gate between an upload attempt's STARTED manifest commit and the writes that must
//! follow it.
//!
//! On a store without a multipart API with upload ids (the local filesystem), the `.log`'s
//! first parts go to the store's invisible staging file while the COPY_SEGMENT_STARTED
//! manifest commits ([`crate::upload`]); everything that makes an object visible (the
//! single PUT of a small `.log`, completing the multipart upload, the index objects) waits
//! here until the commit has succeeded. If the commit fails, the waiters get an error and
//! the upload is aborted, so nothing of the attempt is ever visible without a manifest
//! naming it. A process killed before the commit leaves at most a staging file of an
//! attempt no manifest names, which GC deletes as an orphan ([`crate::local_staging`]).

use tokio::sync::watch;

use crate::error::{Result, TieringError};

/// Opened (or closed for good) once by the STARTED commit; waited on by the writes.
#[derive(Debug, Clone)]
pub(crate) struct StartedGate {
    rx: watch::Receiver<Option<bool>>,
}

/// The commit's side of a [`StartedGate`]: dropping it without [`GateOpener::open`] fails
/// the waiters.
#[derive(Debug)]
pub(crate) struct GateOpener {
    tx: watch::Sender<Option<bool>>,
}

impl StartedGate {
    /// A gate and its opener.
    pub(crate) fn new() -> (GateOpener, StartedGate) {
        let (tx, rx) = watch::channel(None);
        (GateOpener { tx }, StartedGate { rx })
    }

    /// A gate already open (the commit happened before the upload began).
    pub(crate) fn open() -> StartedGate {
        let (opener, gate) = Self::new();
        opener.open(true);
        gate
    }

    /// Waits until the STARTED commit has succeeded; an error when it failed (or was
    /// abandoned).
    pub(crate) async fn wait(&self) -> Result<()> {
        let mut rx = self.rx.clone();
        let committed = match rx.wait_for(Option::is_some).await {
            Ok(v) => *v == Some(true),
            Err(_) => false, // opener dropped
        };
        if committed {
            Ok(())
        } else {
            Err(commit_failed())
        }
    }
}

impl StartedGate {
    /// An error once the STARTED commit has failed (the upload stops early); `Ok` while
    /// it is pending or after it succeeded.
    pub(crate) fn check(&self) -> Result<()> {
        match *self.rx.borrow() {
            Some(false) => Err(commit_failed()),
            _ => Ok(()),
        }
    }
}

fn commit_failed() -> TieringError {
    TieringError::io(
        "upload",
        std::path::Path::new(""),
        std::io::Error::other("the COPY_SEGMENT_STARTED manifest commit failed"),
    )
}

impl GateOpener {
    /// Records the commit's outcome: waiters go on (`true`) or fail (`false`).
    pub(crate) fn open(self, committed: bool) {
        self.tx.send_replace(Some(committed));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn waiters_pass_only_after_a_successful_commit() {
        let (opener, gate) = StartedGate::new();
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no write before the commit");
        opener.open(true);
        waiter.await.unwrap().unwrap();
        gate.wait().await.unwrap();
        StartedGate::open().wait().await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_commit_fails_the_waiters() {
        let (opener, gate) = StartedGate::new();
        opener.open(false);
        assert!(gate.wait().await.is_err());
        let (opener, gate) = StartedGate::new();
        drop(opener);
        assert!(gate.wait().await.is_err());
    }
}
