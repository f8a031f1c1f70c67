//! Puts one node together: store, actors, cluster, operations, catalog,
//! HTTP; and takes it apart again on shutdown (stop accepting, finish
//! requests, flush).

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use crate::actors::Settings;
use crate::{
    actors::Actors,
    catalog::{Catalog, Image},
    cluster::{Cluster, ClusterSettings, Placement},
    config::ServeArgs,
    follow::{self, Follower, Models, ReadModel},
    http::{self, server::Limits, session::Sessions, AppState},
    ops::{Home, Ops},
    passwords::Hasher,
    payments::{PaymentGateway, StripeTestGateway},
    revocations::Revocations,
    store::Store,
};

/// How a node is put together: the server, the tests and the benchmark all
/// start one through this.
pub struct Builder {
    args: ServeArgs,
    payments: Arc<dyn PaymentGateway>,
    settings: Settings,
}

impl Builder {
    /// The payment provider (default: [`StripeTestGateway`]).
    pub fn payments(mut self, gateway: Arc<dyn PaymentGateway>) -> Self {
        self.payments = gateway;
        self
    }

    /// Timings for the actors; the flags' TTL and idle time are kept unless
    /// changed here.
    pub fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Opens the store, starts the actors, joins the cluster (when
    /// configured), follows the catalog and binds the HTTP port.
    pub async fn start(self) -> anyhow::Result<Node> {
        let args = &self.args;
        // Before anything records a metric.
        crate::metrics::handle();
        let members = args.members().map_err(anyhow::Error::msg)?;
        let clustered = members.len() > 1;
        if clustered {
            anyhow::ensure!(
                args.jwt_key.is_some() || args.jwt_key_file.is_some(),
                "a clustered node needs JWT_KEY (the same on every node)"
            );
        }
        let placement = Arc::new(
            if members.is_empty() {
                Placement::new(args.shards, vec![solo(&args.node_name)], &args.node_name)
            } else {
                Placement::new(args.shards, members, &args.node_name)
            }
            .map_err(anyhow::Error::msg)?,
        );
        let cookie = if clustered {
            Some(cluster_cookie(args)?)
        } else {
            None
        };
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
        let jwt_key = jwt_key(args)?;
        if args.unsafe_no_fsync {
            tracing::warn!("--unsafe-no-fsync: writes are acknowledged before they reach disk");
        }
        let image = args.data_dir.join(CATALOG_IMAGE);
        // Read and indexed while the store opens: it needs nothing from it.
        let reading_image = {
            let image = image.clone();
            std::thread::Builder::new()
                .name("catalog-image".into())
                .spawn(move || {
                    let started = std::time::Instant::now();
                    let read = Catalog::read_image(&image);
                    tracing::info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        found = read.is_some(),
                        "catalog image read"
                    );
                    read
                })
                .context("starting to read the catalog's image")?
        };
        let opening = std::time::Instant::now();
        let store = Arc::new(
            Store::open_with_cache(
                &args.data_dir,
                !args.unsafe_no_fsync,
                args.cache_mb * 1024 * 1024,
            )
            .context("opening the store")?,
        );
        store.ensure_shards(args.shards)?;
        tracing::info!(
            elapsed_ms = opening.elapsed().as_millis() as u64,
            pending_holds = store.pending_holds()?,
            "store opened"
        );
        // This node's own changes reach its read models as soon as they are
        // on disk; the other nodes' through the follower.
        let catalog = Catalog::default();
        let revocations = Revocations::default();
        let models: Models = Arc::new([
            Arc::new(catalog.clone()) as Arc<dyn ReadModel>,
            Arc::new(revocations.clone()),
        ]);
        // Before anything is written: the store holds only what is on disk.
        let read_image = reading_image
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let imaged =
            restore(&store, &catalog, read_image, &revocations).context("restoring the catalog")?;
        let observed = models.clone();
        store.observe(move |event| {
            for model in observed.iter() {
                model.apply(event);
            }
        });
        // Every event up to the store's position is in the catalog by then.
        let image_keeper = {
            let store = store.clone();
            let placement = placement.clone();
            let me = placement.me().name.clone();
            catalog
                .keep_image(
                    image.clone(),
                    store.log_id(),
                    imaged,
                    move || store.last_event_seq(),
                    move |id| placement.ticket_home(id).name == me,
                )
                .context("starting the catalog's image keeper")?
        };
        let actors = Actors::start(store.clone(), self.payments, self.settings).await?;
        let home = Home::new(store.clone(), actors.clone(), revocations);
        let cluster = match cookie {
            Some(cookie) => {
                let listen = args
                    .cluster_addr
                    .context("a clustered node needs BOXOFFICE_CLUSTER_ADDR")?;
                let tls = match (
                    &args.cluster_tls_cert,
                    &args.cluster_tls_key,
                    &args.cluster_tls_ca,
                ) {
                    (Some(cert), Some(key), Some(ca)) => {
                        Some(crate::cluster::tls::Tls::load(cert, key, ca)?)
                    }
                    _ => None,
                };
                let settings = ClusterSettings {
                    placement: placement.clone(),
                    listen,
                    cookie,
                    tls,
                };
                Some(Cluster::start(settings, Arc::new(home.clone())).await?)
            }
            None => None,
        };
        let ops = Ops::new(placement, home, cluster, Hasher::new()?, catalog.clone());
        let coupons = ops.connect_coupons();
        let own_name = ops.placement().me().name.clone();
        let progress = follow::Progress::new(
            ops.placement()
                .members()
                .iter()
                .map(|m| m.name.clone())
                .filter(|name| *name != own_name),
        );
        let follower = follow::follow(ops.clone(), models, progress.clone(), own_name);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let limits = Limits {
            header_timeout: Duration::from_secs(args.header_timeout_secs),
            max_connections: usize::try_from(args.max_connections).unwrap_or(usize::MAX),
        };
        let state = AppState::new(http::NodeState {
            ops: ops.clone(),
            sessions: Sessions::new(&jwt_key, args.secure_cookies, admins(args)?),
            admin_token: args.admin_token.as_deref().map(Arc::from),
            body_timeout: Duration::from_secs(args.body_timeout_secs),
            trust_proxy: args.trust_proxy,
            logs_unread: progress,
            stopping,
            streams: Arc::new(http::stream::Streams::new(limits.connection_cap())),
            error_page: crate::web::error_page,
        });
        let listener = TcpListener::bind(args.http_addr)
            .await
            .with_context(|| format!("binding {}", args.http_addr))?;
        Ok(Node {
            listener,
            app: http::router(state.clone(), crate::web::router(state)),
            limits,
            ops,
            store,
            catalog,
            image,
            image_keeper,
            actors,
            follower,
            stop,
            _coupons: coupons,
        })
    }
}

