//! Opening a store from a URL and the few store operations the shells share.
//!
//! URLs are the ones `object_store` parses: `s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix`, `file:///path`, `memory://`. Credentials, region and endpoint
//! come from the standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...). Secrets
//! never reach logs: [`TierStore`]'s `Display` prints the URL without user info.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreScheme, PutPayload};

use crate::error::{Result, TieringError};

/// A store plus the key prefix everything of keel's lives under.
#[derive(Clone)]
pub struct TierStore {
    pub store: Arc<dyn ObjectStore>,
    /// The same store's multipart API with upload ids, when it has one (S3, GCS, Azure,
    /// memory; not the local filesystem): uploads then record their id before the first
    /// part, so they can be resumed and aborted by id ([`crate::multipart`]).
    pub multipart: Option<Arc<dyn MultipartStore>>,
    /// Whether the store's `put_multipart` takes non-final parts of any size (the local
    /// filesystem): uploads then ramp their part sizes up from a small first part
    /// ([`crate::upload_log`]). False unless set: S3 and GCS reject non-final parts under
    /// 5 MiB, so wrapped stores of unknown kind keep uniform parts.
    pub any_part_size: bool,
    /// The directory of a local-filesystem store. Its writes leave `<object>#<n>` staging
    /// files behind when the process is killed mid-write, and listings never show them, so
    /// GC walks this directory for them ([`crate::local_staging`]).
    pub local_root: Option<PathBuf>,
    /// Whether the store's multipart part futures do their IO on the thread that polls them
    /// when no tokio runtime is current, and need no runtime (`object_store`'s
    /// `LocalFileSystem`): uploads then write their parts on a thread of their own, back to
    /// back ([`crate::upload_log`]). False unless set; wrapped stores whose futures sleep or
    /// do network IO on the runtime must leave it off.
    pub inline_writes: bool,
    pub prefix: Path,
    display: String,
}

impl fmt::Debug for TierStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TierStore")
            .field("url", &self.display)
            .finish()
    }
}

impl fmt::Display for TierStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl TierStore {
    /// Wraps an existing store (tests, fault injection, embedding brokers).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, name: impl Into<String>) -> Self {
        TierStore {
            store,
            multipart: None,
            any_part_size: false,
            local_root: None,
            inline_writes: false,
            prefix,
            display: name.into(),
        }
    }

    /// Sets the multipart API of the same store (see [`TierStore::multipart`]).
    pub fn with_multipart(mut self, multipart: Arc<dyn MultipartStore>) -> Self {
        self.multipart = Some(multipart);
        self
    }

    /// Marks the store as taking multipart parts of any size (see
    /// [`TierStore::any_part_size`]).
    pub fn with_any_part_size(mut self) -> Self {
        self.any_part_size = true;
        self
    }

    /// Sets the directory of a local-filesystem store (see [`TierStore::local_root`]).
    pub fn with_local_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.local_root = Some(dir.into());
        self
    }

    /// Marks the store's part writes as running inline off the runtime (see
    /// [`TierStore::inline_writes`]).
    pub fn with_inline_writes(mut self) -> Self {
        self.inline_writes = true;
        self
    }

    /// Opens the store a URL names; see the module docs.
    pub fn open(url_str: &str) -> Result<Self> {
        let bad = |reason: String| TieringError::StoreUrl {
            url: redact(url_str),
            reason,
        };
        let url = url::Url::parse(url_str).map_err(|e| bad(e.to_string()))?;
        let display = redact(url_str);
        match url.scheme() {
            "memory" => {
                let mem: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
                Ok(TierStore::new(
                    mem.clone(),
                    Path::from(url.path().trim_matches('/')),
                    display,
                )
                .with_multipart(Arc::new(StagedMultipart::new(mem))))
            }
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| bad("not an absolute local path".into()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| TieringError::io("create store dir", &dir, e))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(e.to_string()))?;
                Ok(TierStore::new(Arc::new(fs), Path::default(), display)
                    .with_any_part_size()
                    .with_local_root(dir)
                    .with_inline_writes())
            }
            _ => {
                let options = std::env::vars().filter_map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    (lower.starts_with("aws_")
                        || lower.starts_with("google_")
                        || lower.starts_with("azure_"))
                    .then_some((lower, v))
                });
                let (scheme, prefix) =
                    ObjectStoreScheme::parse(&url).map_err(|e| bad(e.to_string()))?;
                // Same as `object_store::parse_url_opts`, keeping the concrete type so its
                // `MultipartStore` side stays reachable.
                macro_rules! build {
                    ($builder:ty) => {{
                        let b = options.fold(
                            <$builder>::new().with_url(url.to_string()),
                            |b, (k, v)| match k.parse() {
                                Ok(k) => b.with_config(k, v),
                                Err(_) => b,
                            },
                        );
                        let store = Arc::new(b.build().map_err(|e| bad(e.to_string()))?);
                        Ok(TierStore::new(store.clone(), prefix, display).with_multipart(store))
                    }};
                }
                match scheme {
                    ObjectStoreScheme::AmazonS3 => build!(object_store::aws::AmazonS3Builder),
                    ObjectStoreScheme::GoogleCloudStorage => {
                        build!(object_store::gcp::GoogleCloudStorageBuilder)
                    }
                    ObjectStoreScheme::MicrosoftAzure => {
                        build!(object_store::azure::MicrosoftAzureBuilder)
                    }
                    other => Err(bad(format!("unsupported store scheme {other:?}"))),
                }
            }
        }
    }

    /// GETs a whole object; `None` when it does not exist.
    pub async fn get_opt(&self, key: &Path) -> Result<Option<Bytes>> {
        match self.store.get(key).await {
            Ok(r) => Ok(Some(
                r.bytes()
                    .await
                    .map_err(|e| TieringError::store("read", key, e))?,
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(TieringError::store("get", key, e)),
        }
    }

    /// PUTs a whole object (unconditional: data keys are unique per attempt).
    pub async fn put(&self, key: &Path, data: Bytes) -> Result<()> {
        self.store
            .put(key, PutPayload::from_bytes(data))
            .await
            .map(|_| ())
            .map_err(|e| TieringError::store("put", key, e))
    }

    /// Lists every object under `prefix` (recursively).
    pub async fn list_all(&self, prefix: &Path) -> Result<Vec<ObjectMeta>> {
        self.store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| TieringError::store("list", prefix, e))
    }

    /// Deletes objects in batches; already-missing objects count as deleted (idempotent).
    pub async fn delete_all(&self, keys: Vec<Path>) -> Result<usize> {
        let n = keys.len();
        let locations = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(locations);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(TieringError::store("delete", "batch", e)),
            }
        }
        Ok(n)
    }
}

