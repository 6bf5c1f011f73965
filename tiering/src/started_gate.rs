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
    /// The partition's manifest folder (what a failed commit's error names).
    manifest: String,
}

/// The commit's side of a [`StartedGate`]: dropping it without [`GateOpener::open`] fails
/// the waiters.
#[derive(Debug)]
pub(crate) struct GateOpener {
    tx: watch::Sender<Option<bool>>,
}

impl StartedGate {
    /// A gate and its opener, for the commit of the manifest in folder `manifest`.
    pub(crate) fn new(manifest: impl ToString) -> (GateOpener, StartedGate) {
        let (tx, rx) = watch::channel(None);
        let manifest = manifest.to_string();
        (GateOpener { tx }, StartedGate { rx, manifest })
    }

    /// A gate already open (the commit happened before the upload began).
    pub(crate) fn open(manifest: impl ToString) -> StartedGate {
        let (opener, gate) = Self::new(manifest);
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
            Err(self.commit_failed())
        }
    }

    /// An error once the STARTED commit has failed (the upload stops early); `Ok` while
    /// it is pending or after it succeeded.
    pub(crate) fn check(&self) -> Result<()> {
        match *self.rx.borrow() {
            Some(false) => Err(self.commit_failed()),
            _ => Ok(()),
        }
    }

    fn commit_failed(&self) -> TieringError {
        TieringError::keel_side(
            "wait for the COPY_SEGMENT_STARTED commit",
            &self.manifest,
            "the manifest commit failed; the upload was aborted",
        )
    }
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
        let (opener, gate) = StartedGate::new("t-0/manifest");
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "no write before the commit");
        opener.open(true);
        waiter.await.unwrap().unwrap();
        gate.wait().await.unwrap();
        StartedGate::open("t-0/manifest").wait().await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_commit_fails_the_waiters() {
        let (opener, gate) = StartedGate::new("t-0/manifest");
        opener.open(false);
        let err = gate.wait().await.unwrap_err().to_string();
        assert!(err.contains("t-0/manifest"), "{err}");
        let (opener, gate) = StartedGate::new("t-0/manifest");
        drop(opener);
        assert!(gate.wait().await.is_err());
    }
}
