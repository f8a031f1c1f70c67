//! Pay for a held order: its actor charges the card, then has the ticket
//! actor complete the order and sell the ticket in one transaction.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Home, Operation, Ops};
use crate::{
    actors::OrderMsg,
    domain::{Charge, OrderId, UserId},
    error::Result,
};

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Pay {
    pub(crate) user: UserId,
    pub(crate) id: OrderId,
    /// The card token from the payment provider.
    pub(crate) token: String,
    /// Retrying with the same key returns the first charge.
    pub(crate) key: String,
}

impl Operation for Pay {
    const NAME: &'static str = "pay";
    type Reply = Charge;
    /// The home node waits for the card (`Settings::payment_timeout`) and
    /// then for the disk: the entry node must outwait both, or it would
    /// report a failure while the charge goes through.
    const TIMEOUT: Duration = Duration::from_secs(20);

    async fn apply(self, home: &Home) -> Result<Charge> {
        let Self {
            user,
            id,
            token,
            key,
        } = self;
        home.order_of(user, id).await?;
        home.actors
            .order(id, |reply| OrderMsg::Pay {
                by: user,
                token: token.clone(),
                key: key.clone(),
                reply,
            })
            .await?
    }
}

impl Ops {
    /// Charges the card behind `token` and completes the order, selling the
    /// ticket. A retry with the same `key` returns the first charge, and an
    /// order is never charged twice.
    pub async fn pay(
        &self,
        user: UserId,
        id: OrderId,
        token: String,
        key: String,
    ) -> Result<Charge> {
        let op = Pay {
            user,
            id,
            token,
            key,
        };
        self.run(self.placement.order_home(id), op).await
    }
}
