//! Broker capacities for a snapshot: the capacity file (`keel snapshot --capacity FILE`) and
//! how each broker's four capacities are resolved from it.
//!
//! The file is TOML, or JSON when its name ends in `.json`, with the same structure:
//!
//! ```toml
//! [default]                          # every broker, unless overridden
//! disk_bytes = 8_000_000_000_000
//! network_in_bytes_per_sec = 400_000_000
//! network_out_bytes_per_sec = 800_000_000
//! cpu_cores = 16
//!
//! [brokers.101]                      # per-broker overrides (any subset of the four)
//! cpu_cores = 32
//! ```
//!
//! Resolution, per broker and field: `brokers.<id>.<field>`, else `default.<field>`, else (disk
//! only) the total bytes of the broker's log-dir volumes from DescribeLogDirs v4
//! ([KIP-827](https://cwiki.apache.org/confluence/display/KAFKA/KIP-827%3A+Expose+log+dirs+total+and+usable+space+via+Kafka+API)),
//! else the built-in [`BUILTIN_DEFAULT`]. Every value must be a finite number > 0.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{Result, SnapshotError};

/// Field names in the order of `keel_balancer::Resource` (disk, network in, network out, cpu).
pub const FIELDS: [&str; 4] = [
    "disk_bytes",
    "network_in_bytes_per_sec",
    "network_out_bytes_per_sec",
    "cpu_cores",
];

/// Capacities used when neither the file nor the cluster gives one: 1 TB of disk, 1 Gbit/s
/// (125 MB/s) each way, 8 cores.
pub const BUILTIN_DEFAULT: [f64; 4] = [1.0e12, 1.25e8, 1.25e8, 8.0];

/// Any subset of the four capacities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartialCapacity {
    /// Disk bytes.
    pub disk_bytes: Option<f64>,
    /// Network in, bytes per second.
    pub network_in_bytes_per_sec: Option<f64>,
    /// Network out, bytes per second.
    pub network_out_bytes_per_sec: Option<f64>,
    /// CPU cores.
    pub cpu_cores: Option<f64>,
}

impl PartialCapacity {
    fn fields(&self) -> [Option<f64>; 4] {
        [
            self.disk_bytes,
            self.network_in_bytes_per_sec,
            self.network_out_bytes_per_sec,
            self.cpu_cores,
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    default: PartialCapacity,
    #[serde(default)]
    brokers: BTreeMap<String, PartialCapacity>,
}

/// A parsed capacity file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityFile {
    /// Capacities of every broker.
    pub default: PartialCapacity,
    /// Per-broker overrides by broker id.
    pub brokers: BTreeMap<i32, PartialCapacity>,
}

/// Where a resolved capacity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacitySource {
    /// `brokers.<id>` in the file.
    Broker,
    /// `default` in the file.
    Default,
    /// The cluster (log-dir volume size).
    Cluster,
    /// [`BUILTIN_DEFAULT`].
    Builtin,
}

