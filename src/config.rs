//! Command line and environment. Every flag has an environment variable;
//! secrets are read from the environment or a file, never logged.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "A ticket marketplace backend: every ticket and order is an actor, data lives in sled.",
    long_about = "A ticket marketplace backend: every ticket and order is an actor, data lives in sled.\n\nRun with no subcommand to serve.",
    after_help = "Logging: set RUST_LOG (default \"info\"), e.g. RUST_LOG=boxoffice=debug,tower_http=debug."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
}

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

    /// Seconds an idle ticket or settled order actor stays in memory.
    #[arg(long, env = "BOXOFFICE_IDLE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_secs: u64,

    /// BENCHMARKS ONLY: acknowledge writes before they reach disk. A crash
    /// then loses up to ~0.5 s of acknowledged writes.
    #[arg(long, env = "BOXOFFICE_UNSAFE_NO_FSYNC", hide = true)]
    pub unsafe_no_fsync: bool,
}

impl ServeArgs {
    pub fn order_ttl(&self) -> Duration {
        Duration::from_secs(self.order_ttl_secs)
    }

    pub fn idle_after(&self) -> Duration {
        Duration::from_secs(self.idle_secs)
    }
}
