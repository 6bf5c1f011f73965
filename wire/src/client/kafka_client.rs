//! [`KafkaClient`]: the connection pool, routing (any broker, one broker, the controller, a
//! partition leader) and the retry loop every operation runs in.
//!
//! A retriable failure (network error, timeout, or a retriable Kafka error code such as
//! `NOT_LEADER_OR_FOLLOWER`, `NOT_CONTROLLER`, `LEADER_NOT_AVAILABLE`, `REQUEST_TIMED_OUT`)
//! marks the cached metadata stale (and forgets the controller or drops the connection, as
//! fits), waits an exponential backoff with jitter, refreshes metadata and tries again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{DescribeClusterRequest, MetadataRequest};
use kafka_protocol::protocol::Request;

use super::cluster::ClusterMetadata;
use super::config::ClientConfig;
use super::connection::{Connection, ConnectionSettings};
use super::tls;
use crate::error::{Result, WireError};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Any reachable broker (bootstrap servers before metadata is known).
    Any,
    /// One broker by node id.
    Broker(i32),
    /// The controller (DescribeCluster's controller id, else Metadata's).
    Controller,
    /// The leader of a partition.
    Leader {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
}

impl WireError {
    /// Whether retrying (after a metadata refresh and a backoff) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            WireError::Network { .. } | WireError::Timeout { .. } => true,
            WireError::Kafka { error, .. } => error.is_retriable(),
            _ => false,
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    bootstrap: Vec<(String, u16)>,
    settings: ConnectionSettings,
    connections: Mutex<HashMap<(String, u16), Slot>>,
    metadata: Mutex<Option<(Arc<ClusterMetadata>, Instant)>>,
    metadata_stale: AtomicBool,
    controller: Mutex<Option<i32>>,
    rng_state: AtomicU64,
}

/// An async Kafka admin client. Cheap to clone (one shared pool).
#[derive(Debug, Clone)]
pub struct KafkaClient {
    inner: Arc<Inner>,
}

