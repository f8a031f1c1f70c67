//! `/orders` and `/orders/{id}`: the caller's orders, one order with its
//! countdown and pay form, paying and cancelling, through the same checks
//! and operations as `/api/orders` and `/api/payments`. Someone else's
//! order is not found.

use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use super::{csrf::Posted, form_key, new_key, page, Checked, Form, PageResult, Viewer};
use crate::{
    domain::{Order, OrderId, OrderStatus, Price, Timestamp},
    http::{
        error::ApiError, json::JsonObject, orders::order_id, paging::Params,
        payments::payment_fields, AppState, PathId,
    },
};

/// Orders on one page of the list.
const PAGE_SIZE: usize = 50;

/// What the buyer is told of an order's state: `created` (payable now),
/// `expired` (its hold ran out unpaid), `cancelled` or `complete`.
fn shown_status(order: &Order, now: Timestamp) -> &'static str {
    match order.status {
        OrderStatus::Complete => "complete",
        _ if now >= order.expires_at => "expired",
        OrderStatus::Created => "created",
        OrderStatus::Cancelled => "cancelled",
    }
}

struct Row {
    id: OrderId,
    title: String,
    price: Price,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    orders: Vec<Row>,
    next: Option<String>,
    /// Nodes that did not answer, named.
    unreachable: String,
}

/// `GET /orders?after=`.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Checked<Params>,
) -> PageResult {
    let params = params?;
    let me = viewer.signed_in()?;
    let after = params.after::<OrderId>()?;
    let list = state.ops.orders_of(me.id, after, PAGE_SIZE).await?;
    let now = Timestamp::now();
    let body = OrdersPage {
        orders: list
            .orders
            .iter()
            .map(|o| Row {
                id: o.id,
                title: o.ticket.title.clone(),
                price: o.ticket.price,
                status: shown_status(o, now),
            })
            .collect(),
        next: list.next.map(|id| format!("/orders?after={id}")),
        unreachable: list.unreachable.join(", "),
    };
    Ok(page(StatusCode::OK, &viewer, "My orders", &body))
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage<'a> {
    id: String,
    ticket_id: String,
    title: &'a str,
    price: Price,
    status: &'static str,
    seconds_left: u64,
    csrf: &'a str,
    /// The idempotency key of the pay form.
    key: String,
    pay: &'a Form,
}

fn order_page(viewer: &Viewer, order: &Order, pay: &Form) -> Response {
    let now = Timestamp::now();
    let body = OrderPage {
        id: order.id.to_string(),
        ticket_id: order.ticket.id.to_string(),
        title: &order.ticket.title,
        price: order.ticket.price,
        status: shown_status(order, now),
        seconds_left: order.expires_at.remaining_from(now).as_secs(),
        csrf: &viewer.csrf,
        key: new_key(),
        pay,
    };
    pay.respond(viewer, "Order", &body)
}

/// `GET /orders/{id}`.
pub(super) async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
) -> PageResult {
    let PathId(id) = id?;
    let me = viewer.signed_in()?;
    let order = state.ops.order(me.id, order_id(&id)?).await?;
    Ok(order_page(&viewer, &order, &Form::blank()))
}

/// `POST /orders/{id}/pay`: as `POST /api/payments` (a coupon that
/// leaves nothing to pay needs no card), then back to the order.
pub(super) async fn pay(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    let me = viewer.signed_in()?;
    let order = order_id(&id)?;
    let mut body = JsonObject::from_form(&values, &["token", "coupon"], &[]);
    body.0.insert("orderId".into(), id.clone().into());
    let paid = async {
        let (order, coupon, token) = payment_fields(body)?;
        let key = form_key(&values);
        Ok::<_, ApiError>(state.ops.pay_with(me.id, order, token, coupon, key).await?)
    };
    match paid.await {
        Ok(charge) => Ok(Redirect::to(&format!("/orders/{}", charge.order_id)).into_response()),
        Err(e) => {
            let shown = state.ops.order(me.id, order).await?;
            let form = Form::failed(values, e, &["token", "coupon"]);
            Ok(order_page(&viewer, &shown, &form))
        }
    }
}

/// `POST /orders/{id}/cancel`: as `DELETE /api/orders/{id}`, then back to
/// the order.
pub(super) async fn cancel(
    State(state): State<AppState>,
    viewer: Viewer,
    id: Checked<PathId>,
    Posted(values): Posted,
) -> PageResult {
    let PathId(id) = id?;
    let me = viewer.signed_in()?;
    let order = order_id(&id)?;
    match state.ops.cancel(me.id, order).await {
        Ok(_) => Ok(Redirect::to(&format!("/orders/{order}")).into_response()),
        Err(e) => {
            let shown = state.ops.order(me.id, order).await?;
            let form = Form::failed(values, e.into(), &[]);
            Ok(order_page(&viewer, &shown, &form))
        }
    }
}
