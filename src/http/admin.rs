//! Operator endpoints, behind `Authorization: Bearer $ADMIN_TOKEN`.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    Json,
};

use super::{
    error::{ApiError, ApiResult, ErrorBody},
    views::{EventPageView, EventView, PlacementView, StatsView},
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
#[utoipa::path(
    get,
    path = "/api/admin/events",
    operation_id = "adminEvents",
    tag = "admin",
    params(
        ("after" = Option<u64>, Query,
            description = "Events after this sequence number (0, the start, when absent)"),
        ("limit" = Option<u64>, Query,
            description = "Page size, taken as 1 to 1000 (100 when absent)"),
    ),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "This node's events after `after`, on disk",
            body = EventPageView),
        (status = 400, description = "`after` or `limit` is not a non-negative integer",
            body = ErrorBody),
        (status = 401, description = "Not the admin token", body = ErrorBody),
        (status = 403, description = "The admin API is disabled (no ADMIN_TOKEN)",
            body = ErrorBody),
        (status = 503, description = "The event log could not be read", body = ErrorBody),
    ),
)]
pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<EventPageView>> {
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
    Ok(Json(EventPageView {
        events: page.events.iter().map(EventView::from).collect(),
        next: last,
    }))
}

/// `GET /api/admin/stats`: live entity actors and the event log's head.
#[utoipa::path(
    get,
    path = "/api/admin/stats",
    operation_id = "adminStats",
    tag = "admin",
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "This node's figures", body = StatsView),
        (status = 401, description = "Not the admin token", body = ErrorBody),
        (status = 403, description = "The admin API is disabled (no ADMIN_TOKEN)",
            body = ErrorBody),
    ),
)]
pub(super) async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<StatsView>> {
    authorize(&state, &headers)?;
    let stats = state.ops.stats();
    let placement = state.ops.placement();
    Ok(Json(StatsView {
        node: placement.me().name.clone(),
        live_actors: stats.live_actors,
        last_event_seq: stats.last_event_seq,
        catalog_tickets: state.ops.catalog().len(),
        catalog_for_sale: state.ops.catalog().for_sale(),
        shards: placement.shards(),
        own_shards: placement.shards_of(&placement.me().name).len(),
        peers: state.ops.cluster().map(|c| c.peers()).unwrap_or_default(),
    }))
}

/// `GET /api/admin/placement?ticketId=ID`: a ticket's shard and home node.
///
/// Its orders live there too. For operators and failure tests.
#[utoipa::path(
    get,
    path = "/api/admin/placement",
    operation_id = "adminPlacement",
    tag = "admin",
    params(("ticketId" = uuid::Uuid, Query, description = "A ticket id")),
    security(("adminToken" = [])),
    responses(
        (status = 200, description = "The ticket's shard and home node", body = PlacementView),
        (status = 400, description = "`ticketId` is missing or not an id", body = ErrorBody),
        (status = 401, description = "Not the admin token", body = ErrorBody),
        (status = 403, description = "The admin API is disabled (no ADMIN_TOKEN)",
            body = ErrorBody),
    ),
)]
pub(super) async fn placement(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<PlacementView>> {
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
    Ok(Json(PlacementView {
        ticket_id: id,
        shard,
        node: placement.home_of_shard(shard).name.clone(),
    }))
}