/// A node that has bound its port and is ready to serve.
pub struct Node {
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    ops: Ops,
    store: Arc<Store>,
    catalog: Catalog,
    /// Where the catalog is left for the next start: while serving, now
    /// and then, and at a clean stop.
    image: PathBuf,
    image_keeper: crate::catalog::ImageKeeper,
    actors: Actors,
    follower: Follower,
    /// Set when shutdown starts, ending long-lived responses (live streams).
    stop: tokio::sync::watch::Sender<bool>,
    /// Kept for the order actors, which hold it weakly.
    _coupons: Arc<dyn crate::actors::CouponDesk>,
}

impl Node {
    /// A node configured by `args` (the same flags as the binary's).
    pub fn builder(args: ServeArgs) -> Builder {
        let settings = Settings {
            order_ttl: args.order_ttl(),
            idle_after: args.idle_after(),
            max_holds_per_user: args.max_holds_per_user,
            ..Settings::default()
        };
        Builder {
            args,
            payments: Arc::new(StripeTestGateway::default()),
            settings,
        }
    }

    /// Where the HTTP API listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The operations, for tools and tests in process.
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// Serves until `shutdown` resolves, then ends live streams, drains
    /// in-flight requests, stops the follower and the actors, and flushes the store.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = self.stop;
        let shutdown = async move {
            shutdown.await;
            stop.send_replace(true);
        };
        http::server::serve(self.listener, self.app, self.limits, shutdown).await;
        tracing::info!("HTTP drained; stopping actors and flushing");
        self.follower.stop().await;
        self.actors.shutdown().await;
        let mut image_keeper = self.image_keeper;
        image_keeper.stop();
        self.store.close().await.context("flushing the store")?;
        // Only an optimization: without it the next start reads the store.
        let placement = self.ops.placement();
        let me = &placement.me().name;
        if let Err(e) = self.catalog.save(
            &self.image,
            self.store.log_id(),
            self.store.last_event_seq(),
            |id| placement.ticket_home(id).name == *me,
        ) {
            tracing::warn!(error = %e, "catalog image not written");
        }
        Ok(())
    }
}

/// Lets sled write its snapshot at a clean stop rather than at the next
/// start, which then reads back none of its log (`Store::checkpoint`).
/// Only once [`Node::serve`] has returned and every task that held a part
/// of the node has ended (its runtime shut down): sled opens only once.
pub fn checkpoint(args: &ServeArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    Store::checkpoint(&args.data_dir, args.cache_mb * 1024 * 1024)
        .context("writing the store's snapshot")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store's snapshot written for the next start"
    );
    Ok(())
}

/// The file in the data dir a clean stop leaves the catalog in.
const CATALOG_IMAGE: &str = "catalog.image";

