//! Writing the parts of one `put_multipart` upload on a thread of the upload's own, for a
//! store whose part futures do their IO inline when they are polled outside a tokio
//! runtime ([`crate::store::TierStore::inline_writes`]: `object_store`'s
//! `LocalFileSystem`, whose writes go through `maybe_spawn_blocking`, which runs the
//! closure on the calling thread when no runtime is current).
//!
//! Why: the local filesystem writes the parts of one upload one at a time anyway
//! (`LocalUpload` holds one lock on the staging file per write), so handing each part to a
//! blocking-pool thread of its own buys no concurrency, only a thread wake-up per part on
//! the critical path (the next part's thread waits on the lock and is woken when the
//! previous write releases it; on a 2-core VM with the other core busy, each wake-up can
//! wait for a scheduler tick). Here one thread writes the queued parts back to back, then
//! completes the upload (the rename) right after the last write, still through
//! [`MultipartUpload::put_part`] and [`MultipartUpload::complete`].
//!
//! At most [`WRITER_QUEUE`] parts (or `concurrency`, if lower) are queued or being written
//! ([`ThreadPartWriter::send`] waits for an acknowledgement first). The writes are serial,
//! so a deeper queue buys nothing but lets the reader run further ahead, and a part read
//! further ahead has left the CPU cache by the time it is copied into the file: with 2 MiB
//! parts, a queue of 2 beat a queue of 4 by 3-9 points of the plain put's throughput in
//! the same rounds (`examples/upload_vs_put.rs`, BENCHMARKS.md, tiering session 6).
//!
//! Failure: the thread stops at the first failed part and aborts the upload (the store
//! deletes its staging file); so does a writer dropped without completing (cancellation),
//! after the parts already queued.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll, Wake, Waker};

use object_store::path::Path as Key;
use object_store::{MultipartUpload, PutPayload};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::error::{Result, TieringError};

/// Parts queued or being written at most, whatever the upload's `concurrency`.
pub(crate) const WRITER_QUEUE: usize = 2;

/// What the async side asks the writer thread to do.
enum Job {
    Part(PutPayload),
    Complete,
}

/// What the writer thread reports back, one per [`Job`] it ran.
enum Ack {
    Part(object_store::Result<()>),
    Completed(object_store::Result<()>),
}

/// The parts of one upload, written in order on a thread of its own.
pub(crate) struct ThreadPartWriter<'k> {
    jobs: Option<mpsc::Sender<Job>>,
    acks: UnboundedReceiver<Ack>,
    key: &'k Key,
    concurrency: usize,
    /// Parts queued or being written, not acknowledged yet.
    in_flight: usize,
}

impl<'k> ThreadPartWriter<'k> {
    /// Starts the writer thread for `upload` (to `key`); at most `concurrency` parts (and
    /// never more than [`WRITER_QUEUE`]) are queued or being written at once.
    pub(crate) fn start(
        upload: Box<dyn MultipartUpload>,
        key: &'k Key,
        concurrency: usize,
    ) -> Result<Self> {
        let (jobs, job_rx) = mpsc::channel();
        let (ack_tx, acks) = unbounded_channel();
        std::thread::Builder::new()
            .name("keel-tier-writer".into())
            .spawn(move || write_parts(upload, &job_rx, &ack_tx))
            .map_err(|e| TieringError::keel_side("start part writer thread", key, e))?;
        Ok(ThreadPartWriter {
            jobs: Some(jobs),
            acks,
            key,
            concurrency: concurrency.clamp(1, WRITER_QUEUE),
            in_flight: 0,
        })
    }

    /// Queues the next part (waiting while `concurrency` parts are queued or being
    /// written); an error is the first failed part's.
    pub(crate) async fn send(&mut self, data: PutPayload) -> Result<()> {
        while self.in_flight >= self.concurrency {
            self.wait_part().await?;
        }
        self.queue(Job::Part(data)).await?;
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for every queued part, then completes the upload (on the writer thread, right
    /// after the last write). On error the upload is aborted.
    pub(crate) async fn complete(mut self) -> Result<()> {
        let done = async {
            self.queue(Job::Complete).await?;
            loop {
                match self.acks.recv().await {
                    Some(Ack::Part(Ok(()))) => self.in_flight -= 1,
                    Some(Ack::Part(Err(e))) => {
                        return Err(TieringError::store("upload part", self.key, e));
                    }
                    Some(Ack::Completed(r)) => {
                        return r
                            .map_err(|e| TieringError::store("complete multipart", self.key, e));
                    }
                    None => return Err(self.thread_gone()),
                }
            }
        }
        .await;
        if done.is_err() {
            self.abort().await;
        }
        done
    }

    /// Stops queueing and waits until the thread has aborted the upload (best effort:
    /// [`crate::gc`] catches what this misses).
    pub(crate) async fn abort(mut self) {
        self.jobs = None; // the thread aborts once it has run out of jobs
        while self.acks.recv().await.is_some() {}
    }

    /// Hands `job` to the thread; when the thread has stopped (at a failed part), the
    /// error is that part's.
    async fn queue(&mut self, job: Job) -> Result<()> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(self.why_stopped().await),
        }
    }

