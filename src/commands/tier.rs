//! `keel tier`: tiered storage for a JVM broker's log dir (sidecar) and for operators:
//! `upload`, `expire`, `ls`, `fetch`, `gc`. The logic lives in `keel-tiering`; this file
//! parses arguments, runs the async shells on a tokio runtime and prints reports.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use keel_tiering::fetch::RemoteReader;
use keel_tiering::ratelimit::RateLimiter;
use keel_tiering::sync::{SyncSettings, sync_log_dir_where};
use keel_tiering::upload::{DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, UploadOptions, new_attempt_id};
use keel_tiering::{TierConfig, TierStore, TopicPartition, expire, gc, manifest_store};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TierCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TierCommand {
    /// Upload closed segments of a JVM broker's log dir (`<topic>-<partition>/` folders),
    /// oldest first, when below the high watermark of `replication-offset-checkpoint`.
    /// Without --once, keeps watching and retries failed partitions with backoff.
    Upload(UploadArgs),
    /// Apply remote retention (retention.ms / retention.bytes): advance the log start
    /// offset, then delete expired objects. With --log-dir, local-only bytes count towards
    /// retention.bytes and the local retention report is printed.
    Expire(ExpireArgs),
    /// List the partitions in the store, or one partition's segments.
    Ls(LsArgs),
    /// Read batches from the store starting at an offset and write them to a file that
    /// `keel dump-segment` reads.
    Fetch(FetchArgs),
    /// Delete objects no manifest references that are older than the grace period.
    Gc(GcArgs),
}

#[derive(Debug, clap::Args)]
struct StoreArg {
    /// Store URL: s3://bucket/prefix, gs://..., az://..., file:///path, memory://.
    /// Credentials and endpoint come from the standard env vars (AWS_ENDPOINT, ...).
    #[arg(long, env = "KEEL_TIER_STORE")]
    store: String,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Topic config with Kafka's names, repeatable: remote.storage.enable, retention.ms,
    /// retention.bytes, local.retention.ms, local.retention.bytes (-2 = same as retention.*).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
}

impl ConfigArgs {
    fn parse(&self) -> anyhow::Result<TierConfig> {
        let mut cfg = TierConfig::default();
        for pair in &self.config {
            cfg.set_pair(pair)?;
        }
        Ok(cfg)
    }
}

#[derive(Debug, clap::Args)]
struct UploadArgs {
    /// The broker's log dir.
    #[arg(long)]
    log_dir: PathBuf,
    #[command(flatten)]
    store: StoreArg,
    /// One pass, then exit (non-zero if any partition failed).
    #[arg(long)]
    once: bool,
    /// Only these topics (repeatable; default: every partition folder of the log dir).
    #[arg(long = "topic", value_name = "TOPIC")]
    topics: Vec<String>,
    /// Pause between passes when watching.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Delete local segments that local retention allows (only segments committed remotely).
    #[arg(long)]
    delete_local: bool,
    #[command(flatten)]
    config: ConfigArgs,
    /// Multipart part size in bytes.
    #[arg(long, default_value_t = DEFAULT_PART_SIZE)]
    part_size: usize,
    /// Parts in flight per segment.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Partitions uploaded at once.
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Upload rate limit in bytes/s (all partitions together).
    #[arg(long)]
    rate: Option<u64>,
    /// Compress segment data with zstd at this level, in independent 1 MiB chunks (reads
    /// stay ranged).
    #[arg(long)]
    zstd_level: Option<i32>,
}

