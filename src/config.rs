//! Command line and environment. Every flag has an environment variable;
//! secrets are read from the environment or a file, never logged.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

/// The whole command line: serving is the default, so its flags are
/// accepted without a subcommand too.
#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "A ticket marketplace backend: every ticket and order is an actor, data lives in sled.",
    long_about = "A ticket marketplace backend: every ticket and order is an actor, data lives in sled.\n\nRun with no subcommand to serve.",
    after_help = "Logging: set RUST_LOG (default \"info\"), e.g. RUST_LOG=boxoffice=debug."
)]
pub struct Cli {
    /// None means serve, with the flags in `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log lines as JSON objects (one per line, for collectors) or as
    /// text for people. Default: text on a terminal, JSON otherwise; text
    /// is coloured only on a terminal.
    #[arg(long, env = "BOXOFFICE_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// The flags given without a subcommand.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, with the request's span fields.
    Json,
    /// Text for a person reading a terminal.
    Pretty,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(Box<ServeArgs>),
    /// Offline: copy every entity from the old nodes' data dirs into fresh
    /// data dirs for a new member list (see README, "Resizing").
    Reshard(ReshardArgs),
}

/// Flags of `boxoffice reshard`; see [`crate::reshard`].
#[derive(Debug, Clone, Args)]
pub struct ReshardArgs {
    /// The stopped nodes' data dirs, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub from: Vec<PathBuf>,
    /// The new member list, as name@host:port, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub peers: Vec<String>,
    /// The new shard count.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub shards: u16,
    /// Where to write one data dir per new member (`<out>/<name>`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Flags of `boxoffice serve`: one node's settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "BOXOFFICE_HTTP_ADDR", default_value = "127.0.0.1:3000")]
    pub http_addr: SocketAddr,

    /// Directory for this node's data (sled files, generated keys).
    #[arg(long, env = "BOXOFFICE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Secret for signing session tokens (HS256). If neither this nor
    /// --jwt-key-file is given, one is generated and kept in the data dir.
    #[arg(long, env = "JWT_KEY", hide_env_values = true)]
    pub jwt_key: Option<String>,

    /// File holding the session signing secret (e.g. a mounted Kubernetes Secret).
    #[arg(long, env = "JWT_KEY_FILE", conflicts_with = "jwt_key")]
    pub jwt_key_file: Option<PathBuf>,

    /// How long an order holds its ticket before it expires, in seconds.
    #[arg(long, env = "ORDER_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub order_ttl_secs: u64,

    /// Bearer token for /api/admin/* (disabled when unset).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Mark the session cookie `Secure` (only sent over HTTPS).
    #[arg(long, env = "BOXOFFICE_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Seconds an idle ticket or order actor stays in memory (a hundredth
    /// of it once its ticket is no longer for sale or its order decided).
    #[arg(long, env = "BOXOFFICE_IDLE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_secs: u64,

    /// This node's name; must appear in the peer list when clustered.
    #[arg(long, env = "BOXOFFICE_NODE_NAME", default_value = "boxoffice-0")]
    pub node_name: String,

    /// host:port the cluster listener binds to (only that address).
    #[arg(long, env = "BOXOFFICE_CLUSTER_ADDR")]
    pub cluster_addr: Option<SocketAddr>,

    /// Every member as name@host:port, comma-separated, this node included,
    /// the same value on every node. Empty: run alone.
    #[arg(long, env = "BOXOFFICE_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,

