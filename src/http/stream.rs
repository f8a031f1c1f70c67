//! `GET /api/tickets/stream`: the catalog's ticket changes as Server-Sent
//! Events, so pages show holds and sales within a second, on any node.
//!
//! The stream follows this node's catalog feed (`catalog::Changes`), which
//! holds only changes on disk. It starts with `retry: 1000` and the id of
//! where it starts (an event without data: a browser records the id but
//! dispatches nothing), so even a client that saw no change resumes
//! without a gap. A reconnect's `Last-Event-ID` resumes after that change
//! while this node's ring still holds what followed; otherwise the stream
//! says `event: reset` ("reload"), as it does to a reader that falls too
//! far behind. Streams end when the node starts shutting down, so the
//! drain does not wait for them.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue},
    response::{
        sse::{Event, KeepAlive},
        IntoResponse, Response, Sse,
    },
};
use futures::Stream;
use tokio::sync::watch;

use super::{
    client::ClientIp,
    error::{ApiResult, ErrorBody},
    paging::Params,
    views::TicketChangeView,
    AppState,
};
use crate::{
    catalog::{Changes, Next, Subscription},
    domain::TicketId,
    error::Error,
};

/// Most `ticketId`s one stream may ask for.
const MAX_TICKETS: usize = 100;
/// Streams one client address may hold open at once (a browser with many
/// tabs needs a few; a script opening thousands gets 429).
const PER_CLIENT: usize = 16;
/// A stream ends after this long; the browser reconnects at once and
/// resumes from its last id, so nothing is lost, and no connection is held
/// for ever.
const LIFETIME: Duration = Duration::from_secs(300);

/// The streams open on this node: at most a quarter of the connection cap
/// in all (so pages and the API keep the rest), and [`PER_CLIENT`] per
/// client address.
pub(crate) struct Streams {
    total: std::sync::Arc<tokio::sync::Semaphore>,
    by_client: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

impl Streams {
    pub(crate) fn new(max_connections: usize) -> Self {
        Self {
            total: std::sync::Arc::new(tokio::sync::Semaphore::new((max_connections / 4).max(1))),
            by_client: std::sync::Mutex::default(),
        }
    }

    /// A place for one more stream from `client`, or why not.
    fn open(self: &std::sync::Arc<Self>, client: std::net::IpAddr) -> ApiResult<Slot> {
        let busy = |status, message: &str| {
            super::error::ApiError::new(status, "too_many_streams", message).with_retry_after(5)
        };
        let permit = self.total.clone().try_acquire_owned().map_err(|_| {
            busy(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "This node streams to as many clients as it can; retry soon",
            )
        })?;
        let mut by_client = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        let open = by_client.entry(client).or_default();
        if *open >= PER_CLIENT {
            return Err(busy(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many open streams from this address",
            ));
        }
        *open += 1;
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS).increment(1.0);
        Ok(Slot {
            streams: self.clone(),
            client,
            _permit: permit,
        })
    }
}

/// One open stream's place, given back when the stream ends.
struct Slot {
    streams: std::sync::Arc<Streams>,
    client: std::net::IpAddr,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS).decrement(1.0);
        let mut by_client = self
            .streams
            .by_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(open) = by_client.get_mut(&self.client) {
            *open -= 1;
            if *open == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}
/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How soon a browser reconnects after losing the stream.
const RETRY: Duration = Duration::from_secs(1);

