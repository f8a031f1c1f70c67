//! `/api/tickets`: list, show, create, edit.

use axum::{extract::State, http::StatusCode, response::Response, Json};

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    json::{Fields, JsonObject},
    openapi::bodies,
    paging::{page_response, Params},
    session::SignedIn,
    views::TicketView,
    AppState, PathId,
};
use crate::{
    catalog::{words, Query},
    domain::{TicketId, Title},
};

/// A ticket id from the path; one that cannot exist is simply not found.
pub(crate) fn ticket_id(raw: &str) -> ApiResult<TicketId> {
    raw.parse().map_err(|_| ApiError::not_found("Ticket"))
}

/// A ticket's `title` and `price`, checked (creating and editing, the
/// pages too).
pub(crate) fn title_and_price(body: JsonObject) -> ApiResult<(Title, crate::domain::Price)> {
    let mut f = Fields::new(body);
    let title = f.parse("title", Title::parse);
    let price = f.price("price");
    f.done((title, price))
}

/// `GET /api/tickets?limit=N&after=CURSOR&q=WORDS`: for sale, oldest first.
#[utoipa::path(
    get,
    path = "/api/tickets",
    operation_id = "listTickets",
    tag = "tickets",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Page size, 1 to 1000 (1000 when absent)"),
        ("after" = Option<uuid::Uuid>, Query,
            description = "The cursor from the previous page's `Link` header (a ticket id)"),
        ("q" = Option<String>, Query, max_length = 200,
            description = "Words the title's words start with, any case: `rock conc` finds \
                \"Rock Concert\""),
    ),
    responses(
        (status = 200, description = "Tickets neither held nor sold, oldest first",
            body = [TicketView],
            headers(("link" = String,
                description = "`</api/tickets?limit=…&after=…>; rel=\"next\"` when there is more"))),
        (status = 400, description = "A bad `limit`, `after` or `q`, or an unreadable query \
            string", body = ErrorBody),
    ),
)]
pub(super) async fn list(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let limit = params.limit()?;
    let after = params.after::<TicketId>()?;
    let q = params.text("q", Title::MAX)?;
    let query = Query {
        after,
        limit,
        words: q.map(|q| words(q).collect()).unwrap_or_default(),
    };
    let page = state.ops.tickets_for_sale(&query);
    let next = page.next.map(|id| id.to_string());
    let body: Vec<TicketView> = page.tickets.into_iter().map(TicketView::from).collect();
    let mut pairs = vec![("limit", limit.to_string())];
    if let Some(q) = q {
        pairs.push(("q", q.to_owned()));
    }
    Ok(page_response(&body, "/api/tickets", next, pairs))
}

/// One ticket, whatever its state.
#[utoipa::path(
    get,
    path = "/api/tickets/{id}",
    operation_id = "showTicket",
    tag = "tickets",
    params(("id" = uuid::Uuid, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The ticket", body = TicketView),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 503, description = "The ticket's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<TicketView>> {
    let ticket = state.ops.ticket(ticket_id(&id)?).await?;
    Ok(Json(TicketView::from(&ticket)))
}

/// Puts a ticket up for sale; the caller is its seller.
#[utoipa::path(
    post,
    path = "/api/tickets",
    operation_id = "createTicket",
    tag = "tickets",
    request_body = bodies::TicketInput,
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 201, description = "Created", body = TicketView),
        (status = 400, description = "A field is invalid (`field` names it) or the body is \
            not a JSON object", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 503, description = "The ticket's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    let (title, price) = title_and_price(body)?;
    let ticket = state.ops.create_ticket(me.id, title, price).await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&ticket))))
}

/// Edits a ticket's title and price: its seller only, while it is free.
#[utoipa::path(
    put,
    path = "/api/tickets/{id}",
    operation_id = "editTicket",
    tag = "tickets",
    params(("id" = uuid::Uuid, Path, description = "The ticket's id")),
    request_body = bodies::TicketInput,
    security(("sessionCookie" = []), ("bearerJwt" = [])),
    responses(
        (status = 200, description = "Edited", body = TicketView),
        (status = 400, description = "A field is invalid, or the ticket is held or sold \
            (\"Cannot edit a reserved ticket\")", body = ErrorBody),
        (status = 401, description = "Not signed in, or not the ticket's seller",
            body = ErrorBody),
        (status = 404, description = "No such ticket", body = ErrorBody),
        (status = 503, description = "The ticket's home node is not reached", body = ErrorBody),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    PathId(id): PathId,
    body: JsonObject,
) -> ApiResult<Json<TicketView>> {
    let id = ticket_id(&id)?;
    let (title, price) = title_and_price(body)?;
    let ticket = state.ops.edit_ticket(me.id, id, title, price).await?;
    Ok(Json(TicketView::from(&ticket)))
}