    /// The failed part's error the stopped thread reported (or that it stopped).
    async fn why_stopped(&mut self) -> TieringError {
        while let Some(ack) = self.acks.recv().await {
            if let Ack::Part(Err(e)) = ack {
                return TieringError::store("upload part", self.key, e);
            }
        }
        self.thread_gone()
    }

    /// Waits for the oldest queued part; an error fails the upload.
    async fn wait_part(&mut self) -> Result<()> {
        match self.acks.recv().await {
            Some(Ack::Part(Ok(()))) => {
                self.in_flight -= 1;
                Ok(())
            }
            Some(Ack::Part(Err(e))) => Err(TieringError::store("upload part", self.key, e)),
            Some(Ack::Completed(_)) | None => Err(self.thread_gone()),
        }
    }

    fn thread_gone(&self) -> TieringError {
        TieringError::keel_side("upload part", self.key, "the part writer thread stopped")
    }
}

/// The writer thread: runs the jobs in order until the upload completes, a part fails or
/// the async side hangs up; an upload not completed is aborted.
fn write_parts(
    mut upload: Box<dyn MultipartUpload>,
    jobs: &mpsc::Receiver<Job>,
    acks: &UnboundedSender<Ack>,
) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Part(data) => {
                let written = block_on(upload.put_part(data));
                let failed = written.is_err();
                let _ = acks.send(Ack::Part(written));
                if failed {
                    break;
                }
            }
            Job::Complete => {
                let completed = block_on(upload.complete()).map(|_| ());
                let _ = acks.send(Ack::Completed(completed));
                return;
            }
        }
    }
    if let Err(e) = block_on(upload.abort()) {
        tracing::debug!(error = %e, "aborting a failed multipart upload failed; gc will retry");
    }
}

/// Wakes the thread that polls.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread (no tokio runtime is current here, so the local
/// filesystem's part futures do their IO inline and are ready on the first poll).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStore;
    use object_store::local::LocalFileSystem;

    use super::*;
    use crate::testing::files_under;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_written_on_the_thread_read_back_in_order_with_a_bounded_queue() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let key = Key::from("a/b.log");
        let upload = fs.put_multipart(&key).await.unwrap();
        let mut w = ThreadPartWriter::start(upload, &key, 8).unwrap();
        let mut want = Vec::new();
        for i in 0..20u8 {
            let part = vec![i; 1000 + usize::from(i) * 37];
            want.extend_from_slice(&part);
            w.send(PutPayload::from(part)).await.unwrap();
            assert!(
                w.in_flight <= WRITER_QUEUE,
                "never more than WRITER_QUEUE parts queued, even at a concurrency of 8"
            );
        }
        w.complete().await.unwrap();
        let got = fs.get(&key).await.unwrap().bytes().await.unwrap();
        assert!(got[..] == want[..]);
        assert_eq!(
            files_under(dir.path()).unwrap().len(),
            1,
            "only the object: no staging file"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_aborted_writer_leaves_no_object_and_no_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let key = Key::from("a/b.log");
        let upload = fs.put_multipart(&key).await.unwrap();
        let mut w = ThreadPartWriter::start(upload, &key, 4).unwrap();
        for _ in 0..3 {
            w.send(PutPayload::from(vec![7u8; 4096])).await.unwrap();
        }
        w.abort().await;
        let left = files_under(dir.path()).unwrap();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_writer_aborts_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let key = Key::from("a/b.log");
        let upload = fs.put_multipart(&key).await.unwrap();
        let mut w = ThreadPartWriter::start(upload, &key, 4).unwrap();
        w.send(PutPayload::from(vec![7u8; 4096])).await.unwrap();
        drop(w);
        // The thread aborts once it has run out of jobs; give it a moment.
        for _ in 0..200 {
            if files_under(dir.path()).unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let left = files_under(dir.path()).unwrap();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn block_on_waits_for_a_future_woken_from_another_thread() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send(42).unwrap();
        });
        assert_eq!(block_on(rx).unwrap(), 42);
        t.join().unwrap();
    }
}