impl CapacityFile {
    /// Reads and validates a capacity file (TOML, or JSON for `*.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::CapacityIo {
            path: path.to_owned(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, json, path)
    }

    /// Parses capacity-file text; `path` only names the file in errors.
    pub fn parse(text: &str, json: bool, path: &Path) -> Result<Self> {
        let error = |field: String, message: String| SnapshotError::Capacity {
            path: PathBuf::from(path),
            field,
            message,
        };
        let raw: RawFile = if json {
            serde_json::from_str(text).map_err(|e| error("$".into(), e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| error("$".into(), e.message().to_owned()))?
        };
        validate(&raw.default, "default").map_err(|(f, m)| error(f, m))?;
        let mut brokers = BTreeMap::new();
        for (key, cap) in raw.brokers {
            let id: i32 = key.trim().parse().map_err(|_| {
                error(
                    format!("brokers.{key}"),
                    "broker key must be a broker id (an integer that fits in i32)".into(),
                )
            })?;
            validate(&cap, &format!("brokers.{key}")).map_err(|(f, m)| error(f, m))?;
            if brokers.insert(id, cap).is_some() {
                return Err(error(
                    format!("brokers.{key}"),
                    "broker listed twice".into(),
                ));
            }
        }
        Ok(CapacityFile {
            default: raw.default,
            brokers,
        })
    }

    /// The four capacities of broker `id`, with where each came from. `cluster_disk` is the
    /// disk size the cluster reported for it, if any.
    pub fn resolve(&self, id: i32, cluster_disk: Option<f64>) -> ([f64; 4], [CapacitySource; 4]) {
        let own = self.brokers.get(&id).map(PartialCapacity::fields);
        let default = self.default.fields();
        let mut values = BUILTIN_DEFAULT;
        let mut sources = [CapacitySource::Builtin; 4];
        for i in 0..4 {
            let cluster = if i == 0 {
                cluster_disk.filter(|d| d.is_finite() && *d > 0.0)
            } else {
                None
            };
            let picked = match (own.and_then(|o| o[i]), default[i], cluster) {
                (Some(v), _, _) => Some((v, CapacitySource::Broker)),
                (None, Some(v), _) => Some((v, CapacitySource::Default)),
                (None, None, Some(v)) => Some((v, CapacitySource::Cluster)),
                (None, None, None) => None,
            };
            if let Some((v, s)) = picked {
                values[i] = v;
                sources[i] = s;
            }
        }
        (values, sources)
    }
}

fn validate(cap: &PartialCapacity, at: &str) -> std::result::Result<(), (String, String)> {
    for (value, name) in cap.fields().iter().zip(FIELDS) {
        if let Some(v) = value
            && !(v.is_finite() && *v > 0.0)
        {
            return Err((format!("{at}.{name}"), format!("must be > 0, found {v}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> Result<CapacityFile> {
        CapacityFile::parse(text, false, Path::new("cap.toml"))
    }

    #[test]
    fn broker_override_beats_default_beats_cluster_beats_builtin() {
        let file = parse_toml(
            "[default]\nnetwork_in_bytes_per_sec = 100\ncpu_cores = 4\n\
             [brokers.7]\ncpu_cores = 32\ndisk_bytes = 5e9\n",
        )
        .unwrap();
        let (v, s) = file.resolve(7, Some(1e12));
        assert_eq!(v, [5e9, 100.0, BUILTIN_DEFAULT[2], 32.0]);
        assert_eq!(
            s,
            [
                CapacitySource::Broker,
                CapacitySource::Default,
                CapacitySource::Builtin,
                CapacitySource::Broker
            ]
        );
        let (v, s) = file.resolve(8, Some(2e12));
        assert_eq!(v[0], 2e12);
        assert_eq!(s[0], CapacitySource::Cluster);
        assert_eq!(v[3], 4.0);
        let (v, _) = file.resolve(8, None);
        assert_eq!(v[0], BUILTIN_DEFAULT[0]);
    }

    #[test]
    fn json_and_toml_read_the_same_structure() {
        let t = parse_toml("[default]\ndisk_bytes = 10\n[brokers.1]\ncpu_cores = 2\n").unwrap();
        let j = CapacityFile::parse(
            r#"{"default":{"disk_bytes":10},"brokers":{"1":{"cpu_cores":2}}}"#,
            true,
            Path::new("cap.json"),
        )
        .unwrap();
        assert_eq!(t, j);
    }

    #[test]
    fn bad_values_name_the_field_path() {
        let e = parse_toml("[brokers.3]\ncpu_cores = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("brokers.3.cpu_cores") && e.contains("cap.toml"),
            "{e}"
        );
        let e = parse_toml("[default]\ndisk_bytes = -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("default.disk_bytes"), "{e}");
        let e = parse_toml("[brokers.x]\ncpu_cores = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("brokers.x"), "{e}");
        let e = parse_toml("[default]\ncpu_core = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cpu_core"), "{e}");
        let e = parse_toml("[default]\ncpu_cores = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cap.toml"), "{e}");
        let e = parse_toml("not toml [").unwrap_err().to_string();
        assert!(e.contains("cap.toml"), "{e}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let e = CapacityFile::load(Path::new("/nonexistent/keel-cap.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/keel-cap.toml"), "{e}");
    }
}