/// A URL with any user info (key, password) replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("***");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

/// A [`MultipartStore`] for stores that hold everything in memory anyway: parts are staged
/// in memory by upload id and written with one PUT on completion. Used for `memory://`
/// instead of `InMemory`'s own, which loses parts sent out of order or sent again (a
/// resumed upload does both).
#[derive(Debug)]
pub struct StagedMultipart {
    inner: Arc<dyn ObjectStore>,
    uploads: parking_lot::Mutex<
        std::collections::HashMap<String, std::collections::BTreeMap<usize, Bytes>>,
    >,
    next_id: std::sync::atomic::AtomicU64,
}

impl StagedMultipart {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        StagedMultipart {
            inner,
            uploads: parking_lot::Mutex::new(std::collections::HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Uploads created and neither completed nor aborted.
    pub fn open_uploads(&self) -> usize {
        self.uploads.lock().len()
    }

    fn unknown(id: &str) -> object_store::Error {
        object_store::Error::NotFound {
            path: id.to_string(),
            source: format!("no multipart upload {id}").into(),
        }
    }
}

#[async_trait::async_trait]
impl MultipartStore for StagedMultipart {
    async fn create_multipart(
        &self,
        _path: &Path,
    ) -> object_store::Result<object_store::MultipartId> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        self.uploads.lock().insert(id.clone(), Default::default());
        Ok(id)
    }

    async fn put_part(
        &self,
        _path: &Path,
        id: &object_store::MultipartId,
        part_idx: usize,
        data: PutPayload,
    ) -> object_store::Result<object_store::multipart::PartId> {
        let bytes: Bytes = data.into();
        let crc = crc32c::crc32c(&bytes);
        let mut uploads = self.uploads.lock();
        let parts = uploads.get_mut(id).ok_or_else(|| Self::unknown(id))?;
        parts.insert(part_idx, bytes);
        Ok(object_store::multipart::PartId {
            content_id: format!("{part_idx}-{crc:08x}"),
        })
    }

    async fn complete_multipart(
        &self,
        path: &Path,
        id: &object_store::MultipartId,
        parts: Vec<object_store::multipart::PartId>,
    ) -> object_store::Result<object_store::PutResult> {
        let staged = self
            .uploads
            .lock()
            .remove(id)
            .ok_or_else(|| Self::unknown(id))?;
        let mut buf = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let data = staged.get(&i).ok_or_else(|| object_store::Error::Generic {
                store: "StagedMultipart",
                source: format!("part {i} of upload {id} was never sent").into(),
            })?;
            if p.content_id != format!("{i}-{:08x}", crc32c::crc32c(data)) {
                return Err(object_store::Error::Generic {
                    store: "StagedMultipart",
                    source: format!(
                        "part {i} of upload {id}: id {} does not match",
                        p.content_id
                    )
                    .into(),
                });
            }
            buf.extend_from_slice(data);
        }
        self.inner.put(path, PutPayload::from(buf)).await
    }

    async fn abort_multipart(
        &self,
        _path: &Path,
        id: &object_store::MultipartId,
    ) -> object_store::Result<()> {
        self.uploads.lock().remove(id);
        Ok(())
    }
}
