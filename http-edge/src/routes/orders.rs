//! `POST /orders`, `GET /orders`, `GET /orders/{id}`, `POST /orders/{id}/cancel`.

use futures_util::future::join_all;
use kukka_actors::{
    order::{
        id::OrderId,
        messages::{ByOrder, OrderMsg, PlaceOrder},
        model::Order,
        new_order::NewOrder,
    },
    runtime::{
        error::{Reply, ServiceError},
        groups::{order_shard, Namespace, ORDER_SHARDS},
        paging::ListQuery,
        rpc::rpc,
        wire::Wire,
    },
};
use ractor::RpcReplyPort;
use serde_json::Value;
use warp::{filters::BoxedFilter, reply::Response, Filter};

use super::with_state;
use crate::{
    body::json_body,
    correlation::correlation_id,
    error::ApiError,
    pagination::{merge_shards, ListBody, ListParams},
    respond,
    state::EdgeState,
};

/// The order routes.
pub fn routes(state: EdgeState) -> BoxedFilter<(Response,)> {
    let limit = state.settings.body_limit;
    let place = warp::path!("orders")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(warp::header::optional::<String>("idempotency-key"))
        .and(json_body(limit))
        .then(place);
    let list = warp::path!("orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .and(warp::query::<ListParams>())
        .then(list);
    let get = warp::path!("orders" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(correlation_id())
        .then(get);
    let cancel = warp::path!("orders" / String / "cancel")
        .and(warp::post())
        .and(with_state(state))
        .and(correlation_id())
        .then(cancel);
    place
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(cancel)
        .unify()
        .boxed()
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid))]
async fn place(
    state: EdgeState,
    cid: String,
    idem: Option<String>,
    body: Result<Value, ApiError>,
) -> Response {
    // The access log has the request's outcome; the order node logs the order.
    match place_inner(&state, &cid, idem, body).await {
        Ok(order) => {
            tracing::debug!(order_id = %order.id, "order placed through the edge");
            respond::created(&order, &format!("/orders/{}", order.id), &cid)
        }
        Err(e) => e.into_response_with(&cid),
    }
}

async fn place_inner(
    state: &EdgeState,
    cid: &str,
    idem: Option<String>,
    body: Result<Value, ApiError>,
) -> Result<Order, ApiError> {
    let order = NewOrder::parse(&body?).map_err(ServiceError::from)?;
    if let Some(k) = &idem {
        if k.is_empty() || k.len() > 200 {
            return Err(ApiError::BadQuery(
                "Idempotency-Key must be 1 to 200 characters".into(),
            ));
        }
    }
    let shard = state
        .ns
        .pick::<OrderMsg>(ORDER_SHARDS)
        .ok_or_else(|| ServiceError::unavailable("no order node is joined"))?;
    let req = PlaceOrder {
        correlation_id: cid.to_string(),
        order,
        idempotency_key: idem,
        traceparent: crate::correlation::current_traceparent(),
    };
    Ok(rpc(
        &shard,
        |port| OrderMsg::Place(Wire::new(req), port),
        state.settings.call_timeout,
    )
    .await?)
}

async fn list(state: EdgeState, cid: String, params: ListParams) -> Response {
    let result = async {
        let limit = params.limit()?;
        let after = params.shard_cursor()?;
        let shards = state.ns.all::<OrderMsg>(ORDER_SHARDS);
        if shards.is_empty() {
            return Err(ServiceError::unavailable("no order node is joined").into());
        }
        let calls = shards.iter().map(|s| {
            let q = ListQuery {
                after: after.clone(),
                limit,
            };
            rpc(
                s,
                move |port| OrderMsg::List(Wire::new(q), port),
                state.settings.call_timeout,
            )
        });
        let mut pages = Vec::new();
        for r in join_all(calls).await {
            pages.push(r?);
        }
        Ok::<ListBody<Order>, ApiError>(merge_shards(pages, after, limit, |o: &Order| {
            (o.created_at.clone(), o.id.to_string())
        }))
    }
    .await;
    respond::result(result, &cid)
}

/// An order id from a path: one that cannot be an order id is an unknown
/// order.
pub fn parse_order_id(id: &str) -> Result<OrderId, ApiError> {
    id.parse()
        .map_err(|_| ServiceError::not_found(format!("order {id}")).into())
}

/// The order shard that owns `order_id`.
pub fn owner_shard(
    ns: &Namespace,
    order_id: OrderId,
) -> Result<ractor::ActorRef<OrderMsg>, ApiError> {
    ns.pick::<OrderMsg>(&order_shard(order_id.shard()))
        .ok_or_else(|| {
            ServiceError::unavailable(format!("the shard of order {order_id} is not reachable"))
                .into()
        })
}

/// An [`OrderMsg`] variant about one order.
type ByOrderMsg = fn(Wire<ByOrder>, RpcReplyPort<Wire<Reply<Order>>>) -> OrderMsg;

/// Sends a request about one order to the shard that owns it.
async fn to_owner(
    state: &EdgeState,
    cid: &str,
    id: String,
    build: ByOrderMsg,
) -> Result<Order, ApiError> {
    let order_id = parse_order_id(&id)?;
    let shard = owner_shard(&state.ns, order_id)?;
    let q = ByOrder {
        correlation_id: cid.to_string(),
        order_id,
        traceparent: crate::correlation::current_traceparent(),
    };
    let timeout = state.settings.call_timeout;
    Ok(rpc(&shard, |port| build(Wire::new(q), port), timeout).await?)
}

async fn get(id: String, state: EdgeState, cid: String) -> Response {
    respond::result(to_owner(&state, &cid, id, OrderMsg::Get).await, &cid)
}

#[tracing::instrument(skip_all, fields(correlation_id = %cid, order_id = %id))]
async fn cancel(id: String, state: EdgeState, cid: String) -> Response {
    respond::result(to_owner(&state, &cid, id, OrderMsg::Cancel).await, &cid)
}