    /// Instead of --peers: the headless Service domain of a StatefulSet;
    /// members are <prefix>-<i>.<domain> for i below --replicas, <prefix>
    /// being this node's name without its ordinal.
    #[arg(
        long,
        env = "BOXOFFICE_PEERS_DNS",
        requires = "replicas",
        conflicts_with = "peers"
    )]
    pub peers_dns: Option<String>,

    /// Number of members, with --peers-dns.
    #[arg(long, env = "BOXOFFICE_REPLICAS")]
    pub replicas: Option<u16>,

    /// Shared secret that authenticates nodes to each other.
    #[arg(long, env = "CLUSTER_COOKIE", hide_env_values = true)]
    pub cluster_cookie: Option<String>,

    /// File holding the cluster cookie instead.
    #[arg(long, env = "CLUSTER_COOKIE_FILE", conflicts_with = "cluster_cookie")]
    pub cluster_cookie_file: Option<PathBuf>,

    /// PEM certificate chain this node presents to its peers (mutual TLS
    /// between nodes; needs --cluster-tls-key and --cluster-tls-ca too).
    #[arg(long, env = "BOXOFFICE_CLUSTER_TLS_CERT", requires_all = ["cluster_tls_key", "cluster_tls_ca"])]
    pub cluster_tls_cert: Option<PathBuf>,

    /// PEM private key for --cluster-tls-cert.
    #[arg(long, env = "BOXOFFICE_CLUSTER_TLS_KEY", requires = "cluster_tls_cert")]
    pub cluster_tls_key: Option<PathBuf>,

    /// PEM CA that signs every node's certificate.
    #[arg(long, env = "BOXOFFICE_CLUSTER_TLS_CA", requires = "cluster_tls_cert")]
    pub cluster_tls_ca: Option<PathBuf>,

    /// Virtual shards, fixed when the cluster (or node) is created and
    /// recorded in the data dir.
    #[arg(long, env = "BOXOFFICE_SHARDS", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub shards: u16,

    /// Seconds a connection may take from its previous response (or from
    /// being accepted) to a complete request head. This is also the idle
    /// keep-alive timeout: hyper counts both as one wait.
    #[arg(long, env = "BOXOFFICE_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,

    /// Seconds a request body may take to arrive in full (408 after that).
    #[arg(long, env = "BOXOFFICE_BODY_TIMEOUT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,

    /// Connections served at once; more wait to be accepted. Kept below the
    /// process's open-file limit so that a flood of silent connections
    /// cannot stop the node from accepting (or from opening its files).
    #[arg(long, env = "BOXOFFICE_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Emails of the accounts that are admins, comma-separated. Nothing
    /// else makes an admin; the role is in each session token.
    #[arg(long, env = "BOXOFFICE_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,

    /// Take the client's address from the last `X-Forwarded-For` entry
    /// (set by the proxy in front, e.g. a Kubernetes ingress) rather than
    /// the socket. Only behind such a proxy: otherwise a client could name
    /// any address and dodge sign-in throttling.
    #[arg(long, env = "BOXOFFICE_TRUST_PROXY")]
    pub trust_proxy: bool,

    /// Holds waiting for payment one buyer may have on one node; the next
    /// BUY gets 400 "Hold limit reached". 0 for no cap (benchmarks).
    #[arg(long, env = "BOXOFFICE_MAX_HOLDS_PER_USER", default_value_t = 10)]
    pub max_holds_per_user: u32,

    /// Memory for sled's page cache, in MiB (hot records stay in memory;
    /// the rest is read from disk when needed).
    #[arg(long, env = "BOXOFFICE_CACHE_MB", default_value_t = crate::store::DEFAULT_CACHE_MB, value_parser = clap::value_parser!(u64).range(16..))]
    pub cache_mb: u64,

    /// BENCHMARKS ONLY: acknowledge writes before they reach disk (the
    /// journal is not synced). A killed process loses nothing (the journal
    /// is in the OS's cache); a power loss can lose acknowledged writes and
    /// leave batches half-written.
    #[arg(long, env = "BOXOFFICE_UNSAFE_NO_FSYNC", hide = true)]
    pub unsafe_no_fsync: bool,
}

impl ServeArgs {
    /// The configured members (this node included), from --peers or DNS.
    pub fn members(&self) -> Result<Vec<crate::cluster::placement::Member>, String> {
        use crate::cluster::placement::Member;
        if let (Some(domain), Some(n)) = (&self.peers_dns, self.replicas) {
            let prefix = self
                .node_name
                .rsplit_once('-')
                .filter(|(_, ordinal)| ordinal.parse::<u16>().is_ok())
                .map(|(p, _)| p)
                .ok_or("with --peers-dns the node name must end in -<ordinal>, e.g. boxoffice-0")?;
            let port = self
                .cluster_addr
                .ok_or("--peers-dns needs --cluster-addr (for the port)")?
                .port();
            return (0..n)
                .map(|i| Member::parse(&format!("{prefix}-{i}@{prefix}-{i}.{domain}:{port}")))
                .collect();
        }
        self.peers
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| Member::parse(p))
            .collect()
    }

    pub(crate) fn order_ttl(&self) -> Duration {
        Duration::from_secs(self.order_ttl_secs)
    }

    pub(crate) fn idle_after(&self) -> Duration {
        Duration::from_secs(self.idle_secs)
    }
}
