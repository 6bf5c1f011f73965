//! The tokio shell around [`ClusterState`]: one listener per broker, a task per connection,
//! frames split by [`FrameDecoder`], each request handled under the state lock after the
//! state is advanced to the current simulated time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use keel_wire::frame::FrameDecoder;

use super::model::faults::{Fault, ScheduledFault};
use super::model::{BrokerId, ClusterState};
use super::{Result, SimError, dispatch};

/// How the simulation runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Simulated seconds per wall-clock second (0 freezes time; [`SimHandle::advance`] still
    /// moves it).
    pub speed: f64,
    /// Seed of the generator behind probabilistic request failures.
    pub seed: u64,
    /// Largest request frame accepted, bytes.
    pub max_frame_size: usize,
    /// Faults scheduled at simulated times.
    pub faults: Vec<ScheduledFault>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            speed: 1.0,
            seed: 1,
            max_frame_size: 16 * 1024 * 1024,
            faults: Vec::new(),
        }
    }
}

/// Simulated time: wall time since the start × speed, plus what [`SimHandle::advance`] added.
#[derive(Debug)]
struct Clock {
    origin: Instant,
    speed: f64,
    added_ms: u64,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        let wall = self.origin.elapsed().as_secs_f64() * 1000.0 * self.speed;
        self.added_ms.saturating_add(wall as u64)
    }
}

/// What every connection task shares.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<ClusterState>,
    clock: Mutex<Clock>,
    /// Advertised address of every broker, by index.
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) max_frame_size: usize,
}

impl Shared {
    /// The state, advanced to the current simulated time.
    pub(super) fn state(&self) -> MutexGuard<'_, ClusterState> {
        let now = self.clock.lock().now_ms();
        let mut state = self.state.lock();
        state.advance_to(now);
        state
    }
}

/// A simulated cluster, not yet serving.
#[derive(Debug)]
pub struct SimCluster {
    state: ClusterState,
    options: SimOptions,
}

impl SimCluster {
    /// A cluster from a parsed snapshot.
    pub fn from_snapshot(
        cluster: &keel_balancer::model::Cluster,
        options: SimOptions,
    ) -> Result<SimCluster> {
        if !(options.speed.is_finite() && options.speed >= 0.0) {
            return Err(SimError::Snapshot {
                reason: format!("speed {} must be a finite number >= 0", options.speed),
            });
        }
        let mut state = ClusterState::from_cluster(cluster, options.seed)?;
        for f in &options.faults {
            state.schedule(f.clone());
        }
        Ok(SimCluster { state, options })
    }

    /// A cluster from `keel.cluster/v1` JSON bytes.
    pub fn from_snapshot_json(json: &[u8], options: SimOptions) -> Result<SimCluster> {
        let cluster = keel_balancer::snapshot::parse_slice(json)?;
        Self::from_snapshot(&cluster, options)
    }

    /// The state before serving (for inspection or setup).
    pub fn state_mut(&mut self) -> &mut ClusterState {
        &mut self.state
    }

    /// Binds one listener per broker and starts serving on the current tokio runtime.
    /// Broker `i` listens on `listen`'s port + `i`; with port 0 every broker gets a free port.
    pub async fn start(self, listen: SocketAddr) -> Result<SimHandle> {
        let n = self.state.brokers.len();
        let mut listeners = Vec::with_capacity(n);
        for (i, b) in self.state.brokers.iter().enumerate() {
            let port = if listen.port() == 0 {
                0
            } else {
                u16::try_from(usize::from(listen.port()) + i).map_err(|_| SimError::Listen {
                    reason: format!("port {} + {n} brokers runs past 65535", listen.port()),
                })?
            };
            let addr = SocketAddr::new(listen.ip(), port);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| SimError::Bind {
                    addr,
                    broker: b.id,
                    source,
                })?;
            listeners.push(listener);
        }
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|source| SimError::Bind {
                addr: listen,
                broker: -1,
                source,
            })?;
        let shared = Arc::new(Shared {
            state: Mutex::new(self.state),
            clock: Mutex::new(Clock {
                origin: Instant::now(),
                speed: self.options.speed,
                added_ms: 0,
            }),
            addrs: addrs.clone(),
            max_frame_size: self.options.max_frame_size,
        });
        let (stop, stopped) = watch::channel(false);
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(i, l)| tokio::spawn(accept_loop(shared.clone(), i, l, stopped.clone())))
            .collect();
        tracing::info!(brokers = n, first = %addrs[0], "sim-cluster serving");
        Ok(SimHandle {
            shared,
            addrs,
            stop,
            tasks,
        })
    }
}

/// A running simulated cluster.
#[derive(Debug)]
pub struct SimHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// Every broker's address, comma-separated (a `bootstrap.servers` value).
    pub fn bootstrap(&self) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every broker's address, by index in the snapshot.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address of broker `id`.
    pub fn addr_of(&self, id: BrokerId) -> Option<SocketAddr> {
        let i = self.shared.state.lock().broker_idx(id)?;
        self.addrs.get(i).copied()
    }

    /// Applies a fault now.
    pub fn inject(&self, fault: Fault) {
        self.shared.state().inject(fault);
    }

    /// Schedules a fault at a simulated time.
    pub fn schedule(&self, fault: ScheduledFault) {
        self.shared.state().schedule(fault);
    }

    /// Moves simulated time forward by `by` (on top of wall time × speed).
    pub fn advance(&self, by: Duration) {
        {
            let mut clock = self.shared.clock.lock();
            clock.added_ms = clock
                .added_ms
                .saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
        }
        drop(self.shared.state());
    }

    /// Simulated milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.lock().now_ms()
    }

    /// The state, advanced to now, for reading (or changing) it. Do not hold it across an
    /// `.await`: every request waits for it.
    pub fn state(&self) -> MutexGuard<'_, ClusterState> {
        self.shared.state()
    }

    /// Stops every listener and connection and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    index: usize,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((socket, peer)) = accepted else { continue };
                let alive = shared.state.lock().brokers.get(index).is_some_and(|b| b.alive);
                if !alive {
                    // A dead broker does not answer.
                    drop(socket);
                    continue;
                }
                let _ = socket.set_nodelay(true);
                connections.spawn(serve_connection(shared.clone(), index, socket, peer, stop.clone()));
            }
        }
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    shared: Arc<Shared>,
    index: usize,
    mut socket: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let mut decoder = FrameDecoder::with_max_frame_size(shared.max_frame_size);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let read = tokio::select! {
            _ = stop.changed() => return,
            read = socket.read(&mut buf) => read,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, broker_index = index, error = %e, "closing connection: bad frame");
                    return;
                }
            };
            let alive = shared
                .state
                .lock()
                .brokers
                .get(index)
                .is_some_and(|b| b.alive);
            if !alive {
                return;
            }
            match dispatch::handle(&shared, index, frame).await {
                Ok(Some(bytes)) => {
                    if socket.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    tracing::warn!(%peer, broker_index = index, %reason, "closing connection: malformed request");
                    return;
                }
            }
        }
    }
}
