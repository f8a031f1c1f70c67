//! Operator endpoints, behind `Authorization: Bearer $ADMIN_TOKEN`.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    Json,
};
use serde_json::{json, Value};

use super::{
    error::{ApiError, ApiResult},
    views::EventView,
    AppState,
};

const MAX_PAGE: usize = 1000;

fn authorize(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "The admin API is disabled: start the node with ADMIN_TOKEN set",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /api/admin/events?after=N&limit=M`: the event log after sequence N.
pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    authorize(&state, &headers)?;
    let mut after = 0u64;
    let mut limit = 100usize;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = |field: &str| {
            ApiError::from(crate::error::Error::invalid(
                field,
                format!("{field} must be a non-negative integer"),
            ))
        };
        match name {
            "after" => after = value.parse().map_err(|_| bad("after"))?,
            "limit" => limit = value.parse().map_err(|_| bad("limit"))?,
            _ => {}
        }
    }
    let page = state.ops.events_after(after, limit.clamp(1, MAX_PAGE))?;
    let last = page.events.last().map_or(after, |e| e.seq);
    Ok(Json(json!({
        "events": page.events.iter().map(EventView::from).collect::<Vec<_>>(),
        "next": last,
    })))
}

/// `GET /api/admin/stats`: live entity actors and the event log's head.
pub(super) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authorize(&state, &headers)?;
    let stats = state.ops.stats();
    let placement = state.ops.placement();
    Ok(Json(json!({
        "node": placement.me().name,
        "liveActors": stats.live_actors,
        "lastEventSeq": stats.last_event_seq,
        "catalogTickets": state.ops.catalog().len(),
        "catalogForSale": state.ops.catalog().for_sale(),
        "shards": placement.shards(),
        "ownShards": placement.shards_of(&placement.me().name).len(),
        "peers": state.ops.cluster().map(|c| c.peers()).unwrap_or_default(),
    })))
}

/// `GET /api/admin/placement?ticketId=ID`: the shard and home node of a
/// ticket (and of its orders), for operators and failure tests.
pub(super) async fn placement(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Value>> {
    authorize(&state, &headers)?;
    let raw = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("ticketId="))
        .unwrap_or("");
    let id: crate::domain::TicketId = raw.parse().map_err(|_| {
        ApiError::from(crate::error::Error::invalid(
            "ticketId",
            "ticketId must be a valid id",
        ))
    })?;
    let placement = state.ops.placement();
    let shard = id.shard(placement.shards());
    Ok(Json(json!({
        "ticketId": id,
        "shard": shard,
        "node": placement.home_of_shard(shard).name,
    })))
}