#[derive(Debug, clap::Args)]
struct ExpireArgs {
    #[command(flatten)]
    store: StoreArg,
    /// The broker's log dir (local-only bytes count towards retention.bytes).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Debug, clap::Args)]
struct LsArgs {
    #[command(flatten)]
    store: StoreArg,
    #[arg(long, requires = "partition")]
    topic: Option<String>,
    #[arg(long, requires = "topic")]
    partition: Option<i32>,
    /// JSON output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    #[command(flatten)]
    store: StoreArg,
    #[arg(long)]
    topic: String,
    #[arg(long)]
    partition: i32,
    #[arg(long)]
    offset: i64,
    /// At most this many bytes (the batch holding the offset is always returned whole).
    #[arg(long, default_value_t = 1 << 20)]
    max_bytes: usize,
    #[arg(long)]
    out: PathBuf,
    /// Fetch rate limit in bytes/s.
    #[arg(long)]
    rate: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct GcArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Unreferenced objects younger than this are kept.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    grace: Duration,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match args.command {
            TierCommand::Upload(a) => upload(a).await,
            TierCommand::Expire(a) => expire_cmd(a).await,
            TierCommand::Ls(a) => ls(a).await,
            TierCommand::Fetch(a) => fetch(a).await,
            TierCommand::Gc(a) => gc_cmd(a).await,
        }
    })
}

fn open(store: &StoreArg) -> anyhow::Result<TierStore> {
    Ok(TierStore::open(&store.store)?)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

async fn upload(a: UploadArgs) -> anyhow::Result<ExitCode> {
    let store = open(&a.store)?;
    let mut settings = SyncSettings {
        cfg: a.config.parse()?,
        opts: UploadOptions {
            part_size: a.part_size,
            concurrency: a.concurrency,
            rate: a.rate.map(|r| Arc::new(RateLimiter::new(r))),
            writer_id: new_attempt_id(),
            zstd_level: a.zstd_level,
            chunk_size: keel_tiering::chunks::DEFAULT_CHUNK_SIZE,
        },
        now_ms: now_ms(),
        delete_local: a.delete_local,
        partition_concurrency: a.partitions,
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        settings.now_ms = now_ms();
        let report = sync_log_dir_where(&store, &a.log_dir, &settings, |tp| {
            a.topics.is_empty() || a.topics.contains(&tp.topic)
        })
        .await?;
        let mut failed = false;
        for (tp, r) in &report.partitions {
            match r {
                Ok(p) => {
                    if !p.uploaded.is_empty() || !p.deleted_local.is_empty() || a.once {
                        println!(
                            "{tp}: uploaded {:?}, committed end {}, deleted local {:?}, behind {} segment(s) / {} bytes",
                            p.uploaded,
                            p.committed_end,
                            p.deleted_local,
                            p.lag_segments,
                            p.lag_bytes
                        );
                    }
                }
                Err(e) => {
                    failed = true;
                    eprintln!("keel: {tp}: {e}");
                }
            }
        }
        if a.once {
            return Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            });
        }
        let pause = if failed {
            backoff = (backoff * 2).min(Duration::from_secs(60));
            tracing::warn!(retry_in = ?backoff, "some partitions failed; retrying with backoff");
            backoff
        } else {
            backoff = Duration::from_secs(1);
            a.interval
        };
        tokio::time::sleep(pause).await;
    }
}