/// The admin client is the Kafka client: one type serves both names.
pub type AdminClient = KafkaClient;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl KafkaClient {
    /// Validates `config` and builds the client. Connects lazily; use
    /// [`KafkaClient::connect`] to fail fast on an unreachable bootstrap.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let bootstrap = config.validate()?;
        let tls = match &config.tls {
            Some(t) => Some((t.clone(), tls::rustls_config(t)?)),
            None => None,
        };
        let settings = ConnectionSettings {
            client_id: config.client_id.clone(),
            request_timeout: config.request_timeout,
            connect_timeout: config.connect_timeout,
            tls,
            sasl: config.sasl.clone(),
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Ok(KafkaClient {
            inner: Arc::new(Inner {
                config,
                bootstrap,
                settings,
                connections: Mutex::new(HashMap::new()),
                metadata: Mutex::new(None),
                metadata_stale: AtomicBool::new(true),
                controller: Mutex::new(None),
                rng_state: AtomicU64::new(seed),
            }),
        })
    }

    /// Builds the client and fetches cluster metadata once, so an unreachable or
    /// misconfigured bootstrap fails here with one clear error.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let client = Self::new(config)?;
        client.refresh_metadata().await?;
        Ok(client)
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    fn next_unit_random(&self) -> f64 {
        // xorshift64: jitter only needs to de-synchronise clients, not be unpredictable.
        let mut x = self.inner.rng_state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.inner.rng_state.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A live connection to `host:port`, reusing or (re)connecting.
    async fn connection_to(
        &self,
        host: &str,
        port: u16,
        node_id: Option<i32>,
    ) -> Result<Arc<Connection>> {
        let slot = {
            let mut map = lock(&self.inner.connections);
            map.entry((host.to_owned(), port)).or_default().clone()
        };
        let mut guard = slot.lock().await;
        if let Some(conn) = guard.as_ref()
            && conn.is_alive()
        {
            if let Some(id) = node_id {
                conn.learn_node_id(id);
            }
            return Ok(conn.clone());
        }
        if guard.is_some() {
            tracing::debug!(host, port, "reconnecting to broker");
        }
        let conn = Connection::connect(host, port, node_id, &self.inner.settings).await?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Closes every pooled connection.
    pub fn close(&self) {
        let slots: Vec<Slot> = lock(&self.inner.connections)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Ok(guard) = slot.try_lock()
                && let Some(conn) = guard.as_ref()
            {
                conn.close();
            }
        }
    }

    /// Cached metadata, if fresh enough.
    fn cached_metadata(&self) -> Option<Arc<ClusterMetadata>> {
        let guard = lock(&self.inner.metadata);
        let (meta, at) = guard.as_ref()?;
        let fresh = !self.inner.metadata_stale.load(Ordering::SeqCst)
            && at.elapsed() < self.inner.config.metadata_max_age;
        fresh.then(|| meta.clone())
    }

    /// Metadata from the cache, refreshed first when stale.
    pub async fn cluster_metadata(&self) -> Result<Arc<ClusterMetadata>> {
        match self.cached_metadata() {
            Some(m) => Ok(m),
            None => self.refresh_metadata().await,
        }
    }

    /// Fetches metadata for all topics from any broker and caches it.
    pub async fn refresh_metadata(&self) -> Result<Arc<ClusterMetadata>> {
        let meta = Arc::new(self.fetch_metadata(None).await?);
        *lock(&self.inner.metadata) = Some((meta.clone(), Instant::now()));
        self.inner.metadata_stale.store(false, Ordering::SeqCst);
        Ok(meta)
    }

    /// Marks cached metadata stale (the next routed request refreshes it).
    pub fn invalidate_metadata(&self) {
        self.inner.metadata_stale.store(true, Ordering::SeqCst);
    }

    /// Connects to some broker: known brokers first, then the bootstrap list.
    async fn any_connection(&self) -> Result<Arc<Connection>> {
        let known: Vec<(String, u16, Option<i32>)> = lock(&self.inner.metadata)
            .as_ref()
            .map(|(m, _)| {
                m.brokers
                    .values()
                    .map(|b| (b.host.clone(), b.port, Some(b.id)))
                    .collect()
            })
            .unwrap_or_default();
        let bootstrap = self
            .inner
            .bootstrap
            .iter()
            .map(|(h, p)| (h.clone(), *p, None));
        let mut candidates: Vec<(String, u16, Option<i32>)> = known;
        // Start at a random known broker so load spreads.
        if !candidates.is_empty() {
            let start = (self.next_unit_random() * candidates.len() as f64) as usize;
            let last = candidates.len() - 1;
            candidates.rotate_left(start.min(last));
        }
        candidates.extend(bootstrap);
        let mut last_error = None;
        for (host, port, id) in candidates {
            match self.connection_to(&host, port, id).await {
                Ok(conn) => return Ok(conn),
                Err(e) => {
                    tracing::debug!(host, port, error = %e, "broker unreachable, trying the next");
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| WireError::ClientConfig {
            field: "bootstrap",
            reason: "no bootstrap servers".to_owned(),
        }))
    }

    async fn broker_connection(&self, id: i32) -> Result<Arc<Connection>> {
        let mut meta = self.cluster_metadata().await?;
        if meta.broker(id).is_none() {
            meta = self.refresh_metadata().await?;
        }
        let broker = meta.broker(id).ok_or_else(|| WireError::Kafka {
            api: "Metadata",
            error: ResponseError::BrokerNotAvailable,
            context: super::ErrorContext::broker(id),
            message: Some("broker is not in cluster metadata".to_owned()),
        })?;
        self.connection_to(&broker.host, broker.port, Some(id))
            .await
    }

    /// The controller's id: DescribeCluster's answer when the broker supports it, else
    /// Metadata's.
    pub async fn controller_id(&self) -> Result<i32> {
        if let Some(id) = *lock(&self.inner.controller) {
            return Ok(id);
        }
        let conn = self.any_connection().await?;
        let id = if conn.version_for::<DescribeClusterRequest>(None).is_ok() {
            self.describe_cluster_once(&conn).await?.controller_id
        } else {
            self.refresh_metadata().await?.controller_id
        };
        let id = id.ok_or_else(|| WireError::Kafka {
            api: "DescribeCluster",
            error: ResponseError::NotController,
            context: super::ErrorContext::default(),
            message: Some("cluster reports no controller".to_owned()),
        })?;
        *lock(&self.inner.controller) = Some(id);
        Ok(id)
    }

    /// A connection for `target`, and the node id it reaches (if known).
    pub async fn connection_for(&self, target: &Target) -> Result<Arc<Connection>> {
        match target {
            Target::Any => self.any_connection().await,
            Target::Broker(id) => self.broker_connection(*id).await,
            Target::Controller => {
                let id = self.controller_id().await?;
                self.broker_connection(id).await
            }
            Target::Leader { topic, partition } => {
                let meta = self.cluster_metadata().await?;
                let leader = match meta.leader_of(topic, *partition) {
                    Ok(l) => l,
                    Err(_) => self
                        .refresh_metadata()
                        .await?
                        .leader_of(topic, *partition)?,
                };
                self.broker_connection(leader).await
            }
        }
    }

    /// Reacts to a retriable error before the next attempt.
    fn after_retriable_error(&self, error: &WireError, conn: Option<&Connection>) {
        match error {
            WireError::Kafka { error: code, .. } => {
                if *code == ResponseError::NotController {
                    *lock(&self.inner.controller) = None;
                }
                self.invalidate_metadata();
            }
            WireError::Network { .. } | WireError::Timeout { .. } => {
                if let Some(conn) = conn {
                    conn.close();
                }
                *lock(&self.inner.controller) = None;
                self.invalidate_metadata();
            }
            _ => {}
        }
    }

    /// Sends one request to `target` and parses the response, retrying retriable failures
    /// (including those `parse` reports from per-item error codes) with backoff.
    ///
    /// `build` makes the request for the negotiated version; `parse` gets the response, the
    /// version and the answering connection.
    pub async fn call<R, T>(
        &self,
        target: &Target,
        max_version: Option<i16>,
        build: impl FnMut(i16) -> R,
        parse: impl FnMut(R::Response, i16, &Connection) -> Result<T>,
    ) -> Result<T>
    where
        R: Request,
    {
        let mut build = build;
        let mut parse = parse;
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            let mut used: Option<Arc<Connection>> = None;
            let result = async {
                let conn = self.connection_for(target).await?;
                used = Some(conn.clone());
                let version = conn.version_for::<R>(max_version)?;
                let request = build(version);
                let response = conn.send(version, &request).await?;
                parse(response, version, &conn)
            }
            .await;
            match result {
                Ok(value) => return Ok(value),
                Err(e) if e.is_retriable() && attempt + 1 < policy.max_attempts => {
                    let delay = policy.delay(attempt, self.next_unit_random());
                    tracing::debug!(?target, attempt, error = %e, ?delay, "retrying");
                    self.after_retriable_error(&e, used.as_deref());
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fetches Metadata (all topics when `None`) from any broker, with retries. It has its
    /// own retry loop: going through [`KafkaClient::call`] would make routing and metadata
    /// refresh mutually recursive futures.
    pub(crate) async fn fetch_metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<ClusterMetadata> {
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            let mut used: Option<Arc<Connection>> = None;
            let result = async {
                let conn = self.any_connection().await?;
                used = Some(conn.clone());
                let version = conn.version_for::<MetadataRequest>(Some(12))?;
                let request = super::ops::cluster::metadata_request(topics);
                let response = conn.send(version, &request).await?;
                super::ops::cluster::parse_metadata(response)
            }
            .await;
            match result {
                Ok(value) => return Ok(value),
                Err(e) if e.is_retriable() && attempt + 1 < policy.max_attempts => {
                    if let Some(conn) = used.as_deref()
                        && matches!(e, WireError::Network { .. } | WireError::Timeout { .. })
                    {
                        conn.close();
                    }
                    tokio::time::sleep(policy.delay(attempt, self.next_unit_random())).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn describe_cluster_once(
        &self,
        conn: &Connection,
    ) -> Result<super::ops::cluster::ClusterDescription> {
        let version = conn.version_for::<DescribeClusterRequest>(None)?;
        let response = conn
            .send(version, &DescribeClusterRequest::default())
            .await?;
        super::ops::cluster::parse_describe_cluster(response, conn)
    }

    /// Remembers the controller id learnt from a DescribeCluster answer.
    pub(crate) fn set_controller(&self, id: Option<i32>) {
        *lock(&self.inner.controller) = id;
    }
}
