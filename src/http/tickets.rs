//! `/api/tickets`: list, show, create, edit.

use axum::{extract::State, http::StatusCode, Json};

use super::{
    error::{ApiError, ApiResult},
    json::{Fields, JsonObject},
    session::SignedIn,
    views::TicketView,
    AppState, PathId,
};
use crate::domain::{TicketId, Title};

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

pub(super) async fn list(State(state): State<AppState>) -> Json<Vec<TicketView>> {
    let tickets = state.ops.available_tickets();
    Json(tickets.iter().map(TicketView::from).collect())
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