async fn expire_cmd(a: ExpireArgs) -> anyhow::Result<ExitCode> {
    let store = open(&a.store)?;
    let cfg = a.config.parse()?;
    let now = now_ms();
    // The same pass the sidecar's tiering loop runs: with --log-dir, local-only bytes count
    // towards retention.bytes and manifest writes are fenced by each partition's leader
    // epoch from its `leader-epoch-checkpoint`; without, by the manifest's own epoch.
    let results =
        keel::sidecar::tiering::expire_all(&store, &cfg, a.log_dir.as_deref(), false, now).await?;
    let mut failed = false;
    for p in results {
        let tp = &p.tp;
        match p.result {
            Ok(r) => println!(
                "{tp}: expired {} segment(s), log start {} -> {}, {} object(s) deleted{}",
                r.expired.len(),
                r.log_start_before,
                r.log_start_after,
                r.deleted_objects,
                if r.resumed_deletes > 0 {
                    format!(", {} interrupted delete(s) finished", r.resumed_deletes)
                } else {
                    String::new()
                }
            ),
            Err(e) => {
                failed = true;
                eprintln!("keel: {tp}: {e}");
            }
        }
        if let Some(rep) = p.local {
            println!(
                "{tp}: local segments safe to delete: {:?} ({} bytes){}",
                rep.deletable,
                rep.deletable_bytes,
                rep.held_back_uncommitted
                    .map(|b| format!(
                        "; segment {b} breaches local retention but is not committed remotely: kept"
                    ))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn ls(a: LsArgs) -> anyhow::Result<ExitCode> {
    let store = open(&a.store)?;
    let tps = match (&a.topic, a.partition) {
        (Some(t), Some(p)) => vec![TopicPartition::new(t.clone(), p)],
        _ => expire::list_partitions(&store).await?,
    };
    let detail = a.topic.is_some();
    let mut out = Vec::new();
    for tp in &tps {
        let m = manifest_store::load(&store, tp).await?;
        let Some(m) = m else {
            if detail {
                anyhow::bail!("{tp}: no manifest in {store}");
            }
            continue;
        };
        let segs: Vec<serde_json::Value> = m
            .segments()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "base_offset": s.base_offset, "last_offset": s.last_offset,
                    "max_timestamp": s.max_timestamp, "size": s.size_bytes,
                    "state": s.state, "leader_epoch": s.leader_epoch,
                    "attempt": format!("{:016x}", s.attempt),
                    "objects": s.checksums.iter().map(|(k, c)| (k.suffix().to_string(), serde_json::json!(format!("{c:08x}")))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        let summary = serde_json::json!({
            "partition": tp.to_string(), "generation": m.generation, "leader_epoch": m.leader_epoch,
            "log_start_offset": m.log_start_offset, "committed_end_offset": m.committed_end_offset(),
            "segments": m.segments().len(), "remote_bytes": m.remote_bytes(),
        });
        if a.json {
            let mut v = summary;
            if detail {
                v["segment_list"] = serde_json::Value::Array(segs);
            }
            out.push(v);
        } else {
            println!(
                "{tp}: generation {}, leader epoch {}, offsets {}..{}, {} segment(s), {} bytes",
                m.generation,
                m.leader_epoch,
                m.log_start_offset,
                m.committed_end_offset(),
                m.segments().len(),
                m.remote_bytes()
            );
            if detail {
                for s in m.segments() {
                    println!(
                        "  {:>20}..={:<20} {:>12} bytes  max_ts {}  {:?}  attempt {:016x}",
                        s.base_offset,
                        s.last_offset,
                        s.size_bytes,
                        s.max_timestamp,
                        s.state,
                        s.attempt
                    );
                }
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(ExitCode::SUCCESS)
}

async fn fetch(a: FetchArgs) -> anyhow::Result<ExitCode> {
    let store = open(&a.store)?;
    keel_tiering::keys::check_topic(&a.topic)?;
    let reader = RemoteReader::new(
        store,
        keel_tiering::fetch::DEFAULT_CACHE_BYTES,
        a.rate.map(|r| Arc::new(RateLimiter::new(r))),
    );
    let tp = TopicPartition::new(a.topic.clone(), a.partition);
    let r = reader.fetch(&tp, a.offset, a.max_bytes).await?;
    std::fs::write(&a.out, &r.records).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "{tp}: {} bytes from segment {} (position {}) written to {}",
        r.records.len(),
        r.segment.base_offset,
        r.position,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn gc_cmd(a: GcArgs) -> anyhow::Result<ExitCode> {
    let store = open(&a.store)?;
    let r = gc::collect_garbage(&store, a.grace, SystemTime::now()).await?;
    for k in &r.deleted {
        println!("deleted {k}");
    }
    for p in &r.staging_files_deleted {
        println!("deleted staging file {}", p.display());
    }
    println!(
        "scanned {} object(s), deleted {} orphan(s) and {} staging file(s), aborted {} multipart upload(s), kept {} orphan(s) younger than {}",
        r.scanned,
        r.deleted.len(),
        r.staging_files_deleted.len(),
        r.aborted_uploads,
        r.young_orphans,
        humantime::format_duration(a.grace)
    );
    Ok(ExitCode::SUCCESS)
}
