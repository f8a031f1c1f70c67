//! `GET /api/tickets/stream`: the catalog's ticket changes as Server-Sent
//! Events, so pages show holds and sales within a second, on any node.
//!
//! The stream follows this node's catalog feed (`catalog::Changes`), which
//! holds only flushed changes. It starts with `retry: 1000` and the id of
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
/// `{}`) says to reload, and live changes follow. The stream never ends
/// while the node runs; a `: keep-alive` comment comes every 15 s.
#[utoipa::path(
    get,
    path = "/api/tickets/stream",
    operation_id = "streamTickets",
    tag = "tickets",
    params(
        ("ticketId" = Option<Vec<uuid::Uuid>>, Query, style = Form, explode,
            description = "Only changes to these tickets (repeat it for several, at most 100); \
                all tickets when absent"),
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
            them, or an unreadable query string", body = ErrorBody),
    ),
)]
pub(super) async fn tickets(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let only = only_tickets(&params)?;
    let last_seen = headers.get("last-event-id").and_then(|v| v.to_str().ok());
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
        _counted: Counted::new(),
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
    _counted: Counted,
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

/// Counts an open stream in the subscribers gauge while it lives.
struct Counted;

impl Counted {
    fn new() -> Self {
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS).increment(1.0);
        Self
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::SSE_SUBSCRIBERS).decrement(1.0);
    }
}