/// Fills the read models with what this node's store holds (its tickets
/// as they stand, its recent session events), so a restart reads none of
/// its own event log again, however long it is; from then on the store
/// tells them of each change itself. Returns the position the catalog's
/// image on disk covers (0 without one). Only sound before the first
/// write: the store then holds nothing that is not on disk.
fn restore(
    store: &Store,
    catalog: &Catalog,
    image: Option<Image>,
    revocations: &Revocations,
) -> anyhow::Result<u64> {
    let restoring = std::time::Instant::now();
    let position = store.last_event_seq();
    let mut caught_up = 0;
    let imaged = image.and_then(|image| catalog.adopt(image, store.log_id(), position));
    let from_image = match imaged {
        Some(mut after) => {
            // The image came before the last events (a crash, mostly).
            while after < position {
                let page = store.events_after(after, 10_000)?;
                let Some(last) = page.events.last() else {
                    break;
                };
                after = last.seq;
                caught_up += page.events.len();
                catalog.catch_up(&page.events);
            }
            true
        }
        None => {
            let as_event = |t: Result<crate::domain::Ticket, _>| {
                t.map(|t| crate::domain::TicketEvent::from(&t))
            };
            catalog.restore(store.tickets_in_halves()?.map(|half| half.map(as_event)))?;
            false
        }
    };
    let session_events = store.recent_session_events()?;
    for event in &session_events {
        revocations.apply(event);
    }
    tracing::info!(
        elapsed_ms = restoring.elapsed().as_millis() as u64,
        tickets = catalog.len(),
        from_image,
        caught_up,
        session_events = session_events.len(),
        "read models restored from the store"
    );
    Ok(imaged.unwrap_or(0))
}

fn solo(name: &str) -> crate::cluster::placement::Member {
    crate::cluster::placement::Member {
        name: name.to_owned(),
        addr: String::new(),
    }
}

/// The admins' emails, checked like any email.
fn admins(args: &ServeArgs) -> anyhow::Result<Vec<crate::domain::Email>> {
    args.admins
        .iter()
        .filter(|a| !a.trim().is_empty())
        .map(|a| {
            crate::domain::Email::parse(a)
                .map_err(|e| anyhow::anyhow!("BOXOFFICE_ADMINS: {a:?}: {e}"))
        })
        .collect()
}

fn cluster_cookie(args: &ServeArgs) -> anyhow::Result<String> {
    let cookie = match (&args.cluster_cookie, &args.cluster_cookie_file) {
        (Some(c), _) => c.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => {
            anyhow::bail!("a clustered node needs CLUSTER_COOKIE (the same on every node)")
        }
    };
    anyhow::ensure!(
        cookie.len() >= 16,
        "CLUSTER_COOKIE must be at least 16 characters"
    );
    Ok(cookie)
}

/// The session key: flag or env, else a file, else one generated once and
/// kept in the data dir (with a warning: fine for one node, not a cluster).
fn jwt_key(args: &ServeArgs) -> anyhow::Result<Vec<u8>> {
    if let Some(key) = &args.jwt_key {
        anyhow::ensure!(!key.trim().is_empty(), "JWT_KEY is empty");
        return Ok(key.as_bytes().to_vec());
    }
    if let Some(path) = &args.jwt_key_file {
        let key =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(!key.trim().is_empty(), "{} is empty", path.display());
        return Ok(key.trim().as_bytes().to_vec());
    }
    generated_key(&args.data_dir.join("jwt.key"))
}

fn generated_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(key) = std::fs::read_to_string(path) {
        if !key.trim().is_empty() {
            tracing::warn!(file = %path.display(), "JWT_KEY not set; using the key generated earlier");
            return Ok(key.trim().as_bytes().to_vec());
        }
    }
    let key = hex::encode(rand::random::<[u8; 32]>());
    write_private(path, &key).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(file = %path.display(), "JWT_KEY not set; generated a new key and saved it");
    Ok(key.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
pub(crate) mod test_support {
    use clap::Parser as _;

    use super::*;

    /// A single node on a fresh data dir, in process, not serving HTTP.
    pub(crate) struct TestNode {
        node: Node,
        _dir: tempfile::TempDir,
    }

    impl TestNode {
        pub(crate) fn ops(&self) -> &Ops {
            &self.node.ops
        }

        pub(crate) fn store(&self) -> &Arc<Store> {
            &self.node.store
        }

        pub(crate) fn actors(&self) -> &Actors {
            &self.node.actors
        }
    }

    pub(crate) async fn test_node(
        settings: impl FnOnce(&mut Settings),
        payments: Option<Arc<dyn PaymentGateway>>,
    ) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let cli = crate::config::Cli::parse_from([
            "boxoffice",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--jwt-key",
            "in-process-test-key",
        ]);
        let mut builder = Node::builder(cli.serve).settings(settings);
        if let Some(payments) = payments {
            builder = builder.payments(payments);
        }
        TestNode {
            node: builder.start().await.unwrap(),
            _dir: dir,
        }
    }
}
