//! boxoffice: a ticket marketplace backend built as an actor system.
//!
//! A BUY travels `http` (the route) → `ops` (the operation, run on the
//! ticket's home node, forwarded there by `cluster` when that is another
//! node) → `actors` (the ticket's actor decides) → `store` (one transaction,
//! acknowledged once on disk). Lower layers never reach up:
//!
//! - [`domain`]: plain types and rules (`Email`, `Price`, `Ticket`, `Order`
//!   and their transitions, events). No I/O.
//! - `records`: what goes to disk or over the wire, versioned types of its
//!   own, checked when read back.
//! - `store`: sled, one tree per record kind plus the event log, in two
//!   databases read back in parallel at a start; the only module that
//!   touches sled. One writer thread takes whatever writes have
//!   queued as one batch, syncs it to a redo journal, then applies it to
//!   sled: a 2xx means "on disk", and whatever a read finds already is.
//! - `actors`: the supervision tree: one actor per ticket, per order and
//!   per coupon, each owning its state, and a reminder service that lapses
//!   holds at their deadlines from the store.
//! - [`cluster`]: placement (shard → node), membership, heartbeats and
//!   forwarding of operations, by name and bytes, over ractor_cluster.
//! - `follow`: every node reads its peers' event logs into its read
//!   models: `catalog`, the ticket listing, paged and searched through
//!   ordered indexes, with a feed of its changes for live streams; and
//!   `revocations`, the sessions that have ended. Its own store fills
//!   them at a start and tells them of each of its own changes.
//! - [`ops`]: the operations, one file each: request, reply, and the code
//!   that runs it on the home node.
//! - `http`: axum routes, the edge every request passes (its id and span,
//!   its caller's session, a caught panic, its metrics), JSON validation,
//!   sessions, the uniform error body,
//!   the live ticket stream (Server-Sent Events),
//!   the OpenAPI 3.1 document served at `/api/openapi.json`, and the
//!   hyper server loop with its timeouts and connection cap.
//! - `web`: the server-rendered pages (askama templates in `templates/`),
//!   calling the same operations as the API; CSRF-checked forms that work
//!   without scripting. It builds on `http`, never the other way round:
//!   `node` hands its router to `http`.
//! - [`payments`]: the `PaymentGateway` seam and Stripe test-mode default.
//! - `passwords`: argon2id hashing off the async workers.
//! - `throttle`: failure budgets for sign-in and sign-up (governor), kept
//!   on each account's home node.
//! - [`config`], [`node`]: flags and environment; starting and stopping a node.
//! - [`reshard`]: the offline step that moves entities to a new set of nodes.
//! - `trace`: the request id that follows a request across nodes.
//! - [`logs`]: span fields in the JSON log format, written straight out.
//! - `metrics`: Prometheus metrics, their names in one place.

pub(crate) mod actors;
pub(crate) mod catalog;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub(crate) mod follow;
pub(crate) mod http;
pub mod logs;
pub(crate) mod metrics;
pub mod node;
pub mod ops;
pub(crate) mod passwords;
pub mod payments;
pub(crate) mod records;
pub mod reshard;
pub(crate) mod revocations;
pub(crate) mod store;
pub(crate) mod throttle;
pub(crate) mod trace;
pub(crate) mod web;