/// Live ticket changes (Server-Sent Events).
///
/// Each change this node's catalog applies is one message: `event: ticket`,
/// an opaque `id`, and `data:` the ticket as one line of JSON (a
/// `TicketChange`: the `Ticket` fields plus `forSale`). A reconnect that
/// sends `Last-Event-ID` gets the changes after it, then live ones; when
/// they are no longer known (too old, another node's, or from before a
/// restart), or a slow reader falls too far behind, `event: reset` (data
/// `{}`) says to reload, and live changes follow. A stream ends after five
/// minutes (a browser reconnects at once and resumes from its last id) or
/// when the node shuts down; a `: keep-alive` comment comes every 15 s.
#[utoipa::path(
    get,
    path = "/api/tickets/stream",
    operation_id = "streamTickets",
    tag = "tickets",
    params(
        ("ticketId" = Option<Vec<uuid::Uuid>>, Query, style = Form, explode,
            description = "Only changes to these tickets (repeat it for several, at most 100); \
                all tickets when absent"),
        ("from" = Option<String>, Query, max_length = 64,
            description = "Resume after this id, as `Last-Event-ID` does (which wins when both \
                are given): a page rendered with the feed's id at that moment misses nothing \
                that happened before its script connected"),
        ("last-event-id" = Option<String>, Header,
            description = "The `id` of the last message received: the stream resumes after it \
                (browsers' `EventSource` sends it when reconnecting)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`: first `retry: 1000` \
            and the `id` of the starting point (no data); then, when `Last-Event-ID` could \
            not be resumed from, `event: reset` with data `{}`; then one `event: ticket` per \
            change, with an `id` and as data one line of JSON, a `TicketChange` \
            (`#/components/schemas/TicketChange`); `event: reset` again whenever the reader \
            fell too far behind; a `: keep-alive` comment every 15 s",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "A `ticketId` that is not a ticket's id, more than 100 of \
            them, a `from` over 64 characters, or an unreadable query string", body = ErrorBody),
        (status = 429, description = "This address already holds 16 open streams",
            body = ErrorBody),
        (status = 503, description = "This node already streams to as many clients as it may \
            (a quarter of its connection cap)", body = ErrorBody),
    ),
)]
pub(super) async fn tickets(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let only = only_tickets(&params)?;
    let slot = state.streams.open(client)?;
    // A reconnect's header wins over the `from` a page was rendered with.
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(params.text("from", 64)?);
    let feed = state.ops.catalog().changes().clone();
    let (subscription, missed) = feed.subscribe(last_seen, only);
    let mut pending = VecDeque::from([Event::default().retry(RETRY).id(subscription.id())]);
    if missed {
        pending.push_back(reset(&subscription));
    }
    let stream = Live {
        feed,
        subscription,
        pending,
        stopping: state.stopping.clone(),
        ends: tokio::time::Instant::now() + LIFETIME,
        _slot: slot,
    }
    .into_stream();
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Proxies such as nginx would otherwise hold events back in a buffer.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The `ticketId` filter, if any.
fn only_tickets(params: &Params) -> ApiResult<Option<std::collections::HashSet<TicketId>>> {
    let ids = params
        .all("ticketId")
        .map(|raw| {
            raw.trim()
                .parse()
                .map_err(|_| Error::invalid("ticketId", "ticketId must be a ticket's id"))
        })
        .collect::<Result<std::collections::HashSet<TicketId>, _>>()?;
    if ids.len() > MAX_TICKETS {
        return Err(Error::invalid(
            "ticketId",
            format!("At most {MAX_TICKETS} ticketIds per stream"),
        )
        .into());
    }
    Ok((!ids.is_empty()).then_some(ids))
}

fn reset(subscription: &Subscription) -> Event {
    Event::default()
        .event("reset")
        .id(subscription.id())
        .data("{}")
}

/// One open stream.
struct Live {
    feed: Changes,
    subscription: Subscription,
    /// Messages made but not yet sent.
    pending: VecDeque<Event>,
    /// True once the node starts shutting down.
    stopping: watch::Receiver<bool>,
    /// When this stream ends (the browser reconnects and resumes).
    ends: tokio::time::Instant,
    _slot: Slot,
}

impl Live {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures::stream::unfold(self, |mut live| async move {
            loop {
                if let Some(event) = live.pending.pop_front() {
                    return Some((Ok(event), live));
                }
                let next = tokio::select! {
                    next = live.subscription.next() => next,
                    // Shutting down (or the node is gone): end the stream.
                    _ = live.stopping.wait_for(|stopping| *stopping) => return None,
                    () = tokio::time::sleep_until(live.ends) => return None,
                };
                live.queue(next);
            }
        })
    }

    fn queue(&mut self, next: Next) {
        match next {
            Next::Reset => self.pending.push_back(reset(&self.subscription)),
            Next::Changes(changes) => {
                for change in changes {
                    let event = Event::default()
                        .event("ticket")
                        .id(self.feed.id(change.seq))
                        .json_data(TicketChangeView::from(&change.ticket));
                    match event {
                        Ok(event) => self.pending.push_back(event),
                        Err(e) => tracing::error!(error = %e, "a ticket change did not serialize"),
                    }
                }
            }
        }
    }
}
