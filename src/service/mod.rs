//! What boxoffice offers, as one API the HTTP layer calls. Each operation
//! finds the home node of the entity it touches (see [`Placement`]) and
//! runs there: on this node through [`Local`], on another through the
//! cluster. Password hashing runs on the node that took the request.

mod local;
mod request;

use std::sync::Arc;

pub use local::Local;
pub use request::{Reply, Request};

use crate::{
    catalog::Catalog,
    cluster::{placement::Member, Cluster, Placement},
    domain::{
        Charge, Email, Event, Order, OrderId, Password, Price, Ticket, TicketEvent, TicketId,
        Title, User, UserId,
    },
    error::{Error, Result},
    passwords::Hasher,
    store::StoreError,
};

#[derive(Clone)]
pub struct Service {
    placement: Arc<Placement>,
    local: Local,
    cluster: Option<Cluster>,
    hasher: Hasher,
    catalog: Catalog,
}

/// The caller's orders, and the nodes that could not be asked.
#[derive(Debug, Clone)]
pub struct OrderList {
    pub orders: Vec<Order>,
    pub unreachable: Vec<String>,
}

impl Service {
    pub fn new(
        placement: Arc<Placement>,
        local: Local,
        cluster: Option<Cluster>,
        hasher: Hasher,
        catalog: Catalog,
    ) -> Self {
        Self {
            placement,
            local,
            cluster,
            hasher,
            catalog,
        }
    }

    /// This node's own operations (for tests and tools in process).
    pub fn local(&self) -> &Local {
        &self.local
    }

    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Runs `request` on `home`: here, or forwarded to that node.
    pub async fn call<T>(&self, home: &Member, request: Request) -> Result<T>
    where
        T: TryFrom<Reply, Error = Error>,
    {
        let reply = if home.name == self.placement.me().name {
            self.local.handle(request).await?
        } else {
            match &self.cluster {
                Some(cluster) => cluster.forward(&home.name, request).await?,
                None => {
                    return Err(Error::Internal(format!(
                        "{} is not a configured peer",
                        home.name
                    )))
                }
            }
        };
        T::try_from(reply)
    }

    // ---- accounts -------------------------------------------------------

    pub async fn sign_up(&self, email: Email, password: Password) -> Result<User> {
        let home = self.placement.account_home(&email);
        // Cheap early answer; the home node's transaction decides races.
        let existing: Option<User> = self
            .call(
                home,
                Request::UserByEmail {
                    email: email.clone(),
                },
            )
            .await?;
        if existing.is_some() {
            return Err(StoreError::EmailTaken.into());
        }
        let hash = self.hasher.hash(&password).await?;
        let user = User::new(email, hash);
        self.call::<()>(home, Request::CreateUser { user: user.clone() })
            .await?;
        Ok(user)
    }

    /// The account for `email` if `password` is right. Unknown email and wrong
    /// password give the same error after the same amount of work.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<User> {
        let user: Option<User> = match Email::parse(email) {
            Ok(email) => {
                let home = self.placement.account_home(&email);
                self.call(home, Request::UserByEmail { email }).await?
            }
            Err(_) => None,
        };
        let ok = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        match user {
            Some(user) if ok => Ok(user),
            _ => Err(Error::bad_request("Invalid credentials")),
        }
    }

    pub async fn change_password(
        &self,
        id: UserId,
        email: &str,
        current: &str,
        new: Password,
    ) -> Result<()> {
        let not_you = || Error::Unauthorized("Not authorized".into());
        let email = Email::parse(email).map_err(|_| not_you())?;
        let home = self.placement.account_home(&email);
        let user: Option<User> = self
            .call(
                home,
                Request::UserByEmail {
                    email: email.clone(),
                },
            )
            .await?;
        let user = user.filter(|u| u.id == id).ok_or_else(not_you)?;
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
        self.call(home, Request::SetPassword { email, id, hash })
            .await
    }

    // ---- tickets --------------------------------------------------------

    pub async fn create_ticket(
        &self,
        seller: UserId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        let ticket = Ticket::new(title, price, seller);
        let home = self.placement.ticket_home(ticket.id);
        self.call(home, Request::CreateTicket { ticket }).await
    }

    pub async fn ticket(&self, id: TicketId) -> Result<Ticket> {
        self.call(self.placement.ticket_home(id), Request::Ticket { id })
            .await
    }

    /// Tickets that can be bought now, from this node's catalog (fed by the
    /// ticket events of every node).
    pub fn available_tickets(&self) -> Vec<TicketEvent> {
        self.catalog.available()
    }

    pub async fn edit_ticket(
        &self,
        by: UserId,
        id: TicketId,
        title: Title,
        price: Price,
    ) -> Result<Ticket> {
        let request = Request::EditTicket {
            by,
            id,
            title,
            price,
        };
        self.call(self.placement.ticket_home(id), request).await
    }

    // ---- orders ---------------------------------------------------------

    /// Holds `ticket` for `buyer`. Retrying with the same `key` returns the
    /// first order instead of trying again.
    pub async fn reserve(&self, buyer: UserId, ticket: TicketId, key: String) -> Result<Order> {
        let request = Request::Reserve { buyer, ticket, key };
        self.call(self.placement.ticket_home(ticket), request).await
    }

    /// The caller's orders from every node, oldest first. Nodes that cannot
    /// be reached are named rather than failing the whole list.
    pub async fn orders_of(&self, user: UserId) -> Result<OrderList> {
        let asks = self.placement.members().iter().map(|m| async move {
            (
                m.name.clone(),
                self.call::<Vec<Order>>(m, Request::OrdersOf { user }).await,
            )
        });
        let mut list = OrderList {
            orders: Vec::new(),
            unreachable: Vec::new(),
        };
        for (node, result) in futures::future::join_all(asks).await {
            match result {
                Ok(orders) => list.orders.extend(orders),
                Err(Error::Unavailable(_)) => list.unreachable.push(node),
                Err(e) => return Err(e),
            }
        }
        // Ids are time-ordered.
        list.orders.sort_by_key(|o| (o.created_at, o.id));
        Ok(list)
    }

    pub async fn order(&self, user: UserId, id: OrderId) -> Result<Order> {
        self.call(self.placement.order_home(id), Request::Order { user, id })
            .await
    }

    pub async fn cancel(&self, user: UserId, id: OrderId) -> Result<Order> {
        self.call(self.placement.order_home(id), Request::Cancel { user, id })
            .await
    }

    pub async fn pay(
        &self,
        user: UserId,
        id: OrderId,
        token: String,
        key: String,
    ) -> Result<Charge> {
        let request = Request::Pay {
            user,
            id,
            token,
            key,
        };
        self.call(self.placement.order_home(id), request).await
    }

    // ---- operators ------------------------------------------------------

    pub fn stats(&self) -> Result<Stats> {
        Ok(Stats {
            live_actors: self.local.actors().live_entities(),
            last_event_seq: self.local.store().last_event_seq()?,
        })
    }

    /// This node's own event log.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        Ok(self.local.store().events_after(after, limit)?)
    }
}

/// A node's vital signs, for operators.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Ticket and order actors in memory now.
    pub live_actors: usize,
    pub last_event_seq: u64,
}
