//! Opening a store from a URL and the few store operations the shells share.
//!
//! URLs are the ones `object_store` parses: `s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix`, `file:///path`, `memory://`. Credentials, region and endpoint
//! come from the standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`,
//! `AWS_ALLOW_HTTP`, `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, ...). Secrets
//! never reach logs: [`TierStore`]'s `Display` prints the URL without user info.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, PutPayload};

use crate::error::{Result, TieringError};

/// A store plus the key prefix everything of keel's lives under.
#[derive(Clone)]
pub struct TierStore {
    pub store: Arc<dyn ObjectStore>,
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
            prefix,
            display: name.into(),
        }
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
            "memory" => Ok(TierStore::new(
                Arc::new(object_store::memory::InMemory::new()),
                Path::from(url.path().trim_matches('/')),
                display,
            )),
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| bad("not an absolute local path".into()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|e| TieringError::io("create store dir", &dir, e))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(e.to_string()))?;
                Ok(TierStore::new(Arc::new(fs), Path::default(), display))
            }
            _ => {
                let options = std::env::vars().filter_map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    (lower.starts_with("aws_")
                        || lower.starts_with("google_")
                        || lower.starts_with("azure_"))
                    .then_some((lower, v))
                });
                let (store, prefix) =
                    object_store::parse_url_opts(&url, options).map_err(|e| bad(e.to_string()))?;
                Ok(TierStore::new(Arc::from(store), prefix, display))
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
