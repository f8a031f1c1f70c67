//! `/tickets/new` and `/tickets/{id}`: selling, showing, editing and
//! buying a ticket, through the same checks and operations as
//! `/api/tickets` and `POST /api/orders`.

use askama::Template;
use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};

use super::{csrf::Posted, form_key, new_key, Checked, Form, PageResult, Viewer};
use crate::{
    domain::{Price, Ticket, TicketState},
    http::{
        error::ApiError,
        json::JsonObject,
        orders::buy_fields,
        tickets::{ticket_id, title_and_price},
        AppState, PathId,
    },
};

const SHOWN: &[&str] = &["title", "price"];

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewTicket<'a> {
    csrf: &'a str,
    form: &'a Form,
}

fn new_page(viewer: &Viewer, form: &Form) -> Response {
    let body = NewTicket {
        csrf: &viewer.csrf,
        form,
    };
    form.respond(viewer, "Sell a ticket", &body)
}

/// `GET /tickets/new`: for the signed in.
pub(super) async fn new_form(viewer: Viewer) -> PageResult {
    viewer.signed_in()?;
    Ok(new_page(&viewer, &Form::blank()))
}

/// `POST /tickets/new`: as `POST /api/tickets`, then to the ticket.
pub(super) async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    Posted(values): Posted,
) -> PageResult {
    let me = viewer.signed_in()?;
    let created = async {
        let (title, price) = title_and_price(JsonObject::from_form(&values, &[], &[]))?;
        Ok::<_, ApiError>(state.ops.create_ticket(me.id, title, price).await?)
    };
    Ok(match created.await {
        Ok(ticket) => Redirect::to(&format!("/tickets/{}", ticket.id)).into_response(),
        Err(e) => new_page(&viewer, &Form::failed(values, e, SHOWN)),
    })
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage<'a> {
    id: String,
    version: u64,
    title: &'a str,
    price: Price,
    /// `available`, `held` or `sold`.
    state: &'static str,
    /// Signed in and not the seller: the Purchase form is on the page
    /// (hidden while the ticket is not available, for the script).
    can_buy: bool,
    signed_out: bool,
    owner: bool,
    /// The viewer's own order holding the ticket, if it is theirs.
    your_order: Option<String>,
    csrf: &'a str,
    /// The idempotency key of the Purchase form.
    key: String,
    purchase: &'a Form,
    edit: &'a Form,
}

/// The viewer's own order holding `ticket`, if there is one: only then
/// is "someone else" not checking it out.
async fn own_hold(state: &AppState, viewer: &Viewer, ticket: &Ticket) -> Option<String> {
    let (Some(me), TicketState::Held(order)) = (viewer.user.as_ref(), ticket.state) else {
        return None;
    };
    // Anyone else's order is refused: then it is someone else's hold.
    let order = state.ops.order(me.id, order).await.ok()?;
    Some(order.id.to_string())
}

/// The ticket's page, with the Purchase and edit forms as given (`None`:
/// the edit form filled with the ticket as it is).
async fn ticket_page(
    state: &AppState,
    viewer: &Viewer,
    ticket: &Ticket,
    purchase: &Form,
    edit: Option<&Form>,
) -> Response {
    let your_order = own_hold(state, viewer, ticket).await;
    let me = viewer.user.as_ref();
    let owner = me.is_some_and(|u| u.id == ticket.user_id);
    let current = Form::filled(vec![
        ("title".into(), ticket.title.as_str().to_owned()),
        ("price".into(), ticket.price.to_string()),
    ]);
    let edit = edit.unwrap_or(&current);
    let body = TicketPage {
        id: ticket.id.to_string(),
        version: ticket.version,
        title: ticket.title.as_str(),
        price: ticket.price,
        state: match ticket.state {
            TicketState::Available => "available",
            TicketState::Held(_) => "held",
            TicketState::Sold(_) => "sold",
        },
        can_buy: me.is_some() && !owner,
        signed_out: me.is_none(),
        owner,
        your_order,
        csrf: &viewer.csrf,
        key: new_key(),
        purchase,
        edit,
    };
    // A failed form's status (400, 409, ...) if there is one.
    let form = if edit.error_status().is_some() {
        edit
    } else {
        purchase
    };
    form.respond(viewer, ticket.title.as_str(), &body)
}

/// `GET /tickets/{id}`.
pub(super) async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
) -> PageResult {
    let PathId(id) = id?;
    let ticket = state.ops.ticket(ticket_id(&id)?).await?;
    Ok(ticket_page(&state, &viewer, &ticket, &Form::blank(), None).await)
}

/// `POST /tickets/{id}/purchase`: BUY at the price the page showed (a
/// changed price is refused, with the new one named), then to the order.
pub(super) async fn purchase(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    let me = viewer.signed_in()?;
    let ticket = ticket_id(&id)?;
    let mut body = JsonObject::from_form(&values, &["price"], &[]);
    body.0.insert("ticketId".into(), id.clone().into());
    let bought = async {
        let (ticket, seen) = buy_fields(body)?;
        Ok::<_, ApiError>(
            state
                .ops
                .buy(me.id, ticket, form_key(&values), seen)
                .await?,
        )
    };
    match bought.await {
        Ok(order) => Ok(Redirect::to(&format!("/orders/{}", order.id)).into_response()),
        Err(e) => {
            let shown = state.ops.ticket(ticket).await?;
            Ok(ticket_page(&state, &viewer, &shown, &Form::failed(values, e, &[]), None).await)
        }
    }
}

/// `POST /tickets/{id}/edit`: as `PUT /api/tickets/{id}`, then back to
/// the ticket.
pub(super) async fn edit(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    let me = viewer.signed_in()?;
    let ticket = ticket_id(&id)?;
    let edited = async {
        let (title, price) = title_and_price(JsonObject::from_form(&values, &[], &[]))?;
        Ok::<_, ApiError>(state.ops.edit_ticket(me.id, ticket, title, price).await?)
    };
    match edited.await {
        Ok(_) => Ok(Redirect::to(&format!("/tickets/{ticket}")).into_response()),
        Err(e) => {
            let shown = state.ops.ticket(ticket).await?;
            let form = Form::failed(values, e, SHOWN);
            Ok(ticket_page(&state, &viewer, &shown, &Form::blank(), Some(&form)).await)
        }
    }
}
