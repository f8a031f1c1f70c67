//! What boxoffice does, as one API the HTTP layer calls: checks that need
//! no owner are done here, everything that changes a ticket or an order is
//! passed to the owning actor. (The cluster layer slots in here: it decides
//! whether the owner is local or on another node.)

use std::sync::Arc;

use crate::{
    actors::{Actors, OrderMsg, TicketMsg},
    domain::{
        Charge, Email, Event, EventKind, Order, OrderId, Password, Price, Ticket, TicketEvent,
        TicketId, Title, User, UserId,
    },
    error::{Error, Result},
    passwords::Hasher,
    store::{Store, StoreError},
};

#[derive(Clone)]
pub struct Service {
    store: Arc<Store>,
    actors: Actors,
    hasher: Hasher,
}

impl Service {
    pub fn new(store: Arc<Store>, actors: Actors, hasher: Hasher) -> Self {
        Self {
            store,
            actors,
            hasher,
        }
    }

    pub fn actors(&self) -> &Actors {
        &self.actors
    }

    // ---- accounts -------------------------------------------------------

    pub async fn sign_up(&self, email: Email, password: Password) -> Result<User> {
        // Cheap early answer; the transaction below is what decides races.
        if self.store.user_by_email(&email)?.is_some() {
            return Err(StoreError::EmailTaken.into());
        }
        let hash = self.hasher.hash(&password).await?;
        let user = User::new(email, hash);
        let (_, durable) = self.store.write(|tx| {
            tx.insert_user(&user)?;
            tx.emit(EventKind::UserCreated {
                id: user.id,
                email: user.email.clone(),
                version: user.version,
            })
        })?;
        durable.wait().await?;
        Ok(user)
    }

    /// The account for `email` if `password` is right. Unknown email and wrong
    /// password give the same error after the same amount of work.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<User> {
        let invalid = || Error::bad_request("Invalid credentials");
        let user = match Email::parse(email) {
            Ok(email) => self.store.user_by_email(&email)?,
            Err(_) => None,
        };
        let ok = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        match user {
            Some(user) if ok => Ok(user),
            _ => Err(invalid()),
        }
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>> {
        Ok(self.store.user(id)?)
    }

    pub async fn change_password(&self, id: UserId, current: &str, new: Password) -> Result<()> {
        let user = self
            .store
            .user(id)?
            .ok_or_else(|| Error::Unauthorized("Not authorized".into()))?;
        if !self
            .hasher
            .verify(current, Some(&user.password_hash))
            .await?
        {
            return Err(Error::invalid(
                "currentPassword",
                "Current password is incorrect",
            ));
        }
        let hash = self.hasher.hash(&new).await?;
        let (_, durable) = self.store.write(|tx| {
            // Re-read inside the transaction: concurrent changes get distinct versions.
            let Some(mut user) = tx.user(id)? else {
                return crate::store::abort(StoreError::Corrupt("user vanished".into()));
            };
            user.change_password(hash.clone());
            tx.put_user(&user)?;
            tx.emit(EventKind::UserUpdated {
                id: user.id,
                version: user.version,
            })
        })?;
        durable.wait().await?;
        Ok(())
    }

    // ---- tickets --------------------------------------------------------

    pub async fn create_ticket(
        &self,
        seller: UserId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        // A new ticket has no owner actor yet and nobody else knows its id.
        let ticket = Ticket::new(title, price, seller);
        let (_, durable) = self.store.write(|tx| {
            tx.put_ticket(&ticket)?;
            tx.emit(EventKind::TicketCreated(TicketEvent::from(&ticket)))
        })?;
        durable.wait().await?;
        Ok(ticket)
    }

    pub fn ticket(&self, id: TicketId) -> Result<Ticket> {
        self.store.ticket(id)?.ok_or(Error::NotFound("Ticket"))
    }

    /// Tickets that can be bought now: neither held nor sold.
    pub fn available_tickets(&self) -> Result<Vec<Ticket>> {
        let mut out = Vec::new();
        for ticket in self.store.tickets() {
            let ticket = ticket?;
            if ticket.is_available() {
                out.push(ticket);
            }
        }
        Ok(out)
    }

    pub async fn edit_ticket(
        &self,
        by: UserId,
        id: TicketId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        self.ticket(id)?;
        self.actors
            .ticket(id, |reply| TicketMsg::Edit {
                by,
                title: title.clone(),
                price,
                reply,
            })
            .await?
    }

    // ---- orders ---------------------------------------------------------

    /// Holds `ticket` for `buyer`. Retrying with the same `key` returns the
    /// first order instead of trying again.
    pub async fn reserve(&self, buyer: UserId, ticket: TicketId, key: String) -> Result<Order> {
        self.ticket(ticket)?;
        self.actors
            .ticket(ticket, |reply| TicketMsg::Reserve {
                by: buyer,
                key: key.clone(),
                reply,
            })
            .await?
    }

    pub fn orders_of(&self, user: UserId) -> Result<Vec<Order>> {
        Ok(self.store.orders_of(user)?)
    }

    pub fn order(&self, user: UserId, id: OrderId) -> Result<Order> {
        let order = self.store.order(id)?.ok_or(Error::NotFound("Order"))?;
        order.authorize(user)?;
        Ok(order)
    }

    pub async fn cancel(&self, user: UserId, id: OrderId) -> Result<Order> {
        self.order(user, id)?;
        self.actors
            .order(id, |reply| OrderMsg::Cancel { by: user, reply })
            .await?
    }

    pub async fn pay(
        &self,
        user: UserId,
        id: OrderId,
        token: String,
        key: String,
    ) -> Result<Charge> {
        self.order(user, id)?;
        self.actors
            .order(id, |reply| OrderMsg::Pay {
                by: user,
                token: token.clone(),
                key: key.clone(),
                reply,
            })
            .await?
    }

    // ---- operators ------------------------------------------------------

    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            live_actors: self.actors.live_entities(),
            last_event_seq: self.store.last_event_seq()?,
        })
    }

    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        Ok(self.store.events_after(after, limit)?)
    }
}

/// A node's vital signs, for operators.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Ticket and order actors in memory now.
    pub live_actors: usize,
    pub last_event_seq: u64,
}
