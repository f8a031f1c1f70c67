//! Offline resharding: moving to a different set of nodes (or shard count).
//!
//! Reads every old data dir (opening it as a node would, so an older one is
//! brought up to date first), and writes one fresh data dir per new member
//! holding exactly the entities that member is home to under the new
//! placement. Versions and deadlines are kept. Each new event log starts with
//! a snapshot event per account and per ticket, so catalogs rebuild.
//! Idempotency records are not carried over: no request is in flight while
//! the cluster is stopped.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context as _;
use futures::{future::BoxFuture, StreamExt as _};

use crate::{
    cluster::{placement::Member, Placement},
    domain::AccountStatus,
    store::{Store, StoreError, Tx, TxResult},
};

/// Where the data is and where it should go.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every old node's data dir, each opened in turn; their nodes must be stopped.
    pub from: Vec<PathBuf>,
    /// The new cluster's members, as its nodes will be started with.
    pub members: Vec<Member>,
    /// The new shard count, recorded in each new data dir.
    pub shards: u16,
    /// Gets one fresh data dir per new member, `out/<name>`, which must be empty.
    pub out: PathBuf,
}

/// What each new member received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// Accounts, homed by email.
    pub users: usize,
    /// Tickets, homed by id.
    pub tickets: usize,
    /// Orders, which follow their tickets.
    pub orders: usize,
    /// Charges, which follow their orders.
    pub charges: usize,
    /// Coupons, homed by code, with the uses orders hold.
    pub coupons: usize,
}

/// Carries out `plan`, returning what each new member (by name) received.
pub async fn run(plan: &Plan) -> anyhow::Result<BTreeMap<String, Moved>> {
    anyhow::ensure!(!plan.from.is_empty(), "--from names no data dir");
    let first = plan.members.first().context("--peers names no member")?;
    let placement = Placement::new(plan.shards, plan.members.clone(), &first.name)
        .map_err(anyhow::Error::msg)?;

    let mut targets = BTreeMap::new();
    for m in placement.members() {
        let dir = plan.out.join(&m.name);
        let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
        anyhow::ensure!(
            empty,
            "{} is not empty; resharding writes fresh data dirs",
            dir.display()
        );
        std::fs::create_dir_all(&dir)?;
        let store =
            Store::open(&dir, true).with_context(|| format!("creating {}", dir.display()))?;
        store.ensure_shards(plan.shards)?;
        targets.insert(m.name.clone(), (store, Moved::default()));
    }

    let mut puts = Puts::default();
    for dir in &plan.from {
        let old = Store::open(dir, true)
            .with_context(|| format!("opening {} (is its node stopped?)", dir.display()))?;
        for user in old.users() {
            let user = user?;
            let (store, moved) = target(&mut targets, &placement.account_home(&user.email).name)?;
            puts.put(store, move |tx| {
                tx.create_user(&user)?;
                // Every node of the new cluster learns which sessions this
                // account ended (a ban, a password change) from its log.
                // Sign-outs are not carried: rotate JWT_KEY to end them all.
                if user.sessions_from > 0 || user.status != AccountStatus::Active {
                    tx.emit(user.updated())?;
                }
                Ok(())
            })
            .await?;
            moved.users += 1;
        }
        for ticket in old.tickets() {
            let ticket = ticket?;
            let (store, moved) = target(&mut targets, &placement.ticket_home(ticket.id).name)?;
            puts.put(store, move |tx| tx.create_ticket(&ticket)).await?;
            moved.tickets += 1;
        }
        for order in old.orders() {
            let order = order?;
            let (store, moved) = target(&mut targets, &placement.order_home(order.id).name)?;
            puts.put(store, move |tx| tx.put_order(&order)).await?;
            moved.orders += 1;
        }
        for charge in old.charges() {
            let charge = charge?;
            let (store, moved) = target(&mut targets, &placement.order_home(charge.order_id).name)?;
            puts.put(store, move |tx| tx.put_charge(&charge)).await?;
            moved.charges += 1;
        }
        for coupon in old.coupons() {
            let coupon = coupon?;
            let (store, moved) = target(&mut targets, &placement.coupon_home(coupon.code).name)?;
            puts.put(store, move |tx| tx.create_coupon(&coupon)).await?;
            moved.coupons += 1;
        }
        for hold in old.coupon_holds() {
            let (code, order) = hold?;
            let (store, _) = target(&mut targets, &placement.coupon_home(code).name)?;
            puts.put(store, move |tx| tx.set_coupon_hold(code, order, true))
                .await?;
        }
        puts.finish().await?;
        old.close().await?;
    }

    let mut summary = BTreeMap::new();
    for (name, (store, moved)) in targets {
        store.close().await?;
        summary.insert(name, moved);
    }
    Ok(summary)
}

/// Writes kept in flight together, so the store's writer commits them in
/// batches (one journal sync each) rather than one by one; a failed run is
/// simply started again on empty dirs.
#[derive(Default)]
struct Puts(futures::stream::FuturesUnordered<BoxFuture<'static, Result<(), StoreError>>>);

/// Writes in flight at most.
const IN_FLIGHT: usize = 1024;

impl Puts {
    async fn put(
        &mut self,
        store: &Store,
        body: impl FnOnce(&mut Tx<'_>) -> TxResult<()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.0.push(Box::pin(store.submit(body)));
        if self.0.len() >= IN_FLIGHT {
            if let Some(done) = self.0.next().await {
                done?;
            }
        }
        Ok(())
    }

    /// Waits for every write still in flight.
    async fn finish(&mut self) -> anyhow::Result<()> {
        while let Some(done) = self.0.next().await {
            done?;
        }
        Ok(())
    }
}

fn target<'a>(
    targets: &'a mut BTreeMap<String, (Store, Moved)>,
    name: &str,
) -> anyhow::Result<(&'a Store, &'a mut Moved)> {
    let (store, moved) = targets
        .get_mut(name)
        .with_context(|| format!("no target for {name}"))?;
    Ok((store, moved))
}
