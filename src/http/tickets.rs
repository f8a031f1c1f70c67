//! `/api/tickets`: list, show, create, edit.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::{
    error::{ApiError, ApiResult},
    json::{Fields, JsonObject},
    paging::{link_next, Params},
    session::SignedIn,
    views::TicketView,
    AppState, PathId,
};
use crate::{
    catalog::{words, Query},
    domain::{TicketId, Title},
};

/// A ticket id from the path; one that cannot exist is simply not found.
fn ticket_id(raw: &str) -> ApiResult<TicketId> {
    raw.parse().map_err(|_| ApiError::not_found("Ticket"))
}

fn title_and_price(body: JsonObject) -> ApiResult<(Title, crate::domain::Price)> {
    let mut f = Fields::new(body);
    let title = f.parse("title", Title::parse);
    let price = f.price("price");
    f.done((title, price))
}

/// `GET /api/tickets?limit=N&after=CURSOR&q=WORDS`: for sale, oldest first.
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
    let body: Vec<TicketView> = page.tickets.iter().map(TicketView::from).collect();
    let mut pairs = vec![("limit", limit.to_string())];
    if let Some(q) = q {
        pairs.push(("q", q.to_owned()));
    }
    let next = page.next.map(|id| id.to_string());
    Ok(link_next(
        Json(body).into_response(),
        "/api/tickets",
        next,
        pairs,
    ))
}

pub(super) async fn show(
    State(state): State<AppState>,
    PathId(id): PathId,
) -> ApiResult<Json<TicketView>> {
    let ticket = state.ops.ticket(ticket_id(&id)?).await?;
    Ok(Json(TicketView::from(&ticket)))
}

pub(super) async fn create(
    State(state): State<AppState>,
    SignedIn(me): SignedIn,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<TicketView>)> {
    let (title, price) = title_and_price(body)?;
    let ticket = state.ops.create_ticket(me.id, title, price).await?;
    Ok((StatusCode::CREATED, Json(TicketView::from(&ticket))))
}

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
