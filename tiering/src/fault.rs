//! A fault-injecting [`ObjectStore`] wrapper for crash-safety tests: by rule it fails a
//! request before it reaches the store, delays it, or *cuts it off* (the request takes
//! effect in the store but the caller gets an error, as when a connection drops after the
//! server acted). It also counts requests per operation (e.g. to assert that a cached
//! remote read makes exactly one ranged GET).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{
    GetOptions, GetResult, ListResult, MultipartId, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use parking_lot::Mutex;

/// Request kinds a rule can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Put,
    StartMultipart,
    PutPart,
    CompleteMultipart,
    AbortMultipart,
    Get,
    Delete,
    List,
    Copy,
}

/// What happens to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Error without touching the store.
    Fail,
    /// Wait, then forward.
    Delay(Duration),
    /// Forward, then report an error anyway.
    CutOff,
    /// Wait, then error without touching the store (a request that fails late, while
    /// others are under way).
    FailAfter(Duration),
}

/// One rule: requests of `op` (any op when `None`) whose key contains `key_contains`
/// get `fault`, at most `times` times (forever when `None`), after skipping `skip` matches.
#[derive(Debug, Clone)]
pub struct Rule {
    pub op: Option<Op>,
    pub key_contains: Option<String>,
    pub fault: Fault,
    pub skip: usize,
    pub times: Option<usize>,
}

impl Rule {
    pub fn new(op: Option<Op>, fault: Fault) -> Self {
        Rule {
            op,
            key_contains: None,
            fault,
            skip: 0,
            times: None,
        }
    }
    pub fn key(mut self, part: &str) -> Self {
        self.key_contains = Some(part.to_string());
        self
    }
    pub fn skip(mut self, n: usize) -> Self {
        self.skip = n;
        self
    }
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    counts: std::collections::HashMap<Op, u64>,
    /// Payload bytes of PUTs and parts that reached the store.
    bytes_put: u64,
    /// Requests in flight now, and the most seen at once.
    in_flight: u64,
    max_in_flight: u64,
    /// Lengths of the `put_multipart` parts sent, in the order they were handed over.
    part_lens: Vec<u64>,
    /// `put_multipart` parts in flight now (handed over, not finished), and the most at once.
    parts_in_flight: u64,
    max_parts_in_flight: u64,
}

/// The wrapper. Cheap to clone (shared rules and counters).
#[derive(Clone)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    multipart: Option<Arc<dyn MultipartStore>>,
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

fn injected(op: Op, key: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultyStore",
        source: format!("injected fault on {op:?} {key}").into(),
    }
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        FaultyStore {
            inner,
            multipart: None,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// Also wraps the inner store's multipart API (its [`MultipartStore`] side), with the
    /// same rules: `StartMultipart`, `PutPart`, `CompleteMultipart`, `AbortMultipart`.
    pub fn with_multipart(mut self, inner: Arc<dyn MultipartStore>) -> Self {
        self.multipart = Some(inner);
        self
    }

    /// Payload bytes of PUTs and parts that reached the inner store so far.
    pub fn bytes_put(&self) -> u64 {
        self.state.lock().bytes_put
    }

    /// Resets [`FaultyStore::bytes_put`].
    pub fn reset_bytes(&self) {
        self.state.lock().bytes_put = 0;
    }

    fn count_bytes(&self, n: usize) {
        self.state.lock().bytes_put += n as u64;
    }

    /// Adds a rule (rules are checked in order; the first that fires wins).
    pub fn add_rule(&self, rule: Rule) {
        self.state.lock().rules.push(rule);
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        self.state.lock().rules.clear();
    }

    /// Requests of `op` seen so far.
    pub fn count(&self, op: Op) -> u64 {
        self.state.lock().counts.get(&op).copied().unwrap_or(0)
    }

    /// Resets the counters.
    pub fn reset_counts(&self) {
        let mut st = self.state.lock();
        st.counts.clear();
        st.max_in_flight = st.in_flight;
    }

    /// The most requests (of any kind but listings and multipart parts) seen in flight at
    /// once since the last [`FaultyStore::reset_counts`].
    pub fn max_in_flight(&self) -> u64 {
        self.state.lock().max_in_flight
    }

    /// Lengths of the parts handed to `put_multipart` uploads (`MultipartUpload::put_part`),
    /// in the order they were handed over (failed ones included).
    pub fn part_lens(&self) -> Vec<u64> {
        self.state.lock().part_lens.clone()
    }

    /// The most `put_multipart` parts in flight at once (handed over and not finished:
    /// their bytes are held meanwhile).
    pub fn max_parts_in_flight(&self) -> u64 {
        self.state.lock().max_parts_in_flight
    }

    fn decide(&self, op: Op, key: &str) -> Option<Fault> {
        let mut st = self.state.lock();
        *st.counts.entry(op).or_default() += 1;
        for r in st.rules.iter_mut() {
            if r.op.is_some_and(|o| o != op)
                || r.key_contains.as_deref().is_some_and(|k| !key.contains(k))
            {
                continue;
            }
            if r.skip > 0 {
                r.skip -= 1;
                continue;
            }
            if r.times == Some(0) {
                continue;
            }
            if let Some(t) = r.times.as_mut() {
                *t -= 1;
            }
            return Some(r.fault);
        }
        None
    }

    async fn run<T, F>(&self, op: Op, key: &str, f: F) -> object_store::Result<T>
    where
        F: std::future::Future<Output = object_store::Result<T>>,
    {
        self.apply(self.decide(op, key), op, key, f).await
    }

    async fn apply<T, F>(
        &self,
        fault: Option<Fault>,
        op: Op,
        key: &str,
        f: F,
    ) -> object_store::Result<T>
    where
        F: std::future::Future<Output = object_store::Result<T>>,
    {
        struct InFlight<'a>(&'a Mutex<State>);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.lock().in_flight -= 1;
            }
        }
        {
            let mut st = self.state.lock();
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
        }
        let _in_flight = InFlight(&self.state);
        match fault {
            None => f.await,
            Some(Fault::Fail) => Err(injected(op, key)),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                f.await
            }
            Some(Fault::CutOff) => {
                let _ = f.await;
                Err(injected(op, key))
            }
            Some(Fault::FailAfter(d)) => {
                tokio::time::sleep(d).await;
                Err(injected(op, key))
            }
        }
    }
}

struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    store: FaultyStore,
    key: String,
}

impl fmt::Debug for FaultyUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyUpload({})", self.key)
    }
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let fault = self.store.decide(Op::PutPart, &self.key);
        if !matches!(fault, Some(Fault::Fail | Fault::FailAfter(_))) {
            self.store.count_bytes(data.content_length());
        }
        {
            let mut st = self.store.state.lock();
            st.part_lens.push(data.content_length() as u64);
            st.parts_in_flight += 1;
            st.max_parts_in_flight = st.max_parts_in_flight.max(st.parts_in_flight);
        }
        struct PartInFlight(Arc<Mutex<State>>);
        impl Drop for PartInFlight {
            fn drop(&mut self) {
                self.0.lock().parts_in_flight -= 1;
            }
        }
        let in_flight = PartInFlight(self.store.state.clone());
        let key = self.key.clone();
        let part = self.inner.put_part(data);
        async move {
            let _in_flight = in_flight;
            match fault {
                None => part.await,
                Some(Fault::Fail) => Err(injected(Op::PutPart, &key)),
                Some(Fault::Delay(d)) => {
                    tokio::time::sleep(d).await;
                    part.await
                }
                Some(Fault::CutOff) => {
                    let _ = part.await;
                    Err(injected(Op::PutPart, &key))
                }
                Some(Fault::FailAfter(d)) => {
                    tokio::time::sleep(d).await;
                    Err(injected(Op::PutPart, &key))
                }
            }
        }
        .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let key = self.key.clone();
        let store = self.store.clone();
        store
            .run(Op::CompleteMultipart, &key, self.inner.complete())
            .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let len = payload.content_length();
        let fault = self.decide(Op::Put, location.as_ref());
        if !matches!(fault, Some(Fault::Fail | Fault::FailAfter(_))) {
            self.count_bytes(len);
        }
        self.apply(
            fault,
            Op::Put,
            location.as_ref(),
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self
            .run(
                Op::StartMultipart,
                location.as_ref(),
                self.inner.put_multipart_opts(location, opts),
            )
            .await?;
        Ok(Box::new(FaultyUpload {
            inner,
            store: self.clone(),
            key: location.to_string(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.run(
            Op::Get,
            location.as_ref(),
            self.inner.get_opts(location, options),
        )
        .await
    }

    async fn get_range(&self, location: &Path, range: Range<u64>) -> object_store::Result<Bytes> {
        self.run(
            Op::Get,
            location.as_ref(),
            self.inner.get_range(location, range),
        )
        .await
    }

    async fn delete(&self, location: &Path) -> object_store::Result<()> {
        self.run(Op::Delete, location.as_ref(), self.inner.delete(location))
            .await
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let key = prefix.map(|p| p.to_string()).unwrap_or_default();
        match self.decide(Op::List, &key) {
            Some(Fault::Fail | Fault::CutOff | Fault::FailAfter(_)) => {
                futures::stream::once(async move { Err(injected(Op::List, &key)) }).boxed()
            }
            _ => self.inner.list(prefix),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let key = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.run(Op::List, &key, self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.run(Op::Copy, to.as_ref(), self.inner.copy(from, to))
            .await
    }

    async fn copy_if_not_exists(&self, from: &Path, to: &Path) -> object_store::Result<()> {
        self.run(
            Op::Copy,
            to.as_ref(),
            self.inner.copy_if_not_exists(from, to),
        )
        .await
    }
}

fn no_multipart() -> object_store::Error {
    object_store::Error::NotImplemented
}

#[async_trait]
impl MultipartStore for FaultyStore {
    async fn create_multipart(&self, path: &Path) -> object_store::Result<MultipartId> {
        let mp = self.multipart.clone().ok_or_else(no_multipart)?;
        self.run(Op::StartMultipart, path.as_ref(), mp.create_multipart(path))
            .await
    }

    async fn put_part(
        &self,
        path: &Path,
        id: &MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> object_store::Result<PartId> {
        let mp = self.multipart.clone().ok_or_else(no_multipart)?;
        let fault = self.decide(Op::PutPart, path.as_ref());
        if !matches!(fault, Some(Fault::Fail | Fault::FailAfter(_))) {
            self.count_bytes(data.content_length());
        }
        self.apply(
            fault,
            Op::PutPart,
            path.as_ref(),
            mp.put_part(path, id, part_idx, data),
        )
        .await
    }

    async fn complete_multipart(
        &self,
        path: &Path,
        id: &MultipartId,
        parts: Vec<PartId>,
    ) -> object_store::Result<PutResult> {
        let mp = self.multipart.clone().ok_or_else(no_multipart)?;
        self.run(
            Op::CompleteMultipart,
            path.as_ref(),
            mp.complete_multipart(path, id, parts),
        )
        .await
    }

    async fn abort_multipart(&self, path: &Path, id: &MultipartId) -> object_store::Result<()> {
        let mp = self.multipart.clone().ok_or_else(no_multipart)?;
        self.run(
            Op::AbortMultipart,
            path.as_ref(),
            mp.abort_multipart(path, id),
        )
        .await
    }
}
