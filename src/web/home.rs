//! `/`: the tickets for sale, a page at a time from the catalog (as
//! `GET /api/tickets` pages it), searchable with `?q=`.

use askama::Template;
use axum::{extract::State, http::StatusCode};

use super::{page, Checked, PageResult, Viewer};
use crate::{
    catalog::{words, Query},
    domain::Price,
    domain::{TicketId, Title},
    http::{paging::Params, AppState},
};

/// Tickets on one page of the list.
const PAGE_SIZE: usize = 25;

/// One row of the table.
struct Row {
    id: TicketId,
    title: String,
    price: Price,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    tickets: Vec<Row>,
    q: String,
    next: Option<String>,
    /// Whether the script may add tickets that come up for sale: only
    /// where this page shows the whole list (no search, no next page),
    /// so an added row is where a reload would put it.
    live_add: bool,
}

/// `GET /?after=&q=`.
pub(super) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    params: Checked<Params>,
) -> PageResult {
    let params = params?;
    let after = params.after::<TicketId>()?;
    let q = params.text("q", Title::MAX)?;
    let query = Query {
        after,
        limit: PAGE_SIZE,
        words: q.map(|q| words(q).collect()).unwrap_or_default(),
    };
    let found = state.ops.tickets_for_sale(&query);
    let next = found.next.map(|cursor| {
        let mut pairs = vec![("after", cursor.to_string())];
        if let Some(q) = q {
            pairs.push(("q", q.to_owned()));
        }
        format!(
            "/?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    });
    let body = Home {
        tickets: found
            .tickets
            .iter()
            .map(|t| Row {
                id: t.id,
                title: t.title.clone(),
                price: t.price,
            })
            .collect(),
        q: q.unwrap_or_default().to_owned(),
        live_add: q.is_none() && next.is_none(),
        next,
    };
    Ok(page(StatusCode::OK, &viewer, "Tickets", &body))
}
