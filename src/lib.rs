//! boxoffice: a ticket marketplace backend built as an actor system.
//!
//! A request travels `http` → `service` → an actor in `actors` → `store`:
//!
//! - [`domain`]: plain types and rules (`Email`, `Price`, `Ticket`, `Order`
//!   and their transitions, events). No I/O.
//! - [`store`]: sled, one tree per record kind plus the event log; the only
//!   module that touches sled. Group commit makes a 2xx mean "on disk".
//! - [`actors`]: the supervision tree: one actor per ticket and per order,
//!   each owning its state (and, for a pending order, its deadline timer).
//! - [`service`]: the operations boxoffice offers, each run on the home
//!   node of the entity it touches.
//! - [`cluster`]: placement (shard → node), membership, heartbeats and
//!   forwarding over ractor_cluster.
//! - [`catalog`]: the ticket listing, built from every node's events.
//! - [`http`]: axum routes, JSON validation, sessions, the uniform error body.
//! - [`payments`]: the `PaymentGateway` seam and Stripe test-mode default.
//! - [`passwords`]: argon2id hashing off the async workers.
//! - [`config`], [`server`]: flags and environment; starting and stopping a node.
//! - [`load`]: `boxoffice load`, the BUY-rush load tool.
//! - [`reshard`]: the offline step that moves entities to a new set of nodes.

pub mod actors;
pub mod catalog;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod load;
pub mod passwords;
pub mod payments;
pub mod reshard;
pub mod server;
pub mod service;
pub mod store;
