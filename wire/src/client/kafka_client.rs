//! [`KafkaClient`]: the connection pool, routing (any broker, one broker, the controller, a
//! partition leader) and the retry loop every operation runs in.
//!
//! A retriable failure (network error, timeout, or a retriable Kafka error code such as
//! `NOT_LEADER_OR_FOLLOWER`, `NOT_CONTROLLER`, `LEADER_NOT_AVAILABLE`, `REQUEST_TIMED_OUT`)
//! marks the cached metadata stale (and forgets the controller or drops the connection, as
//! fits), waits an exponential backoff with jitter, refreshes metadata and tries again.
//!
//! The routing cache is a compact [`Routing`] (brokers, controller, one leader id per
//! partition). A full [`ClusterMetadata`] is built only when a caller asks for one, and shared
//! (not kept) by the client: [`KafkaClient::cluster_metadata`] hands out the last full fetch
//! while some caller still holds it and it is fresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Instant;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{DescribeClusterRequest, MetadataRequest};
use kafka_protocol::protocol::Request;

use super::cluster::ClusterMetadata;
use super::config::ClientConfig;
use super::connection::{Connection, ConnectionSettings};
use super::ops::cluster::{FullMetadataBuilder, MetadataHead, metadata_request, read_metadata};
use super::routing::{MetadataVisitor, Routing, RoutingBuilder};
use super::tls;
use crate::error::{Result, WireError};
use crate::frame::DecodedResponse;

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
    routing: Mutex<Option<(Arc<Routing>, Instant)>>,
    /// The last full metadata fetched, while some caller holds it.
    full: Mutex<Option<(Weak<ClusterMetadata>, Instant)>>,
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
                routing: Mutex::new(None),
                full: Mutex::new(None),
                metadata_stale: AtomicBool::new(true),
                controller: Mutex::new(None),
                rng_state: AtomicU64::new(seed),
            }),
        })
    }

    /// Builds the client and fetches cluster metadata once (into the routing cache only), so
    /// an unreachable or misconfigured bootstrap fails here with one clear error.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let client = Self::new(config)?;
        client.refresh_routing().await?;
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

    fn is_fresh(&self, at: Instant) -> bool {
        !self.inner.metadata_stale.load(Ordering::SeqCst)
            && at.elapsed() < self.inner.config.metadata_max_age
    }

    /// The cached routing, if fresh enough.
    fn cached_routing(&self) -> Option<Arc<Routing>> {
        let guard = lock(&self.inner.routing);
        let (routing, at) = guard.as_ref()?;
        self.is_fresh(*at).then(|| routing.clone())
    }

    /// Caches `routing` as fresh. A full metadata shared earlier is older than it, so
    /// [`KafkaClient::cluster_metadata`] stops handing that one out.
    fn install_routing(&self, routing: Routing) -> Arc<Routing> {
        let routing = Arc::new(routing);
        *lock(&self.inner.routing) = Some((routing.clone(), Instant::now()));
        *lock(&self.inner.full) = None;
        self.inner.metadata_stale.store(false, Ordering::SeqCst);
        routing
    }

    /// The routing cache (brokers, controller, partition leaders), refreshed first when
    /// stale.
    pub async fn routing(&self) -> Result<Arc<Routing>> {
        match self.cached_routing() {
            Some(r) => Ok(r),
            None => self.refresh_routing().await,
        }
    }

    /// Fetches metadata for all topics into the routing cache only (no [`ClusterMetadata`]).
    pub async fn refresh_routing(&self) -> Result<Arc<Routing>> {
        let mut builder = RoutingBuilder::default();
        let head = self.walk_metadata_into(&mut builder).await?;
        Ok(self.install_routing(builder.finish(head.cluster_id, head.controller_id, head.brokers)))
    }

    /// Fetches Metadata for all topics and hands it to `visitor` topic by topic, straight
    /// from the received bytes (see [`super::metadata_reader`]): no decoded response and no
    /// [`ClusterMetadata`] is built, so a caller folding a large cluster into its own model
    /// holds only the response frame, its model and the routing cache (which this call
    /// refreshes). Returns the brokers, cluster id and controller. Network failures before
    /// the answer arrives are retried; the visitor sees one answer only.
    pub async fn walk_metadata(&self, visitor: &mut impl MetadataVisitor) -> Result<MetadataHead> {
        let mut routing = RoutingBuilder::default();
        let head = self
            .walk_metadata_into(&mut (&mut routing, visitor))
            .await?;
        self.install_routing(routing.finish(
            head.cluster_id.clone(),
            head.controller_id,
            head.brokers.clone(),
        ));
        Ok(head)
    }

    async fn walk_metadata_into(&self, visitor: &mut impl MetadataVisitor) -> Result<MetadataHead> {
        let response = self.metadata_response(None).await?;
        read_metadata(&response, visitor)
    }

    /// Full cluster metadata: the last full fetch while a caller still holds it and it is
    /// fresh, else a new fetch ([`KafkaClient::refresh_metadata`]). Routing needs only
    /// [`KafkaClient::routing`], which is cheaper.
    pub async fn cluster_metadata(&self) -> Result<Arc<ClusterMetadata>> {
        let held = {
            let guard = lock(&self.inner.full);
            guard
                .as_ref()
                .filter(|(_, at)| self.is_fresh(*at))
                .and_then(|(weak, _)| weak.upgrade())
        };
        match held {
            Some(m) => Ok(m),
            None => self.refresh_metadata().await,
        }
    }

    /// Fetches full metadata for all topics (brokers, topics, partitions with replicas, ISR
    /// and offline replicas) and refreshes the routing cache from the same answer. The
    /// client keeps only the routing part; the full metadata lives as long as the caller
    /// holds it.
    pub async fn refresh_metadata(&self) -> Result<Arc<ClusterMetadata>> {
        let (meta, routing) = self.fetch_full_metadata(None).await?;
        if let Some(routing) = routing {
            self.install_routing(routing);
        }
        let meta = Arc::new(meta);
        *lock(&self.inner.full) = Some((Arc::downgrade(&meta), Instant::now()));
        Ok(meta)
    }

    /// Marks cached metadata stale (the next routed request refreshes it).
    pub fn invalidate_metadata(&self) {
        self.inner.metadata_stale.store(true, Ordering::SeqCst);
    }

    /// Connects to some broker: known brokers first, then the bootstrap list.
    async fn any_connection(&self) -> Result<Arc<Connection>> {
        let known: Vec<(String, u16, Option<i32>)> = lock(&self.inner.routing)
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
        let mut meta = self.routing().await?;
        if meta.broker(id).is_none() {
            meta = self.refresh_routing().await?;
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
            self.refresh_routing().await?.controller_id
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
                let meta = self.routing().await?;
                let leader = match meta.leader_of(topic, *partition) {
                    Ok(l) => l,
                    Err(_) => self.refresh_routing().await?.leader_of(topic, *partition)?,
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

    /// One Metadata request (all topics when `None`) to any broker, its body still encoded;
    /// network failures and timeouts are retried with backoff. It has its own retry loop:
    /// going through [`KafkaClient::call`] would make routing and metadata refresh mutually
    /// recursive futures.
    async fn metadata_response(&self, topics: Option<&[String]>) -> Result<DecodedResponse> {
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            let mut used: Option<Arc<Connection>> = None;
            let result = async {
                let conn = self.any_connection().await?;
                used = Some(conn.clone());
                let version = conn.version_for::<MetadataRequest>(Some(12))?;
                let request = metadata_request(topics);
                conn.send_raw(version, &request).await
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

    /// Fetches full Metadata (all topics when `None`, in which case the routing built from the
    /// same answer comes too), retrying retriable topic errors (a leader election in
    /// progress) with backoff.
    pub(crate) async fn fetch_full_metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<(ClusterMetadata, Option<Routing>)> {
        let policy = self.inner.config.retry;
        let mut attempt = 0u32;
        loop {
            let result: Result<(ClusterMetadata, Option<Routing>)> = async {
                let response = self.metadata_response(topics).await?;
                let mut full = FullMetadataBuilder::default();
                let mut routing = RoutingBuilder::default();
                let head = read_metadata(&response, &mut (&mut full, &mut routing))?;
                let routing = topics.is_none().then(|| {
                    routing.finish(
                        head.cluster_id.clone(),
                        head.controller_id,
                        head.brokers.clone(),
                    )
                });
                Ok((full.finish(head)?, routing))
            }
            .await;
            match result {
                Ok(value) => return Ok(value),
                // Network failures were retried already by `metadata_response`.
                Err(e @ WireError::Kafka { .. })
                    if e.is_retriable() && attempt + 1 < policy.max_attempts =>
                {
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
