//! What a node does for the entities whose home it is: every [`Request`]
//! runs here, whether it came from this node's HTTP layer or was forwarded
//! by another node. Changes to tickets and orders go to their actors.

use std::sync::Arc;

use super::request::{Reply, Request};
use crate::{
    actors::{Actors, OrderMsg, TicketMsg},
    domain::{EventKind, Order, OrderId, Ticket, UserId},
    error::{Error, Result},
    store::{abort, Store, StoreError},
};

#[derive(Clone)]
pub struct Local {
    node: Arc<str>,
    store: Arc<Store>,
    actors: Actors,
}

impl Local {
    pub fn new(node: &str, store: Arc<Store>, actors: Actors) -> Self {
        Self {
            node: node.into(),
            store,
            actors,
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn actors(&self) -> &Actors {
        &self.actors
    }

    pub async fn handle(&self, request: Request) -> Result<Reply> {
        match request {
            Request::Ping => Ok(Reply::Pong {
                node: self.node.to_string(),
            }),
            Request::CreateUser { user } => {
                let (_, durable) = self.store.write(|tx| tx.create_user(&user))?;
                durable.wait().await?;
                Ok(Reply::Done)
            }
            Request::UserByEmail { email } => Ok(Reply::User(self.store.user_by_email(&email)?)),
            Request::SetPassword { email, id, hash } => {
                let (_, durable) = self.store.write(|tx| {
                    // Re-read inside the transaction: concurrent changes get distinct versions.
                    let Some(mut user) = tx.user(id)? else {
                        return abort(StoreError::Corrupt(format!("no user {id} for {email}")));
                    };
                    user.change_password(hash.clone());
                    tx.put_user(&user)?;
                    tx.emit(EventKind::UserUpdated {
                        id: user.id,
                        version: user.version,
                    })
                })?;
                durable.wait().await?;
                Ok(Reply::Done)
            }
            Request::CreateTicket { ticket } => {
                // A new ticket has no owner actor yet and nobody else knows its id.
                let (_, durable) = self.store.write(|tx| tx.create_ticket(&ticket))?;
                durable.wait().await?;
                Ok(Reply::Ticket(ticket))
            }
            Request::Ticket { id } => Ok(Reply::Ticket(self.ticket(id)?)),
            Request::EditTicket {
                by,
                id,
                title,
                price,
            } => {
                let ticket = self
                    .actors
                    .ticket(id, |reply| TicketMsg::Edit {
                        by,
                        title: title.clone(),
                        price,
                        reply,
                    })
                    .await??;
                Ok(Reply::Ticket(ticket))
            }
            Request::Reserve { buyer, ticket, key } => {
                // An unknown ticket fails in the actor's start-up: no read here.
                let order = self
                    .actors
                    .ticket(ticket, |reply| TicketMsg::Reserve {
                        by: buyer,
                        key: key.clone(),
                        reply,
                    })
                    .await??;
                Ok(Reply::Order(order))
            }
            Request::Order { user, id } => Ok(Reply::Order(self.order(user, id)?)),
            Request::OrdersOf { user } => Ok(Reply::Orders(self.store.orders_of(user)?)),
            Request::Cancel { user, id } => {
                self.order(user, id)?;
                let order = self
                    .actors
                    .order(id, |reply| OrderMsg::Cancel { by: user, reply })
                    .await??;
                Ok(Reply::Order(order))
            }
            Request::Pay {
                user,
                id,
                token,
                key,
            } => {
                self.order(user, id)?;
                let charge = self
                    .actors
                    .order(id, |reply| OrderMsg::Pay {
                        by: user,
                        token: token.clone(),
                        key: key.clone(),
                        reply,
                    })
                    .await??;
                Ok(Reply::Charge(charge))
            }
            Request::EventsAfter { after, limit } => {
                Ok(Reply::Events(self.store.events_after(after, limit)?))
            }
        }
    }

    fn ticket(&self, id: crate::domain::TicketId) -> Result<Ticket> {
        self.store.ticket(id)?.ok_or(Error::not_found("Ticket"))
    }

    fn order(&self, user: UserId, id: OrderId) -> Result<Order> {
        let order = self.store.order(id)?.ok_or(Error::not_found("Order"))?;
        order.authorize(user)?;
        Ok(order)
    }
}
